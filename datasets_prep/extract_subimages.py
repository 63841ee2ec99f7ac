"""Crop images into overlapping sub-images: BasicSR's DIV2K recipe
(``scripts/data_preparation/extract_subimages.py``), resumable and parallel.

Sliding windows of ``crop`` px with stride ``step``; one more window flush with the right
(bottom) border is added when the uncovered border is wider than ``thresh``. Sub-images are
named ``<stem>_s001.png``, ``<stem>_s002.png``, ... in row-major order. For the LR folder of a
pair, divide crop, step and thresh by the scale and strip the ``x4`` of ``0001x4.png``
(``--strip-suffix x4``) so that HR and LR sub-images share names.

Example (HR of DIV2K; LR X4 with ``--crop 120 --step 60 --thresh 6 --strip-suffix x4``)::

    python -m datasets_prep.extract_subimages --input datasets/DIV2K/DIV2K_train_HR \\
        --output datasets/DIV2K/DIV2K_train_HR_sub --crop 480 --step 240 --thresh 24
"""

from __future__ import annotations

import argparse
import os.path as osp
from functools import partial

import numpy as np
from basicsr.data.transforms import mod_crop

from datasets_prep.common import (
    PrepError,
    add_writer_args,
    image_hw,
    image_names,
    load_bgr,
    prepare_output_dir,
    report_notes,
    run_parallel,
    tool_main,
    tool_parser,
    write_image_atomic,
    writer_kwargs,
)

#: BasicSR's DIV2K recipe (HR px): window size, stride and border-flush threshold.
CROP, STEP, THRESH = 480, 240, 24


def crop_starts(length: int, crop: int, step: int, thresh: int) -> list[int]:
    """Start offsets of the windows along one axis (BasicSR's rule; [] if length < crop)."""
    if length < crop:
        return []
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh:
        starts.append(length - crop)
    return starts


def subimage_name(stem: str, index: int) -> str:
    """``0001`` and 1 -> ``0001_s001.png`` (index is 1-based)."""
    return f"{stem}_s{index:03d}.png"


def _boxes(h: int, w: int, crop: int, step: int, thresh: int) -> list[tuple[int, int]]:
    return [
        (y, x)
        for y in crop_starts(h, crop, step, thresh)
        for x in crop_starts(w, crop, step, thresh)
    ]


def _sub_job(
    job: tuple[str, str],
    out_dir: str,
    crop: int,
    step: int,
    thresh: int,
    mod_scale: int,
    compress_level: int,
) -> tuple[int, bool, str | None]:
    """One image -> its sub-images; returns (count, written now, note)."""
    path, stem = job
    h, w = image_hw(path)
    h, w = h - h % mod_scale, w - w % mod_scale
    boxes = _boxes(h, w, crop, step, thresh)
    outs = [osp.join(out_dir, subimage_name(stem, i + 1)) for i in range(len(boxes))]
    missing = [i for i, p in enumerate(outs) if not osp.exists(p)]
    if not missing:
        return len(boxes), False, None
    img, note = load_bgr(path)
    img = mod_crop(img, mod_scale)
    if img.shape[:2] != (h, w):
        raise PrepError(f"decoded size {img.shape[:2]} differs from the header's: {path}")
    for i in missing:
        y, x = boxes[i]
        sub = np.ascontiguousarray(img[y : y + crop, x : x + crop])
        write_image_atomic(outs[i], sub, compress_level)
    return len(boxes), True, note


