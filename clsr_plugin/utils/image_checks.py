"""Start-up checks of an SR dataset: every file there, LR/HR sizes consistent, images big enough.

Run once in a dataset's ``__init__`` so bad data fails at launch with the offending file named,
not hours into training. Sizes come from PNG headers (no decoding) or, for LMDB, from
``meta_info.txt``; other formats are decoded once with OpenCV.
"""

from __future__ import annotations

import os
import os.path as osp
import re
import struct
from collections.abc import Callable

import cv2

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"  # the IEND chunk type and its (fixed) CRC
_JPEG_EOI = b"\xff\xd9"
_TAIL = 1 << 16


class IncompleteImageError(ValueError):
    """An image file is truncated: decoders would fill the missing part (e.g. grey) silently."""


def _jpeg_scan_start(read: Callable[[int, int], bytes], size: int) -> int | None:
    """Offset of the first start-of-scan (SOS) marker of the main JPEG image, walking the
    marker segments from the start (an EXIF thumbnail lives inside APP1 and is skipped);
    ``None`` when the headers run past the end of the data (or are not JPEG markers)."""
    pos = 2
    while pos + 4 <= size:
        seg = read(pos, pos + 4)
        if seg[0] != 0xFF:
            return None
        marker = seg[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:
            return pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        pos += 2 + int.from_bytes(seg[2:4], "big")
    return None


def check_image_complete(source: str | bytes | memoryview, name: str | None = None) -> None:
    """Refuse a truncated PNG, JPEG, BMP or WebP file (other formats pass).

    Structural and cheap, without decoding: a PNG must end with its ``IEND`` chunk (within
    the last 64 KiB); a JPEG must have an end-of-image marker after the start of its main
    image's data (such a marker cannot occur inside entropy-coded data, so data appended after
    a complete image, e.g. a motion photo's video, is fine); a BMP or WebP must be as long as
    its header says. For a file only the header and the tail are read, unless a JPEG's tail
    has no end marker (then its data is scanned).

    Args:
        source: a file path, or the encoded bytes (e.g. from an LMDB).
        name: how to name the image in the error (default: the path).

    Raises:
        IncompleteImageError: the image is truncated (the message names it).
        ValueError: the file does not exist.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        problem = _problem(len(data), lambda start, end: data[start:end])
        label = name or "image"
    else:
        path = os.fspath(source)
        if not osp.isfile(path):
            raise ValueError(f"Image file not found: {path}")
        with open(path, "rb") as f:

            def read(start: int, end: int) -> bytes:
                f.seek(start)
                return f.read(end - start)

            problem = _problem(osp.getsize(path), read)
        label = name or path
    if problem:
        raise IncompleteImageError(f"{label}: incomplete image ({problem})")


def _problem(size: int, read: Callable[[int, int], bytes]) -> str | None:
    """What is missing from an image of ``size`` bytes (``read(start, end)`` gives its bytes),
    or None when it looks complete (or is of another format)."""
    head, problem = read(0, 16), None
    if head[:8] == _PNG_SIGNATURE:
        if _PNG_IEND not in read(max(0, size - _TAIL), size):
            problem = "truncated PNG: no IEND chunk at the end"
    elif head[:2] == b"\xff\xd8":
        sos = _jpeg_scan_start(read, size)
        if sos is None:
            problem = "truncated JPEG: the headers end before the image data"
        else:
            start = max(sos, size - _TAIL)
            if _JPEG_EOI not in read(start, size) and (
                start == sos or _JPEG_EOI not in read(sos, size)
            ):
                problem = "truncated JPEG: no end-of-image marker after the image data"
    elif head[:2] == b"BM" and len(head) >= 6:
        want = int.from_bytes(head[2:6], "little")
        if size < want:
            problem = f"truncated BMP: {size} of {want} bytes"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        want = int.from_bytes(head[4:8], "little") + 8
        if size < want:
            problem = f"truncated WebP: {size} of {want} bytes"
    return problem


def image_hw(path: str) -> tuple[int, int]:
    """(height, width) of an image file from its header, without decoding the pixels.

    PNG headers are read here, other formats by Pillow; OpenCV decodes what Pillow cannot open.

    Raises:
        ValueError: the file is missing or no reader can parse it.
    """
    if not osp.isfile(path):
        raise ValueError(f"Image file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(height), int(width)
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
    except (OSError, SyntaxError, ValueError) as err:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            msg = f"cannot read image header (corrupt or unsupported): {path}"
            raise ValueError(msg) from err
        height, width = img.shape[:2]
    return int(height), int(width)


_META_LINE = re.compile(r"^(\S+)\s+\((\d+),\s*(\d+)(?:,\s*\d+)?\)")


def lmdb_meta_shapes(lmdb_path: str) -> dict[str, tuple[int, int]]:
    """``key -> (h, w)`` from an LMDB folder's ``meta_info.txt`` (BasicSR's layout).

    Raises:
        ValueError: no ``meta_info.txt``, or a line without a shape.
    """
    meta = osp.join(lmdb_path, "meta_info.txt")
    if not osp.isfile(meta):
        raise ValueError(f"LMDB {lmdb_path} has no meta_info.txt (expected {meta}).")
    shapes = {}
    with open(meta) as f:
        for num, line in enumerate(f, 1):
            if not line.strip():
                continue
            m = _META_LINE.match(line.strip())
            if m is None:
                raise ValueError(f"{meta}:{num}: cannot parse {line.strip()!r}.")
            shapes[m.group(1).split(".")[0]] = (int(m.group(2)), int(m.group(3)))
    return shapes


def check_lmdb_keys(lmdb_path: str, keys: list[str]) -> None:
    """Every key of ``meta_info.txt`` must be stored in the LMDB's ``data.mdb``.

    Raises:
        ValueError: naming the LMDB and the first missing keys.
    """
    import lmdb

    if not osp.isfile(osp.join(lmdb_path, "data.mdb")):
        raise ValueError(f"LMDB {lmdb_path} has no data.mdb.")
    env = lmdb.open(lmdb_path, readonly=True, lock=False, readahead=False)
    try:
        with env.begin(write=False) as txn:
            stored = {k.decode("ascii") for k in txn.cursor().iternext(keys=True, values=False)}
    finally:
        env.close()
    missing = [k for k in keys if k not in stored]
    if missing:
        raise ValueError(
            f"LMDB {lmdb_path}: {len(missing)} key(s) listed in meta_info.txt are not stored in "
            f"data.mdb, e.g. {missing[:5]}."
        )


def check_pair(
    lq_hw: tuple[int, int],
    gt_hw: tuple[int, int],
    scale: int,
    lq_name: str,
    gt_name: str,
) -> None:
    """HR must be ``scale`` x LR, up to the ``scale - 1`` pixels a mod-crop would remove.

    Raises:
        ValueError: naming both files and their sizes.
    """
    for lq, gt in zip(lq_hw, gt_hw):
        if not lq * scale <= gt < (lq + 1) * scale:
            raise ValueError(
                f"LR/HR size mismatch: HR {gt_name} is {gt_hw[0]}x{gt_hw[1]} but LR {lq_name} is "
                f"{lq_hw[0]}x{lq_hw[1]}; HR must be {scale}x the LR size (x{scale})."
            )


def check_min_size(hw: tuple[int, int], min_hw: tuple[int, int], name: str, what: str) -> None:
    """``hw`` must be at least ``min_hw`` in both directions.

    Raises:
        ValueError: naming the file, its size and what needed the minimum.
    """
    if hw[0] < min_hw[0] or hw[1] < min_hw[1]:
        raise ValueError(
            f"Image {name} ({hw[0]}x{hw[1]} LR pixels) is smaller than {what} "
            f"({min_hw[0]}x{min_hw[1]}); remove it or lower the size."
        )


def check_folder_pairs(lq_folder: str, gt_folder: str, filename_tmpl: str) -> None:
    """Every HR file must have its LR partner ``filename_tmpl.format(stem) + ext`` and vice versa.

    BasicSR's ``paired_paths_from_folder`` pairs files the same way; this names the culprits.

    Raises:
        ValueError: naming the first unpaired files.
    """
    from basicsr.utils import scandir

    gt_files = sorted(scandir(gt_folder))
    lq_files = set(scandir(lq_folder))
    wanted = {}
    for name in gt_files:
        stem, ext = osp.splitext(osp.basename(name))
        wanted[f"{filename_tmpl.format(stem)}{ext}"] = name
    missing = [osp.join(lq_folder, n) for n in wanted if n not in lq_files]
    if missing:
        raise ValueError(
            f"{len(missing)} HR image(s) in {gt_folder} have no LR partner "
            f"(filename_tmpl={filename_tmpl!r}), e.g. missing {missing[:5]}."
        )
    extra = sorted(osp.join(lq_folder, n) for n in lq_files if n not in wanted)
    if extra:
        raise ValueError(
            f"{len(extra)} LR image(s) in {lq_folder} have no HR partner in {gt_folder} "
            f"(filename_tmpl={filename_tmpl!r}), e.g. {extra[:5]}."
        )


def check_folder(path: str, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` when ``path`` is not an existing folder."""
    if not path or not osp.isdir(os.fspath(path)):
        raise ValueError(f"{what} folder not found: {path!r}")
