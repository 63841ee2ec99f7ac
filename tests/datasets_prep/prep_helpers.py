"""Helpers for the datasets_prep tests: small generated images and LMDB readers."""

from __future__ import annotations

import os
import os.path as osp

import cv2
import lmdb
import numpy as np


def structured_image(h: int, w: int, seed: int, gray: bool = False) -> np.ndarray:
    """uint8 image with edges, gradients and noise, so crops and resampling are non-trivial."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 127 + 60 * np.sin(xx / (3 + seed % 5)) * np.cos(yy / 7) + 40 * ((xx + yy) % 17 < 8)
    chans = 1 if gray else 3
    img = base[..., None] + rng.normal(0, 20, (h, w, chans))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[..., 0] if gray else img


def write_images(folder: str, sizes: list[tuple[int, int]], gray: tuple[int, ...] = ()) -> list:
    """Write ``0001.png``, ``0002.png``, ... of the given (h, w); indices in ``gray`` are
    single-channel. Returns the arrays as written."""
    os.makedirs(folder, exist_ok=True)
    imgs = []
    for i, (h, w) in enumerate(sizes):
        img = structured_image(h, w, seed=i, gray=i in gray)
        assert cv2.imwrite(osp.join(folder, f"{i + 1:04d}.png"), img)
        imgs.append(img)
    return imgs


def read_lmdb(path: str) -> dict[str, bytes]:
    """All key/value pairs of an LMDB."""
    env = lmdb.open(path, readonly=True, lock=False, readahead=False)
    with env.begin() as txn:
        items = {k.decode(): bytes(v) for k, v in txn.cursor()}
    env.close()
    return items


def tree(root: str) -> dict[str, bytes]:
    """Relative path -> bytes of every non-hidden file under ``root``, LMDBs as their content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = osp.relpath(dirpath, root)
        if dirpath.endswith(".lmdb"):
            for k, v in read_lmdb(dirpath).items():
                out[osp.join(rel, "@" + k)] = v
            with open(osp.join(dirpath, "meta_info.txt"), "rb") as f:
                out[osp.join(rel, "meta_info.txt")] = f.read()
            dirnames.clear()
            continue
        for n in filenames:
            if not n.startswith("."):
                with open(osp.join(dirpath, n), "rb") as f:
                    out[osp.join(rel, n)] = f.read()
    return out
