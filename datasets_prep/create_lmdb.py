"""Pack an image folder into an LMDB that BasicSR's ``io_backend: lmdb`` reads unchanged.

Uses ``basicsr.utils.lmdb_util.make_lmdb_from_imgs``: keys are the file stems (no extension),
values PNG bytes, and ``meta_info.txt`` holds one ``<key>.png (h,w,c) <compression>`` line per
image. The LMDB is built under a hidden temporary name (``.prep-tmp-<name>.lmdb``) and renamed
into place only when complete, with a hidden ``.datasets_prep_done.json`` inside; so an
interrupted run never leaves an LMDB that looks finished, and a re-run recognises a finished
one and skips it.

Examples::

    python -m datasets_prep.create_lmdb --input datasets/DIV2K/DIV2K_train_HR_sub
    python -m datasets_prep.create_lmdb --gt datasets/DIV2K/DIV2K_train_HR_sub \\
        --lq datasets/DIV2K/DIV2K_train_LR_bicubic/X4_sub --scale 4 \\
        --gt-output datasets/DIV2K/DIV2K_train_HR_sub.lmdb \\
        --lq-output datasets/DIV2K/DIV2K_train_LR_bicubic_X4_sub.lmdb
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import os.path as osp
import shutil
import sys

import cv2
from basicsr.utils.lmdb_util import make_lmdb_from_imgs

from datasets_prep.common import (
    TMP_PREFIX,
    PrepError,
    add_compress_arg,
    check_complete,
    differing_record,
    image_hw,
    image_names,
    tool_main,
    tool_parser,
)
from datasets_prep.pairs import check_pairs

DONE_MARKER = ".datasets_prep_done.json"


def lmdb_keys(folder: str) -> tuple[list[str], list[str]]:
    """(file names, LMDB keys) of a folder; keys are stems usable in BasicSR's meta_info.

    Raises:
        PrepError: a stem is not ASCII, contains '.' or whitespace (BasicSR splits on them),
            or two files share a stem.
    """
    names = image_names(folder, strict=True)
    keys = []
    for n in names:
        key = osp.splitext(n)[0]
        if not key.isascii() or "." in key or any(c.isspace() for c in key) or not key:
            raise PrepError(
                f"file name unusable as a BasicSR LMDB key (needs ASCII, no '.' or spaces in "
                f"the stem): {osp.join(folder, n)}"
            )
        keys.append(key)
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[0]
        raise PrepError(f"two images in {folder} share the LMDB key {dup!r}")
    return names, keys


def default_lmdb_path(folder: str) -> str:
    """``a/b/X4_sub`` -> ``a/b/X4_sub.lmdb``."""
    return osp.normpath(folder) + ".lmdb"


def _signature(folder: str, keys: list[str], compress_level: int) -> dict:
    digest = hashlib.sha1("\n".join(keys).encode()).hexdigest()
    return {
        "source": osp.abspath(folder),
        "count": len(keys),
        "keys_sha1": digest,
        "compress_level": compress_level,
    }


def lmdb_is_complete(lmdb_path: str, signature: dict) -> bool:
    """True if ``lmdb_path`` is a finished LMDB of this package for exactly these images.

    Raises:
        PrepError: the path exists but is not a finished LMDB of this package, or was made
            from other images (it is never overwritten).
    """
    if not osp.exists(lmdb_path):
        return False
    marker = osp.join(lmdb_path, DONE_MARKER)
    if not osp.isfile(marker):
        raise PrepError(f"{lmdb_path} exists but was not made by datasets_prep: not overwriting it")
    old = differing_record(marker, signature)
    if old is not None:
        raise PrepError(
            f"{lmdb_path} was made from other images ({old['count']} from {old['source']}); "
            f"this run has {signature['count']} from {signature['source']}: move it away "
            "or choose another output path"
        )
    return True


def _raise_for_undecodable(folder: str, names: list[str]) -> None:
    """After BasicSR's writer failed: name the first image OpenCV cannot decode, if any."""
    for n in names:
        if cv2.imread(osp.join(folder, n), cv2.IMREAD_UNCHANGED) is None:
            raise PrepError(f"cannot decode image (corrupt or unsupported): {osp.join(folder, n)}")


