"""ROI metrics for LocalSR evaluation, in both averaging protocols of the benchmark.

Images are compared as 8-bit RGB (rounded, as the paper and BasicSR do), without border crop
(the paper's choice for ROIs), with BasicSR's ``calculate_psnr`` / ``calculate_ssim``.

* Protocol (a): mean over ROIs of per-ROI PSNR/SSIM. A flat ROI can be reconstructed exactly
  (infinite PSNR); per-ROI PSNR is capped at :data:`PSNR_CAP` dB (as
  ``tools/roi_crop_baselines.py`` does) and the number of capped ROIs is reported.
* Protocol (b): per image, PSNR of the MSE pooled over all its ROI pixels, then mean over
  images; always finite and comparable to whole-image PSNR without border crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

from clsr_plugin.utils.image_io import from_float01

#: Per-ROI PSNR cap in dB (protocol (a)).
PSNR_CAP = 100.0


def roi_metrics(sr: Sequence[np.ndarray], gt: Sequence[np.ndarray], ssim: bool = True) -> dict:
    """Metrics of the ROIs of one image.

    Args:
        sr: restored ROIs, (h, w, 3) float RGB in [0, 1] (or uint8).
        gt: ground-truth ROIs, same shapes.
        ssim: also compute per-ROI SSIM (slower).

    Returns:
        ``psnr`` (list, capped), ``ssim`` (list or empty), ``capped`` (count), ``sse`` and
        ``pixels`` (sums over ROIs in 8-bit units, for protocol (b)).
    """
    if len(sr) != len(gt):
        raise ValueError(f"{len(sr)} restored ROIs but {len(gt)} ground-truth ROIs")
    psnrs, ssims, capped, sse, pixels = [], [], 0, 0.0, 0
    for a, b in zip(sr, gt):
        if a.shape != b.shape:
            raise ValueError(f"ROI shape mismatch: {a.shape} vs {b.shape}")
        qa = a if a.dtype == np.uint8 else from_float01(a, 8)
        qb = b if b.dtype == np.uint8 else from_float01(b, 8)
        p = calculate_psnr(qa, qb, crop_border=0)
        capped += int(p > PSNR_CAP)
        psnrs.append(min(PSNR_CAP, float(p)))
        if ssim:
            ssims.append(float(calculate_ssim(qa, qb, crop_border=0)))
        d = qa.astype(np.float64) - qb.astype(np.float64)
        sse += float(np.sum(d * d))
        pixels += d.size
    return dict(psnr=psnrs, ssim=ssims, capped=capped, sse=sse, pixels=pixels)


def pooled_psnr(sse: float, pixels: int) -> float:
    """PSNR (8-bit) of the MSE pooled over ``pixels`` values (protocol (b)), capped."""
    mse = sse / max(pixels, 1)
    return PSNR_CAP if mse <= 0 else min(PSNR_CAP, 10.0 * float(np.log10(255.0**2 / mse)))


def summarise(per_image: Sequence[dict]) -> dict:
    """Protocol (a) and (b) over images, from :func:`roi_metrics` results."""
    psnrs = [p for m in per_image for p in m["psnr"]]
    ssims = [s for m in per_image for s in m["ssim"]]
    return dict(
        psnr_roi_mean=float(np.mean(psnrs)) if psnrs else float("nan"),
        ssim_roi_mean=float(np.mean(ssims)) if ssims else float("nan"),
        psnr_image_pooled=float(np.mean([pooled_psnr(m["sse"], m["pixels"]) for m in per_image])),
        rois=len(psnrs),
        capped_rois=int(sum(m["capped"] for m in per_image)),
    )
