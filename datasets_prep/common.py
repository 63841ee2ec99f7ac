"""Shared plumbing of the preparation tools: listing, reading and atomically writing images,
output-folder bookkeeping, parallel map with a progress bar, and the CLI error convention."""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from collections.abc import Callable, Iterable, Sequence
from multiprocessing import Pool
from typing import Any

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from clsr_plugin.data.image_checks import check_image_complete
from clsr_plugin.utils.atomic import atomic_path

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")
MARKER = ".datasets_prep.json"
TMP_PREFIX = ".prep-tmp-"


class PrepError(ValueError):
    """Bad input for a preparation step; the message names the offending file or value."""


def list_images(folder: str, what: str = "input") -> list[str]:
    """Sorted image file names in ``folder`` (not recursive).

    Hidden files (``.name``, e.g. this package's markers) and sub-folders are ignored, as
    BasicSR's ``scandir`` ignores them.

    Raises:
        PrepError: the folder is missing or empty, or holds a file that is not an image.
    """
    if not osp.isdir(folder):
        raise PrepError(f"{what} folder not found: {folder}")
    names = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if not entry.name.lower().endswith(IMG_EXTENSIONS):
            raise PrepError(
                f"not an image file: {entry.path} (expected one of {', '.join(IMG_EXTENSIONS)})"
            )
        names.append(entry.name)
    if not names:
        raise PrepError(f"{what} folder has no images: {folder}")
    return names


def load_bgr(path: str) -> tuple[np.ndarray, str | None]:
    """Read an 8-bit image as a BGR ``uint8`` array of shape (h, w, 3).

    Grayscale images are replicated to three channels and an alpha channel is dropped, as
    ``cv2.imread(path)`` (BasicSR's reader) does; the second return value says so (or is None).

    Raises:
        PrepError: the file cannot be decoded, or is not 8-bit.
    """
    check_complete(path)
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise PrepError(f"cannot read image (corrupt or unsupported): {path}")
    if img.dtype != np.uint8:
        raise PrepError(f"only 8-bit images are supported, got {img.dtype}: {path}")
    note = None
    if img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        note = f"{osp.basename(path)} is grayscale: written as 3-channel (gray replicated)"
    elif img.shape[2] == 4:
        img = np.ascontiguousarray(img[:, :, :3])
        note = f"{osp.basename(path)} has an alpha channel: dropped"
    return img, note


def check_complete(path: str) -> None:
    """:func:`clsr_plugin.data.image_checks.check_image_complete` as a :class:`PrepError`."""
    try:
        check_image_complete(path)
    except ValueError as err:
        raise PrepError(str(err)) from None


def image_hw(path: str) -> tuple[int, int]:
    """(height, width) of an image from its header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, SyntaxError) as err:
        raise PrepError(f"cannot read image header (corrupt or unsupported): {path}") from err
    return h, w


def write_image_atomic(path: str, img: np.ndarray, compress_level: int = 3) -> None:
    """Encode ``img`` (format from the extension of ``path``) and move it into place atomically,
    so an interrupted run never leaves a truncated file under the final name."""
    ext = osp.splitext(path)[1]
    params = [cv2.IMWRITE_PNG_COMPRESSION, compress_level] if ext.lower() == ".png" else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise PrepError(f"cannot encode image as {ext}: {path}")
    tmp = osp.join(osp.dirname(path), f"{TMP_PREFIX}{os.getpid()}-{osp.basename(path)}")
    with atomic_path(path, tmp) as tmp_path, open(tmp_path, "wb") as f:
        f.write(buf.tobytes())


def prepare_output_dir(folder: str, params: dict[str, Any]) -> None:
    """Create ``folder`` for a step, or check that an existing one belongs to the same step.

    A hidden marker file records the step's parameters. Re-running with the same parameters
    resumes (finished files are kept); different parameters, or a non-empty folder without a
    marker (not made by this package), are refused rather than mixed or overwritten.
    Leftover temporary files of an interrupted run (this package's own) are removed.
    """
    marker = osp.join(folder, MARKER)
    if osp.isdir(folder):
        if osp.isfile(marker):
            with open(marker) as f:
                old = json.load(f)
            if old != params:
                raise PrepError(
                    f"output folder {folder} was made with different settings {old}, "
                    f"this run asks {params}: choose another output folder"
                )
            for name in os.listdir(folder):
                if name.startswith(TMP_PREFIX):
                    os.remove(osp.join(folder, name))
            return
        if any(not n.startswith(".") for n in os.listdir(folder)):
            raise PrepError(
                f"output folder {folder} is not empty and was not made by datasets_prep: "
                "refusing to write into it"
            )
    os.makedirs(folder, exist_ok=True)
    with open(marker, "w") as f:
        json.dump(params, f, indent=1, sort_keys=True)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def run_parallel(
    func: Callable[[Any], Any], items: Sequence[Any], workers: int, desc: str
) -> list[Any]:
    """``[func(x) for x in items]`` over a process pool with a tqdm bar (order not kept).

    ``workers <= 1`` runs in this process. The first exception stops the run; what was
    already written stays (each file is written atomically), so a re-run resumes.
    """
    results = []
    with tqdm(total=len(items), unit="img", desc=desc, file=sys.stderr) as bar:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                results.append(func(item))
                bar.update(1)
        else:
            with Pool(min(workers, len(items)), initializer=_init_worker) as pool:
                for res in pool.imap_unordered(func, items):
                    results.append(res)
                    bar.update(1)
    return results


def report_notes(notes: Iterable[str | None]) -> None:
    """Print the per-image notes (grayscale or alpha conversions) that workers returned."""
    for note in sorted(n for n in notes if n):
        print(f"note: {note}")


def default_workers() -> int:
    """Half the CPU cores (at least 1): image steps are CPU-bound and the machine is shared."""
    return max(1, (os.cpu_count() or 2) // 2)


def add_workers_arg(parser: argparse.ArgumentParser) -> None:
    """Add the shared ``--workers`` option."""
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="worker processes (default: half the CPU cores; 1 = no pool)",
    )


def run_cli(body: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a tool's body; a :class:`PrepError` becomes one ``error:`` line and exit code 2."""
    try:
        return body(args)
    except PrepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def check_scale(scale: int) -> int:
    """Validate an SR scale factor."""
    if scale not in (2, 3, 4, 8):
        raise PrepError(f"scale must be 2, 3, 4 or 8, got {scale}")
    return scale
