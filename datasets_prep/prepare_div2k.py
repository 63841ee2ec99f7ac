"""The whole DIV2K-style training preparation in one command: bicubic LR -> sub-images -> LMDBs.

Output layout under ``--out`` (``P`` = ``--prefix``, default ``DIV2K_train``; ``s`` = scale)::

    P_LR_bicubic/Xs/0001xs.png      bicubic LR of the mod-cropped HR (unless --lr is given)
    P_HR_mod/0001.png               mod-cropped HR (only with --save-hr-mod)
    P_HR_sub/0001_s001.png          HR sub-images (crop, step, thresh)
    P_LR_bicubic/Xs_sub/0001_s001.png   LR sub-images (crop/s, step/s, thresh/s)
    P_HR_sub.lmdb, P_LR_bicubic_Xs_sub.lmdb   BasicSR LMDBs (unless --no-lmdb)

Each stage skips finished work, so re-running resumes an interrupted run.

Example (BasicSR's DIV2K recipe at x4)::

    python -m datasets_prep.prepare_div2k --hr datasets/DIV2K/DIV2K_train_HR \\
        --out datasets/DIV2K --scale 4 --crop 480 --step 240 --thresh 24
"""

from __future__ import annotations

import argparse
import os.path as osp

from datasets_prep.common import (
    PrepError,
    add_compress_arg,
    add_scale_arg,
    add_workers_arg,
    check_scale,
    tool_main,
    tool_parser,
    writer_kwargs,
)
from datasets_prep.create_lmdb import add_read_workers_arg, create_lmdb
from datasets_prep.extract_subimages import (
    CROP,
    STEP,
    THRESH,
    add_crop_args,
    crop_kwargs,
    extract_subimages,
)
from datasets_prep.generate_lr import DEFAULT_LR_TMPL, generate_lr
from datasets_prep.pairs import check_pairs


