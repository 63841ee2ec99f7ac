"""Pack the experiment's inputs into git-ignored folders small enough to travel to the GPU machine.

The device tool sends the repository plus at most 64 MiB of git-ignored ``carry`` paths per call,
so the shared data and weights (about 150 MB as stored) cannot all travel at once. This script,
run once on the development machine (CPU, about 2 minutes), writes under ``--dest`` (default
``datasets/exp_real``, ignored by the repo's ``.gitignore``)::

    train291/               the train291 images that give sub-images (both sides >= --min-side)
    bench/Set5, bench/Set14 the small benchmarks
    urban_1 ... urban_K     Urban100_dev split into K parts (each part is one ``carry`` path)
    weights/<name>.pth      pretrained backbones, ``params_ema`` only (half the stored size)
    manifest.json           sizes, image counts and the lossless check

Images are re-encoded as **lossless** WebP (about 25% smaller than the PNGs; every file is
decoded again and compared with the source pixel for pixel, or the script fails); images that
are not 8-bit 3-channel (Set14's grayscale one) are copied unchanged. ``datasets_prep`` reads
WebP directly, so the preparation on the device gives the same LR images, sub-images and LMDBs
as from the PNGs. Images smaller than ``--min-side`` give no sub-image with the 240 px crop, so
leaving them out changes nothing in the training set.

    python scripts/experiment_real/pack_inputs.py --shared ../shared
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import shutil
import sys

import cv2
import numpy as np
import torch

BACKBONES = {"MSRResNet": "MSRResNet_x4_291set.pth", "EDSR": "EDSR_x4_291set.pth"}


def _images(folder: str) -> list[str]:
    if not osp.isdir(folder):
        raise SystemExit(f"error: folder not found: {folder}")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    if not names:
        raise SystemExit(f"error: no PNG images in {folder}")
    return names


def pack_image(src: str, dst_dir: str) -> str:
    """Write ``src`` into ``dst_dir`` as lossless WebP (checked), or copy it when not 8-bit RGB.

    Returns:
        The written path.
    """
    img = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise SystemExit(f"error: unreadable image: {src}")
    stem = osp.splitext(osp.basename(src))[0]
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        dst = osp.join(dst_dir, osp.basename(src))
        shutil.copyfile(src, dst)
        return dst
    ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100: lossless
    back = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
    if back is None or not np.array_equal(back, img):
        raise SystemExit(f"error: lossless WebP round trip failed for {src}")
    dst = osp.join(dst_dir, f"{stem}.webp")
    with open(dst, "wb") as f:
        f.write(buf.tobytes())
    return dst


def pack_folder(src_dir: str, dst_dir: str, names: list[str]) -> dict:
    """Pack ``names`` of ``src_dir``; a finished folder (same names) is left as it is."""
    marker = osp.join(dst_dir, ".packed.json")
    if osp.isfile(marker):
        with open(marker) as f:
            done = json.load(f)
        if done["names"] == names:
            return done
        raise SystemExit(f"error: {dst_dir} was packed from other images; remove it first")
    os.makedirs(dst_dir, exist_ok=True)
    for name in names:
        pack_image(osp.join(src_dir, name), dst_dir)
    info = {
        "source": osp.abspath(src_dir),
        "names": names,
        "bytes_source": sum(osp.getsize(osp.join(src_dir, n)) for n in names),
        "bytes_packed": folder_bytes(dst_dir),
    }
    with open(marker, "w") as f:
        json.dump(info, f, indent=1)
    return info


def folder_bytes(folder: str) -> int:
    """Total size of the files under ``folder``."""
    return sum(osp.getsize(osp.join(root, f)) for root, _, files in os.walk(folder) for f in files)


def pack_weights(src: str, dst: str) -> None:
    """Keep only ``params_ema`` (what the experiment loads) of a BasicSR checkpoint."""
    if osp.isfile(dst):
        return
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    if "params_ema" not in ckpt:
        raise SystemExit(f"error: {src} has no params_ema")
    tmp = dst + ".tmp"
    torch.save({"params_ema": ckpt["params_ema"]}, tmp)
    os.replace(tmp, dst)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", required=True, help="the shared folder (datasets/, pretrained/)")
    p.add_argument("--dest", default="datasets/exp_real", help="output root (git-ignored)")
    p.add_argument("--min-side", type=int, default=240, help="train images need both sides >= it")
    p.add_argument("--urban-parts", type=int, default=2, help="Urban100_dev split into N parts")
    args = p.parse_args(argv)
    if args.urban_parts < 1:
        raise SystemExit(f"error: --urban-parts must be >= 1, got {args.urban_parts}")
    data = osp.join(args.shared, "datasets")
    manifest: dict = {"folders": {}, "weights": {}}

    train_src = osp.join(data, "train291")
    keep = []
    for name in _images(train_src):
        h, w = cv2.imread(osp.join(train_src, name), cv2.IMREAD_UNCHANGED).shape[:2]
        if min(h, w) >= args.min_side:
            keep.append(name)
    jobs = [("train291", train_src, keep)]
    for name in ("Set5", "Set14"):
        src = osp.join(data, "benchmark", name)
        jobs.append((f"bench/{name}", src, _images(src)))
    urban_src = osp.join(data, "benchmark", "Urban100_dev")
    urban = _images(urban_src)
    for k, part in enumerate(np.array_split(np.array(urban), args.urban_parts), start=1):
        jobs.append((f"urban_{k}/Urban100_dev", urban_src, [str(n) for n in part]))
    for rel, src, names in jobs:
        info = pack_folder(src, osp.join(args.dest, rel), names)
        manifest["folders"][rel] = {
            "images": len(names),
            "mb_source": info["bytes_source"] / 2**20,
            "mb_packed": info["bytes_packed"] / 2**20,
        }
        print(
            f"{rel}: {len(names)} images, {info['bytes_source'] / 2**20:.1f} MiB PNG -> "
            f"{info['bytes_packed'] / 2**20:.1f} MiB packed (lossless, checked)",
            flush=True,
        )
    os.makedirs(osp.join(args.dest, "weights"), exist_ok=True)
    for arch, fname in BACKBONES.items():
        dst = osp.join(args.dest, "weights", fname)
        pack_weights(osp.join(args.shared, "pretrained", fname), dst)
        manifest["weights"][arch] = {"file": fname, "mb": osp.getsize(dst) / 2**20}
        print(f"weights/{fname}: {osp.getsize(dst) / 2**20:.1f} MiB (params_ema only)")
    manifest["train_images_left_out"] = len(_images(train_src)) - len(keep)
    with open(osp.join(args.dest, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"total under {args.dest}: {folder_bytes(args.dest) / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
