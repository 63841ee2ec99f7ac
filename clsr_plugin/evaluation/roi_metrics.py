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

Beside them, BasicSR's own ``val.metrics`` (any ``METRIC_REGISTRY`` type with its options, e.g.
``{type: calculate_psnr, crop_border: 4, test_y_channel: true}``) are computed per ROI on the
same 8-bit images, exactly as BasicSR's ``calculate_metric`` computes them per image, and
reported as the mean over ROIs under the metric's name (an infinite value, the PSNR of an
exactly restored ROI, counts as ``psnr_cap``). :func:`check_metric_opts` validates them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from basicsr.metrics import calculate_metric
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

from clsr_plugin.utils.psnr import PSNR_CAP, psnr_from_mse  # noqa: F401  (re-exported)

#: result names of the fixed protocols and the costs (``val.metrics`` names may not reuse them)
FIXED_NAMES = ("psnr_roi", "ssim_roi", "psnr_img", "ssim_img", "n_rois", "n_inf_psnr", "gmacs",
               "gflops")  # fmt: skip


def check_metric_opts(metrics: Mapping | None) -> dict[str, dict]:
    """Validate BasicSR's ``val.metrics`` (``name -> {type: <METRIC_REGISTRY name>, ...}``).

    Returns:
        ``{name: options}`` (empty without metrics).

    Raises:
        ValueError: one line naming the key (not a mapping, no/unknown ``type``, a name taken
            by the fixed protocols, a negative ``crop_border``).
    """
    from basicsr.utils.registry import METRIC_REGISTRY

    if not metrics:
        return {}
    if not isinstance(metrics, Mapping):
        raise ValueError(
            f"val.metrics must map names to {{type: calculate_psnr, ...}}, got {metrics!r}."
        )
    out = {}
    for name, opt in metrics.items():
        key = f"val.metrics.{name}"
        if not isinstance(opt, Mapping) or "type" not in opt:
            raise ValueError(f"{key}: expected {{type: calculate_psnr, ...}}, got {opt!r}.")
        if str(name) in FIXED_NAMES or "/" in str(name):
            raise ValueError(f"{key}: the name is taken (or has a '/'); fixed: {FIXED_NAMES}.")
        if opt["type"] not in METRIC_REGISTRY:
            raise ValueError(
                f"{key}.type: unknown metric {opt['type']!r}; BasicSR's METRIC_REGISTRY has "
                f"{sorted(METRIC_REGISTRY.keys())}."
            )
        crop = opt.get("crop_border", 0)
        if not isinstance(crop, int) or isinstance(crop, bool) or crop < 0:
            raise ValueError(f"{key}.crop_border must be an integer >= 0, got {crop!r}.")
        out[str(name)] = dict(opt)
    return out


def roi_metric(name: str, opt: Mapping, sr: np.ndarray, gt: np.ndarray, cap: float) -> float:
    """One ``val.metrics`` entry on one ROI (uint8 HWC images), through BasicSR's registry.

    Raises:
        ValueError: one line naming the key, e.g. a ``crop_border`` that leaves nothing of the
            ROI, or options the metric does not take.
    """
    key = f"val.metrics.{name}"
    h, w = sr.shape[:2]
    crop = int(opt.get("crop_border", 0))
    if 2 * crop >= min(h, w):
        raise ValueError(
            f"{key}.crop_border: {crop} leaves nothing of a {h}x{w} HR ROI (must be < "
            f"{(min(h, w) + 1) // 2})."
        )
    try:
        value = float(calculate_metric(dict(img=sr, img2=gt), dict(opt)))
    except Exception as err:  # a metric's own error, on one line with the key
        raise ValueError(f"{key} ({opt['type']}): {' '.join(str(err).split())}") from None
    if math.isnan(value):
        raise ValueError(
            f"{key} ({opt['type']}) is NaN on a {h}x{w} HR ROI with crop_border {crop} "
            "(too small for it?)."
        )
    return min(value, cap) if math.isinf(value) and value > 0 else value


class RoiMetricAccumulator:
    """Collects ROI metrics of one method over a dataset, image by image.

    Args:
        psnr_cap: cap of per-ROI (and per-image) PSNR in dB.
        metrics: BasicSR's ``val.metrics`` (see :func:`check_metric_opts`), computed per ROI.
    """

    def __init__(self, psnr_cap: float = PSNR_CAP, metrics: Mapping | None = None):
        if not psnr_cap > 0:
            raise ValueError(f"psnr_cap must be > 0, got {psnr_cap!r}.")
        self.psnr_cap = float(psnr_cap)
        self.metrics = check_metric_opts(metrics)
        self.roi_extra: dict[str, list[float]] = {name: [] for name in self.metrics}
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
            for name, opt in self.metrics.items():
                self.roi_extra[name].append(roi_metric(name, opt, sr, gt, self.psnr_cap))
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
        ``n_rois``, ``n_inf_psnr`` and the mean over ROIs of each ``val.metrics`` entry."""
        if not self.roi_psnr:
            raise ValueError("No ROI was added.")
        extra = {name: float(np.mean(values)) for name, values in self.roi_extra.items()}
        return {
            "psnr_roi": float(np.mean(self.roi_psnr)),
            "ssim_roi": float(np.mean(self.roi_ssim)),
            "psnr_img": float(np.mean(self.img_psnr)),
            "ssim_img": float(np.mean(self.img_ssim)),
            "n_rois": float(len(self.roi_psnr)),
            "n_inf_psnr": float(self.n_inf_psnr),
            **extra,
        }