def extract_subimages(
    in_dir: str,
    out_dir: str,
    crop: int = CROP,
    step: int = STEP,
    thresh: int = THRESH,
    mod_scale: int = 1,
    strip_suffix: str = "",
    workers: int = 1,
    compress_level: int = 3,
) -> dict[str, int]:
    """Crop every image of ``in_dir`` into sub-images in ``out_dir``.

    Args:
        in_dir: folder of images.
        out_dir: output folder (created; a re-run resumes, finished images are skipped).
        crop: sub-image size in px.
        step: stride of the sliding window.
        thresh: add a border-flush window when more than this many px stay uncovered.
        mod_scale: mod-crop each image to a multiple of this first (HR of an x4 pair: 4).
        strip_suffix: removed from the end of every stem (``x4`` for DIV2K LR names).
        workers: worker processes (1: no pool).
        compress_level: PNG compression level (BasicSR's recipe: 3).

    Returns:
        ``{"images", "subimages", "written", "skipped", "too_small"}`` counts (written and
        skipped count images; too_small counts images smaller than ``crop``).
    """
    for name, val, low in (("crop", crop, 1), ("step", step, 1), ("thresh", thresh, 0)):
        if val < low:
            raise PrepError(f"{name} must be >= {low}, got {val}")
    if mod_scale < 1:
        raise PrepError(f"mod_scale must be >= 1, got {mod_scale}")
    names = image_names(in_dir, strict=True)
    jobs = []
    for n in names:
        stem = osp.splitext(n)[0]
        if strip_suffix:
            if not stem.endswith(strip_suffix) or stem == strip_suffix:
                raise PrepError(
                    f"file name does not end with {strip_suffix!r}: {osp.join(in_dir, n)}"
                )
            stem = stem[: -len(strip_suffix)]
        jobs.append((osp.join(in_dir, n), stem))
    stems = [s for _, s in jobs]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})[0]
        raise PrepError(f"two images in {in_dir} have the same stem {dup!r}")
    params = {
        "stage": "subimages",
        "source": osp.abspath(in_dir),
        "crop": crop,
        "step": step,
        "thresh": thresh,
        "mod_scale": mod_scale,
        "strip_suffix": strip_suffix,
    }
    prepare_output_dir(out_dir, params)
    func = partial(
        _sub_job,
        out_dir=out_dir,
        crop=crop,
        step=step,
        thresh=thresh,
        mod_scale=mod_scale,
        compress_level=compress_level,
    )
    results = run_parallel(func, jobs, workers, desc=f"sub-images {crop}px")
    report_notes(note for _, _, note in results)
    written = sum(1 for _, done, _ in results if done)
    return {
        "images": len(results),
        "subimages": sum(n for n, _, _ in results),
        "written": written,
        "skipped": len(results) - written,
        "too_small": sum(1 for n, _, _ in results if n == 0),
    }


def add_crop_args(
    parser: argparse.ArgumentParser, crop_help: str, step_help: str, thresh_help: str
) -> None:
    """Add ``--crop``, ``--step`` and ``--thresh``, defaults :data:`CROP`, :data:`STEP` and
    :data:`THRESH`; each help text has a ``{}`` for its default."""
    for flag, default, text in (
        ("--crop", CROP, crop_help),
        ("--step", STEP, step_help),
        ("--thresh", THRESH, thresh_help),
    ):
        parser.add_argument(flag, type=int, default=default, help=text.format(default))


def crop_kwargs(args: argparse.Namespace) -> dict[str, int]:
    """``crop``, ``step`` and ``thresh`` as parsed (the options of :func:`add_crop_args`)."""
    return {"crop": args.crop, "step": args.step, "thresh": args.thresh}


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = tool_parser(
        "extract_subimages",
        "Crop images into overlapping sub-images (BasicSR's DIV2K recipe), named <stem>_s001.png.",
    )
    p.add_argument("--input", required=True, help="folder of images")
    p.add_argument("--output", required=True, help="output folder of sub-images")
    add_crop_args(
        p,
        "sub-image size (default {}, HR)",
        "window stride (default {})",
        "border-flush window threshold (default {})",
    )
    p.add_argument("--mod-scale", type=int, default=1, help="mod-crop images first (default 1)")
    p.add_argument("--strip-suffix", default="", help="strip from stems, e.g. x4 for DIV2K LR")
    add_writer_args(p)
    return p


def _main(args: argparse.Namespace) -> int:
    # as generate_lr's _main: each tool maps its own options (shared: crop_kwargs, writer_kwargs)
    c = extract_subimages(
        args.input,
        args.output,
        mod_scale=args.mod_scale,
        strip_suffix=args.strip_suffix,
        **crop_kwargs(args),
        **writer_kwargs(args),
    )
    print(
        f"{c['subimages']} sub-images from {c['images']} images "
        f"({c['written']} images written now, {c['skipped']} already done, "
        f"{c['too_small']} smaller than {args.crop}px gave none) in {args.output}"
    )
    return 0


#: Entry point of ``python -m datasets_prep.extract_subimages``.
main = tool_main(build_parser, _main)


if __name__ == "__main__":
    raise SystemExit(main())
