"""PSNR, the one home of its formula (ROI metrics, clsr-infer's JSON, comparison sheets)."""

from __future__ import annotations

import math

import numpy as np

#: dB given to identical images (and the cap of every per-ROI / per-image PSNR)
PSNR_CAP = 100.0


def psnr_from_mse(mse: float, cap: float = PSNR_CAP, peak: float = 255.0) -> float:
    """PSNR (dB) of an MSE on a ``[0, peak]`` scale, at most ``cap`` (``cap`` when it is 0)."""
    return cap if mse <= 0 else min(cap, 10.0 * math.log10(peak * peak / mse))


def psnr(img: np.ndarray, ref: np.ndarray, cap: float = PSNR_CAP, peak: float = 255.0) -> float:
    """:func:`psnr_from_mse` of two integer-valued images of one shape."""
    mse = float(np.mean((img.astype(np.float64) - ref.astype(np.float64)) ** 2))
    return psnr_from_mse(mse, cap, peak)