def prepare_div2k(
    hr_dir: str,
    out_dir: str,
    scale: int = 4,
    crop: int = CROP,
    step: int = STEP,
    thresh: int = THRESH,
    lr_dir: str | None = None,
    lr_tmpl: str = DEFAULT_LR_TMPL,
    prefix: str = "DIV2K_train",
    save_hr_mod: bool = False,
    make_lmdb: bool = True,
    workers: int = 1,
    compress_level: int = 3,
    lmdb_compress_level: int = 1,
    read_workers: int = 0,
) -> dict[str, str | int]:
    """Run LR generation (or check a given LR folder), sub-image extraction and LMDB creation.

    Args:
        hr_dir: folder of HR images.
        out_dir: output root (layout in the module docstring).
        scale: SR scale.
        crop, step, thresh: HR sub-image recipe; each must be a multiple of ``scale``.
        lr_dir: existing LR folder (e.g. the official ``DIV2K_train_LR_bicubic/X4``); None to
            generate one.
        lr_tmpl: LR stem for an HR stem, of the form ``'{}<suffix>'``.
        prefix: prefix of the output folder names.
        save_hr_mod: also write the mod-cropped HR images.
        make_lmdb: build the two LMDBs.
        workers: worker processes for the image stages.
        compress_level: PNG level of written images; lmdb_compress_level: of LMDB values.
        read_workers: see :func:`datasets_prep.create_lmdb.create_lmdb`.

    Returns:
        Paths of the outputs and the number of sub-image pairs (``"pairs"``).
    """
    check_scale(scale)
    for name, val in (("crop", crop), ("step", step), ("thresh", thresh)):
        if val % scale:
            raise PrepError(f"--{name} {val} is not a multiple of the scale {scale}")
    if not lr_tmpl.startswith("{}") or lr_tmpl.count("{}") != 1:
        raise PrepError(f"--lr-tmpl must look like '{{}}<suffix>', got {lr_tmpl!r}")
    suffix = lr_tmpl.format("", scale=scale)
    out = {
        "hr_mod": osp.join(out_dir, f"{prefix}_HR_mod"),
        "lr": lr_dir or osp.join(out_dir, f"{prefix}_LR_bicubic", f"X{scale}"),
        "hr_sub": osp.join(out_dir, f"{prefix}_HR_sub"),
        "lr_sub": osp.join(out_dir, f"{prefix}_LR_bicubic", f"X{scale}_sub"),
        "hr_lmdb": osp.join(out_dir, f"{prefix}_HR_sub.lmdb"),
        "lr_lmdb": osp.join(out_dir, f"{prefix}_LR_bicubic_X{scale}_sub.lmdb"),
    }
    hr_mod = out["hr_mod"] if save_hr_mod else None
    if lr_dir is None:
        print(f"[1/4] bicubic LR x{scale} -> {out['lr']}")
        generate_lr(hr_dir, out["lr"], scale, lr_tmpl, hr_mod, workers, compress_level)
    else:
        print(f"[1/4] checking the given LR folder {lr_dir}")
        check_pairs(hr_dir, lr_dir, scale, lr_tmpl, exact=False)
        if hr_mod:
            generate_lr(hr_dir, None, scale, lr_tmpl, hr_mod, workers, compress_level)
    print(f"[2/4] HR sub-images {crop}px step {step} -> {out['hr_sub']}")
    c = extract_subimages(
        hr_dir, out["hr_sub"], crop, step, thresh, scale, "", workers, compress_level
    )
    print(f"      {c['subimages']} sub-images, {c['too_small']} images smaller than {crop}px")
    print(f"[3/4] LR sub-images {crop // scale}px step {step // scale} -> {out['lr_sub']}")
    extract_subimages(
        out["lr"],
        out["lr_sub"],
        crop // scale,
        step // scale,
        thresh // scale,
        1,
        suffix,
        workers,
        compress_level,
    )
    pairs = check_pairs(out["hr_sub"], out["lr_sub"], scale, exact=True)
    out["pairs"] = len(pairs)
    if make_lmdb:
        print("[4/4] LMDBs")
        kw = {"compress_level": lmdb_compress_level, "read_workers": read_workers}
        create_lmdb(out["hr_sub"], out["hr_lmdb"], **kw)
        create_lmdb(out["lr_sub"], out["lr_lmdb"], **kw)
        gt, lq = out["hr_lmdb"], out["lr_lmdb"]
        backend = "{type: lmdb}"
    else:
        print("[4/4] LMDBs skipped (--no-lmdb)")
        gt, lq = out["hr_sub"], out["lr_sub"]
        backend = "{type: disk}"
    print(
        f"done: {len(pairs)} sub-image pairs. Training options:\n"
        f"  dataroot_gt: {gt}\n  dataroot_lq: {lq}\n  io_backend: {backend}"
    )
    return out


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    # laid out like generate_lr's parser, but its own options and help texts (shared: add_*)
    p = tool_parser(
        "prepare_div2k",
        "DIV2K-style training data: bicubic LR, sub-images and BasicSR LMDBs "
        "from a folder of HR images, resumable.",
    )
    p.add_argument("--hr", required=True, help="folder of HR images (e.g. DIV2K_train_HR)")
    p.add_argument("--out", required=True, help="output root")
    add_scale_arg(p)
    add_crop_args(
        p,
        "HR sub-image size (default {})",
        "HR window stride (default {})",
        "HR border threshold (default {})",
    )
    p.add_argument("--lr", help="use this existing LR folder instead of generating one")
    p.add_argument(
        "--lr-tmpl",
        default=DEFAULT_LR_TMPL,
        help="LR stem for an HR stem (default '{}x{scale}': 0001 -> 0001x4)",
    )
    p.add_argument("--prefix", default="DIV2K_train", help="output name prefix")
    p.add_argument("--save-hr-mod", action="store_true", help="also write mod-cropped HR")
    p.add_argument("--no-lmdb", action="store_true", help="stop after the sub-images")
    add_compress_arg(p, text="PNG level of images")
    p.add_argument("--lmdb-compress-level", type=int, default=1, help="PNG level in LMDBs")
    add_read_workers_arg(p, "LMDB: read all images into RAM first")
    add_workers_arg(p)
    return p


def _main(args: argparse.Namespace) -> int:
    prepare_div2k(
        args.hr,
        args.out,
        scale=args.scale,
        lr_dir=args.lr,
        lr_tmpl=args.lr_tmpl,
        prefix=args.prefix,
        save_hr_mod=args.save_hr_mod,
        make_lmdb=not args.no_lmdb,
        lmdb_compress_level=args.lmdb_compress_level,
        read_workers=args.read_workers,
        **crop_kwargs(args),
        **writer_kwargs(args),
    )
    return 0


#: Entry point of ``python -m datasets_prep.prepare_div2k``.
main = tool_main(build_parser, _main)


if __name__ == "__main__":
    raise SystemExit(main())
