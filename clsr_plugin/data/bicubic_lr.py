"""Bicubic resampling: LR images made from HR on the fly with BasicSR's MATLAB-style bicubic
(HR-only datasets), and the bicubic upscaling baseline (:func:`bicubic_up`).

Matches how DIV2K's ``LR_bicubic`` (and BasicSR's ``generate_multiscale``/``imresize`` scripts)
make LR: ``imresize(hr, 1 / scale)`` on the mod-cropped HR, then saved as 8-bit, so the result
here is rounded to the 1/255 grid too. A patch is downscaled from its HR region plus a margin of
real HR pixels, which makes it equal to the same patch cut from the downscaled whole image (the
bicubic kernel reaches 2 LR pixels; at image borders both see the same symmetric padding).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from basicsr.utils.matlab_functions import imresize

#: LR pixels of HR context around a patch; more than the antialiased kernel's reach (2 px).
MARGIN = 4


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic ``1 / scale`` downscale of an HWC float [0, 1] image, rounded to 8 bits.

    ``hr`` must already be cropped to a multiple of ``scale``.
    """
    lr = imresize(np.ascontiguousarray(hr, dtype=np.float32), 1.0 / scale)
    return (np.clip(lr, 0.0, 1.0) * 255.0).round().astype(np.float32) / 255.0


def downscale_uint8(img: np.ndarray, scale: int) -> np.ndarray:
    """:func:`downscale` of an 8-bit HWC image to an 8-bit LR image.

    The uint8 round trip of BasicSR's ``generate_bicubic_img.py`` (``/255`` in,
    ``clip(round(x * 255))`` out), as DIV2K's ``LR_bicubic`` files are made.

    Raises:
        ValueError: the size is not a multiple of ``scale`` (mod-crop first).
    """
    h, w = img.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"image size {h}x{w} is not a multiple of scale {scale}: mod-crop first")
    lr = downscale(img.astype(np.float32) / 255.0, scale)
    return (lr * 255.0).round().astype(np.uint8)


def lr_patch(
    hr: np.ndarray, top: int, left: int, patch_hw: tuple[int, int], scale: int
) -> np.ndarray:
    """The LR patch at (``top``, ``left``) of size ``patch_hw`` of ``downscale(hr, scale)``.

    Computed from the HR region under the patch plus :data:`MARGIN` LR pixels around it, not the
    whole image.

    Args:
        hr: HWC float [0, 1] HR image, cropped to a multiple of ``scale``.
        top, left: LR coordinates of the patch.
        patch_hw: (h, w) of the patch in LR pixels.
        scale: downscale factor.

    Returns:
        HWC float32 LR patch.
    """
    height, width = hr.shape[0] // scale, hr.shape[1] // scale
    ph, pw = patch_hw
    t0, l0 = max(0, top - MARGIN), max(0, left - MARGIN)
    t1, l1 = min(height, top + ph + MARGIN), min(width, left + pw + MARGIN)
    lr = downscale(hr[t0 * scale : t1 * scale, l0 * scale : l1 * scale], scale)
    return lr[top - t0 : top - t0 + ph, left - l0 : left - l0 + pw]


def bicubic_up(lq: torch.Tensor, scale: int) -> torch.Tensor:
    """The bicubic baseline: (B, C, h, w) -> (B, C, scale*h, scale*w) (PyTorch's bicubic, as
    every comparison sheet shows it)."""
    return F.interpolate(lq, scale_factor=scale, mode="bicubic", align_corners=False)
