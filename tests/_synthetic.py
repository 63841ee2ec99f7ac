"""Tiny synthetic SR datasets on disk (HR PNGs, MATLAB-bicubic LR) for the tests.

The images are random mixtures of oriented stripes, blobs and edges, so they have structure that
repeats across the image (something for context to help with) and a network can learn from a
few iterations. Nothing here is a benchmark.
"""

from __future__ import annotations

import os
import os.path as osp

import cv2
import numpy as np

from clsr_plugin.data.bicubic_lr import downscale_uint8


def synthetic_hr(height: int, width: int, seed: int) -> np.ndarray:
    """An HWC BGR float32 [0, 1] image of ``height`` x ``width`` with repeated structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for _ in range(4):
        theta, freq = rng.uniform(0, np.pi), rng.uniform(0.05, 0.4)
        phase, color = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 1.0, 3)
        wave = np.sin(freq * (np.cos(theta) * xx + np.sin(theta) * yy) + phase)
        img += (0.5 + 0.5 * wave)[..., None] * color
    for _ in range(6):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(2, max(3.0, min(height, width) / 6))
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.float32)
        img += blob[..., None] * rng.uniform(-1.0, 1.0, 3)
    img -= img.min()
    img /= max(float(img.max()), 1e-6)
    return img


def write_synthetic_pairs(
    root: str,
    num_images: int = 4,
    hr_size: tuple[int, int] = (96, 96),
    scale: int = 4,
    seed: int = 0,
    lq_suffix: str = "",
) -> tuple[str, str]:
    """Write ``num_images`` HR PNGs under ``root/HR`` and their x``scale`` LR under ``root/LR``.

    Args:
        root: output folder (created).
        num_images: how many pairs.
        hr_size: (H, W) of each HR image; need not be a multiple of ``scale`` (the LR is made from
            the mod-cropped HR, as benchmark sets are).
        scale: downscale factor.
        seed: first image's seed (image ``i`` uses ``seed + i``).
        lq_suffix: appended to LR file stems (e.g. ``x4`` for ``filename_tmpl: '{}x4'``).

    Returns:
        (HR folder, LR folder).
    """
    hr_dir, lr_dir = osp.join(root, "HR"), osp.join(root, "LR")
    os.makedirs(hr_dir, exist_ok=True)
    os.makedirs(lr_dir, exist_ok=True)
    h, w = hr_size
    for i in range(num_images):
        hr = (synthetic_hr(h, w, seed + i) * 255.0).round().astype(np.uint8)
        lr = downscale_uint8(hr[: h // scale * scale, : w // scale * scale], scale)
        cv2.imwrite(osp.join(hr_dir, f"img_{i:03d}.png"), hr)
        cv2.imwrite(osp.join(lr_dir, f"img_{i:03d}{lq_suffix}.png"), lr)
    return hr_dir, lr_dir
