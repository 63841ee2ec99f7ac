"""ROI-wise PSNR / SSIM: the LocalSR evaluation protocols.

Every ROI output and its HR ground truth are compared as 8-bit RGB images (BasicSR's
``tensor2img`` rounding), with BasicSR's ``calculate_psnr`` / ``calculate_ssim``, no border
crop (the ROI is what was asked for; the paper does not crop either) and not on the Y channel.
Two protocols:

(a) ``psnr_roi`` / ``ssim_roi``: the mean over all ROIs of a dataset of the per-ROI values (the
    paper's tables). A flat ROI can be restored exactly, which gives an infinite PSNR and would
    make the mean infinite: per-ROI PSNR is **capped** at ``psnr_cap`` (default 100 dB, as the
    project's independent cross-check tool does), and the number of capped ROIs is reported as
    ``n_inf_psnr`` so a cap that matters is visible.
(b) ``psnr_img`` / ``ssim_img``: per image, PSNR of the MSE pooled over all of its ROI pixels
    (and the pixel-weighted mean SSIM of its ROIs), then the mean over images. Finite unless a
    whole image is exact (then capped the same way) and comparable to whole-image PSNR without
    border crop.
"""

from __future__ import annotations

import math

import numpy as np
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

#: default cap of per-ROI PSNR in protocol (a), in dB
PSNR_CAP = 100.0


def psnr_from_mse(mse: float, cap: float = PSNR_CAP) -> float:
    """PSNR of an 8-bit MSE, ``cap`` when the MSE is 0."""
    return cap if mse <= 0 else min(cap, 10.0 * math.log10(255.0 * 255.0 / mse))


class RoiMetricAccumulator:
    """Collects ROI metrics of one method over a dataset, image by image.

    Args:
        psnr_cap: cap of per-ROI (and per-image) PSNR in dB.
    """

    def __init__(self, psnr_cap: float = PSNR_CAP):
        if not psnr_cap > 0:
            raise ValueError(f"psnr_cap must be > 0, got {psnr_cap!r}.")
        self.psnr_cap = float(psnr_cap)
        self.roi_psnr: list[float] = []
        self.roi_ssim: list[float] = []
        self.img_psnr: list[float] = []
        self.img_ssim: list[float] = []
        self.roi_mse: list[float] = []  # per-ROI 8-bit MSE (for breakdowns, uncapped)
        self.n_inf_psnr = 0

    def add_image(self, srs: list[np.ndarray], gts: list[np.ndarray]) -> None:
        """Add the ROIs of one image.

        Args:
            srs: restored ROIs, uint8 HWC.
            gts: their ground truth, uint8 HWC, same shapes.
        """
        if len(srs) != len(gts) or not srs:
            raise ValueError(f"Need matching, non-empty ROI lists, got {len(srs)} and {len(gts)}.")
        sse, count, ssim_sum = 0.0, 0, 0.0
        for sr, gt in zip(srs, gts):
            psnr = calculate_psnr(sr, gt, crop_border=0)
            if not math.isfinite(psnr) or psnr > self.psnr_cap:
                self.n_inf_psnr += int(not math.isfinite(psnr))
                psnr = self.psnr_cap
            ssim = calculate_ssim(sr, gt, crop_border=0)
            self.roi_psnr.append(psnr)
            self.roi_ssim.append(ssim)
            diff = sr.astype(np.float64) - gt.astype(np.float64)
            roi_sse = float(np.sum(diff * diff))
            self.roi_mse.append(roi_sse / diff.size)
            sse += roi_sse
            count += diff.size
            ssim_sum += ssim * diff.size
        self.img_psnr.append(psnr_from_mse(sse / count, self.psnr_cap))
        self.img_ssim.append(ssim_sum / count)

    def results(self) -> dict[str, float]:
        """``psnr_roi``, ``ssim_roi`` (protocol a), ``psnr_img``, ``ssim_img`` (protocol b),
        ``n_rois`` and ``n_inf_psnr``."""
        if not self.roi_psnr:
            raise ValueError("No ROI was added.")
        return {
            "psnr_roi": float(np.mean(self.roi_psnr)),
            "ssim_roi": float(np.mean(self.roi_ssim)),
            "psnr_img": float(np.mean(self.img_psnr)),
            "ssim_img": float(np.mean(self.img_ssim)),
            "n_rois": float(len(self.roi_psnr)),
            "n_inf_psnr": float(self.n_inf_psnr),
        }