def create_lmdb(
    folder: str,
    lmdb_path: str | None = None,
    compress_level: int = 1,
    batch: int = 5000,
    read_workers: int = 0,
) -> bool:
    """Build ``lmdb_path`` from every image of ``folder`` with BasicSR's ``make_lmdb_from_imgs``.

    Args:
        folder: folder of images; keys are the file stems.
        lmdb_path: output, must end in ``.lmdb`` (default ``<folder>.lmdb``).
        compress_level: PNG compression level of the stored bytes (BasicSR's default 1).
        batch: images per LMDB transaction.
        read_workers: > 0 reads all images into memory first with this many processes
            (BasicSR's ``multiprocessing_read``: fast, needs RAM for the whole set).

    Returns:
        True if built now, False if a finished LMDB of the same images was already there.
    """
    lmdb_path = lmdb_path or default_lmdb_path(folder)
    if not lmdb_path.endswith(".lmdb"):
        raise PrepError(f"LMDB path must end with .lmdb (BasicSR checks it): {lmdb_path}")
    names, keys = lmdb_keys(folder)
    sig = _signature(folder, keys, compress_level)
    if lmdb_is_complete(lmdb_path, sig):
        print(f"{lmdb_path}: complete ({len(keys)} images), skipped")
        return False
    parent = osp.dirname(osp.abspath(lmdb_path))
    os.makedirs(parent, exist_ok=True)
    tmp = osp.join(parent, TMP_PREFIX + osp.basename(lmdb_path))
    if osp.exists(tmp):  # this package's own leftover of an interrupted run
        shutil.rmtree(tmp)
    # map_size is virtual; size it from the raw pixels (PNG level 1 <= raw + small overhead)
    # rather than from the first image as make_lmdb_from_imgs would.
    for n in names:
        check_complete(osp.join(folder, n))
    raw = sum(h * w * 4 for h, w in (image_hw(osp.join(folder, n)) for n in names))
    map_size = int(raw * 1.3) + 16384 * len(names) + (64 << 20)
    # make_lmdb_from_imgs prints to stdout and refreshes its bar once per image: keep the bar
    # for a terminal, keep logs of non-interactive runs short.
    print(f"{lmdb_path}: writing {len(keys)} images ...", flush=True)
    quiet = contextlib.redirect_stderr(io.StringIO())
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.nullcontext() if sys.stderr.isatty() else quiet,
        ):
            make_lmdb_from_imgs(
                folder,
                tmp,
                names,
                keys,
                batch=batch,
                compress_level=compress_level,
                multiprocessing_read=read_workers > 0,
                n_thread=max(read_workers, 1),
                map_size=map_size,
            )
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_for_undecodable(folder, names)
        raise
    with open(osp.join(tmp, "meta_info.txt")) as f:
        n_lines = sum(1 for _ in f)
    if n_lines != len(keys):
        raise PrepError(f"{tmp}: meta_info.txt has {n_lines} lines for {len(keys)} images")
    with open(osp.join(tmp, DONE_MARKER), "w") as f:
        json.dump(sig, f, indent=1, sort_keys=True)
    os.rename(tmp, lmdb_path)
    print(f"{lmdb_path}: written ({len(keys)} images)")
    return True


def create_lmdb_pair(
    gt_dir: str,
    lq_dir: str,
    scale: int,
    gt_lmdb: str | None = None,
    lq_lmdb: str | None = None,
    **kwargs,
) -> tuple[str, str]:
    """Check that ``gt_dir``/``lq_dir`` are exact scale pairs with equal names, then build both
    LMDBs (keyword arguments as :func:`create_lmdb`). Returns (gt_lmdb, lq_lmdb)."""
    check_pairs(gt_dir, lq_dir, scale, exact=True)
    gt_lmdb = gt_lmdb or default_lmdb_path(gt_dir)
    lq_lmdb = lq_lmdb or default_lmdb_path(lq_dir)
    create_lmdb(gt_dir, gt_lmdb, **kwargs)
    create_lmdb(lq_dir, lq_lmdb, **kwargs)
    return gt_lmdb, lq_lmdb


def add_read_workers_arg(parser: argparse.ArgumentParser, text: str) -> None:
    """Add ``--read-workers`` (default 0), ``read_workers`` of :func:`create_lmdb`."""
    parser.add_argument("--read-workers", type=int, default=0, help=text)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = tool_parser(
        "create_lmdb",
        "Pack image folders into LMDBs for BasicSR (io_backend: lmdb), either one "
        "folder (--input) or a checked GT/LQ pair (--gt --lq --scale).",
    )
    p.add_argument("--input", help="one folder of images")
    p.add_argument("--output", help="LMDB for --input (default <input>.lmdb)")
    p.add_argument("--gt", help="GT (HR) folder of a pair")
    p.add_argument("--lq", help="LQ (LR) folder of a pair, same file names as --gt")
    p.add_argument("--scale", type=int, help="scale of the pair (HR size = scale * LR size)")
    p.add_argument("--gt-output", help="LMDB for --gt (default <gt>.lmdb)")
    p.add_argument("--lq-output", help="LMDB for --lq (default <lq>.lmdb)")
    add_compress_arg(p, 1, "PNG level of stored bytes")
    p.add_argument("--batch", type=int, default=5000, help="images per LMDB commit")
    add_read_workers_arg(p, "read all images into RAM first with N processes (default 0: stream)")
    return p


def _main(args: argparse.Namespace) -> int:
    kw = {
        "compress_level": args.compress_level,
        "batch": args.batch,
        "read_workers": args.read_workers,
    }
    if args.input and not (args.gt or args.lq):
        create_lmdb(args.input, args.output, **kw)
    elif args.gt and args.lq and args.scale and not args.input:
        create_lmdb_pair(args.gt, args.lq, args.scale, args.gt_output, args.lq_output, **kw)
    else:
        raise PrepError("give either --input DIR, or --gt DIR --lq DIR --scale S")
    return 0


#: Entry point of ``python -m datasets_prep.create_lmdb``.
main = tool_main(build_parser, _main)


if __name__ == "__main__":
    raise SystemExit(main())
