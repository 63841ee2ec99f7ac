"""Make DIV2K-style bicubic LR images: mod-crop HR to a multiple of the scale, then BasicSR's
MATLAB-style bicubic ``imresize``, with the uint8 round-trip of BasicSR's
``scripts/data_preparation/generate_bicubic_img.py`` (``/255`` in, ``clip(round(x*255))`` out).

Example (DIV2K names, ``0001.png`` -> ``0001x4.png``)::

    python -m datasets_prep.generate_lr --hr datasets/DIV2K/DIV2K_train_HR \\
        --lr-out datasets/DIV2K/DIV2K_train_LR_bicubic/X4 --scale 4
"""

from __future__ import annotations

import argparse
import os.path as osp
from functools import partial

from basicsr.data.transforms import mod_crop

from clsr_plugin.data.bicubic_lr import downscale_uint8
from datasets_prep.common import (
    PrepError,
    add_scale_arg,
    add_writer_args,
    check_scale,
    image_names,
    load_bgr,
    prep_errors,
    prepare_output_dir,
    report_notes,
    run_parallel,
    tool_main,
    tool_parser,
    write_image_atomic,
    writer_kwargs,
)

DEFAULT_LR_TMPL = "{}x{scale}"


#: MATLAB-style bicubic downsampling of an 8-bit image
#: (:func:`clsr_plugin.data.bicubic_lr.downscale_uint8`).
bicubic_downsample = prep_errors(downscale_uint8)


def lr_name(hr_name: str, lr_tmpl: str, scale: int) -> str:
    """LR file name for an HR file name: ``lr_tmpl`` applied to the stem, always ``.png``."""
    stem = osp.splitext(hr_name)[0]
    return lr_tmpl.format(stem, scale=scale) + ".png"


def _check_tmpl(lr_tmpl: str) -> None:
    if lr_tmpl.count("{}") != 1:
        raise PrepError(f"--lr-tmpl must contain '{{}}' exactly once, got {lr_tmpl!r}")
    try:
        lr_tmpl.format("x", scale=1)
    except (KeyError, IndexError, ValueError) as err:
        raise PrepError(f"bad --lr-tmpl {lr_tmpl!r}: {err}") from err


def _lr_job(job: tuple[str, str | None, str | None], scale: int, compress_level: int) -> tuple:
    """One HR image -> its LR (and mod-cropped HR) files; files already there are skipped."""
    hr_path, lr_path, mod_path = job
    todo = [p for p in (lr_path, mod_path) if p is not None and not osp.exists(p)]
    if not todo:
        return False, None
    img, note = load_bgr(hr_path)
    img = mod_crop(img, scale)
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise PrepError(f"image smaller than the scale {scale}: {hr_path}")
    if mod_path in todo:
        write_image_atomic(mod_path, img, compress_level)
    if lr_path in todo:
        write_image_atomic(lr_path, bicubic_downsample(img, scale), compress_level)
    return True, note


def generate_lr(
    hr_dir: str,
    lr_dir: str | None,
    scale: int,
    lr_tmpl: str = DEFAULT_LR_TMPL,
    hr_mod_dir: str | None = None,
    workers: int = 1,
    compress_level: int = 3,
) -> dict[str, int]:
    """Write mod-cropped bicubic LR images (and, if asked, the mod-cropped HR images).

    Args:
        hr_dir: folder of HR images (grayscale ones become 3-channel, reported).
        lr_dir: output folder for LR images named ``lr_tmpl.format(stem, scale=scale)+'.png'``;
            None to write only the mod-cropped HR.
        scale: 2, 3, 4 or 8.
        lr_tmpl: LR name template; the default gives DIV2K's ``0001x4.png``.
        hr_mod_dir: output folder for mod-cropped HR (``<stem>.png``), or None.
        workers: worker processes (1: no pool).
        compress_level: PNG compression level.

    Returns:
        ``{"written": n, "skipped": m}``: images processed now, images already complete.
    """
    check_scale(scale)
    _check_tmpl(lr_tmpl)
    if lr_dir is None and hr_mod_dir is None:
        raise PrepError("nothing to write: give an LR output folder and/or an HR mod-crop folder")
    names = image_names(hr_dir, "HR", strict=True)
    lr_names = [lr_name(n, lr_tmpl, scale) for n in names]
    mod_names = [osp.splitext(n)[0] + ".png" for n in names]
    for out in (lr_names, mod_names):
        if len(set(out)) != len(out):
            dup = sorted({n for n in out if out.count(n) > 1})[0]
            raise PrepError(f"two HR images in {hr_dir} map to the same output name {dup}")
    src = osp.abspath(hr_dir)
    if lr_dir is not None:
        prepare_output_dir(
            lr_dir, {"stage": "bicubic_lr", "source": src, "scale": scale, "lr_tmpl": lr_tmpl}
        )
    if hr_mod_dir is not None:
        prepare_output_dir(hr_mod_dir, {"stage": "hr_modcrop", "source": src, "scale": scale})
    jobs = [
        (
            osp.join(hr_dir, n),
            None if lr_dir is None else osp.join(lr_dir, ln),
            None if hr_mod_dir is None else osp.join(hr_mod_dir, mn),
        )
        for n, ln, mn in zip(names, lr_names, mod_names)
    ]
    func = partial(_lr_job, scale=scale, compress_level=compress_level)
    results = run_parallel(func, jobs, workers, desc=f"LR x{scale}")
    report_notes(note for _, note in results)
    written = sum(1 for done, _ in results if done)
    return {"written": written, "skipped": len(results) - written}


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = tool_parser(
        "generate_lr",
        "Mod-crop HR images and make MATLAB-style bicubic LR images "
        "(BasicSR's imresize), e.g. DIV2K_train_HR -> DIV2K_train_LR_bicubic/X4/0001x4.png.",
    )
    p.add_argument("--hr", required=True, help="folder of HR images")
    p.add_argument("--lr-out", help="output folder for LR images")
    add_scale_arg(p)
    p.add_argument(
        "--lr-tmpl",
        default=DEFAULT_LR_TMPL,
        help="LR name template for the HR stem (default '{}x{scale}': 0001.png -> 0001x4.png; "
        "'{}' keeps the HR name)",
    )
    p.add_argument("--hr-mod-out", help="also write the mod-cropped HR images to this folder")
    add_writer_args(p)
    return p


def _main(args: argparse.Namespace) -> int:
    counts = generate_lr(
        args.hr,
        args.lr_out,
        args.scale,
        lr_tmpl=args.lr_tmpl,
        hr_mod_dir=args.hr_mod_out,
        **writer_kwargs(args),
    )
    print(f"LR x{args.scale}: {counts['written']} written, {counts['skipped']} already done")
    return 0


#: Entry point of ``python -m datasets_prep.generate_lr``.
main = tool_main(build_parser, _main)


if __name__ == "__main__":
    raise SystemExit(main())
