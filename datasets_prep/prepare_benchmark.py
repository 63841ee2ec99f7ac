"""Lay out SR benchmark sets (HR images only, e.g. Set5) as the test options expect::

    <out>/<name>/HR/<stem>.png               HR mod-cropped to a multiple of the scale, 3-channel
    <out>/<name>/LR_bicubic/X4/<stem>.png    MATLAB-style bicubic LR (name via --lr-tmpl)

Example::

    python -m datasets_prep.prepare_benchmark --src path/to/Set5 path/to/Set14 \\
        --out datasets --scale 4
"""

from __future__ import annotations

import argparse
import os.path as osp

from datasets_prep.common import add_scale_arg, add_workers_arg, tool_main, tool_parser
from datasets_prep.generate_lr import generate_lr


def benchmark_dirs(out_root: str, name: str, scale: int) -> tuple[str, str]:
    """(HR folder, LR folder) of benchmark ``name`` under ``out_root``."""
    root = osp.join(out_root, name)
    return osp.join(root, "HR"), osp.join(root, "LR_bicubic", f"X{scale}")


def prepare_benchmark(
    src_dir: str,
    out_root: str,
    scale: int = 4,
    name: str | None = None,
    lr_tmpl: str = "{}",
    workers: int = 1,
) -> tuple[str, str]:
    """Write the mod-cropped HR and bicubic LR of one benchmark folder.

    Args:
        src_dir: folder of HR images (any of the usual formats; outputs are PNG).
        out_root: root of the layout.
        scale: SR scale.
        name: benchmark name (default: the source folder's name).
        lr_tmpl: LR stem template (``'{}'`` keeps the HR stem, ``'{}x{scale}'`` gives
            ``baby_x4``-style DIV2K names).
        workers: worker processes.

    Returns:
        (HR folder, LR folder).
    """
    name = name or osp.basename(osp.normpath(src_dir))
    hr_dir, lr_dir = benchmark_dirs(out_root, name, scale)
    counts = generate_lr(
        src_dir, lr_dir, scale, lr_tmpl=lr_tmpl, hr_mod_dir=hr_dir, workers=workers
    )
    print(f"{name}: {counts['written']} images written, {counts['skipped']} already done")
    return hr_dir, lr_dir


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = tool_parser(
        "prepare_benchmark",
        "Make <out>/<name>/HR (mod-cropped) and <out>/<name>/LR_bicubic/X<s> "
        "(MATLAB bicubic) from folders of HR benchmark images.",
    )
    p.add_argument("--src", nargs="+", required=True, help="benchmark folders of HR images")
    p.add_argument("--out", required=True, help="output root")
    add_scale_arg(p)
    p.add_argument("--lr-tmpl", default="{}", help="LR name template (default '{}': HR names)")
    add_workers_arg(p)
    return p


def _main(args: argparse.Namespace) -> int:
    tmpl = args.lr_tmpl.format("{}", scale=args.scale)
    for src in args.src:
        hr_dir, lr_dir = prepare_benchmark(
            src, args.out, args.scale, lr_tmpl=args.lr_tmpl, workers=args.workers
        )
        print(f"  dataroot_gt: {hr_dir}\n  dataroot_lq: {lr_dir}\n  filename_tmpl: '{tmpl}'")
    return 0


#: Entry point of ``python -m datasets_prep.prepare_benchmark``.
main = tool_main(build_parser, _main)


if __name__ == "__main__":
    raise SystemExit(main())
