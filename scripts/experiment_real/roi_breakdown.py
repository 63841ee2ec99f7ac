"""Where CLSR gains or loses against the fine-tuned backbone: per-ROI PSNR by ROI position.

For every ROI of every test image, the PSNR (RGB, no border crop, capped as in validation) of
CLSR (run A) and of post- and pre-cropping (no padding) with the reference backbone (run B, e.g.
``srmodel_msrresnet``) is computed. ROIs are grouped by their distance to the nearest image
border in LR pixels (``0`` = touches the border; then 1-23, 24-47, 48+), where the context
available to a padded ROI differs most.
"""

from __future__ import annotations

import torch
from basicsr.metrics.psnr_ssim import calculate_psnr
from basicsr.utils import tensor2img
from model_from_opt import build_from_options, dataset_options

from clsr_plugin.models.roi_crops import crop_rois
from clsr_plugin.models.roi_metrics import PSNR_CAP

#: distance-to-border bins in LR pixels: (label, low, high) with low <= d < high
BINS = (("border", 0, 1), ("1-23", 1, 24), ("24-47", 24, 48), ("48+", 48, 10**9))


def border_distance(box: list[int], height: int, width: int) -> int:
    """LR pixels between the box ``(x, y, w, h)`` and the nearest image border."""
    x, y, w, h = box
    return min(x, y, width - (x + w), height - (y + h))


def _psnr(sr: torch.Tensor, gt: torch.Tensor) -> float:
    value = calculate_psnr(tensor2img(sr.cpu()), tensor2img(gt.cpu()), crop_border=0)
    return min(float(value), PSNR_CAP)


@torch.no_grad()
def breakdown(opt_clsr: dict, opt_ref: dict) -> dict:
    """Per-bin means for the datasets of ``opt_clsr`` (``opt_ref`` must list the same ones).

    Returns:
        ``{dataset: {bin: {"n", "clsr", "ref_post", "ref_pre_nopad"}}}`` (mean PSNR in dB).
    """
    from basicsr.data import build_dataset

    clsr_model = build_from_options(opt_clsr, is_train=False)
    ref_model = build_from_options(opt_ref, is_train=False)
    clsr_net = clsr_model.get_bare_model(clsr_model.net_g).eval()
    ref_net = ref_model.get_bare_model(ref_model.net_g).eval()
    roi_batch = int(opt_clsr["val"].get("roi_batch", 64))
    out = {}
    ref_sets = {d["name"]: d for d in dataset_options(opt_ref)}
    for ds_opt in dataset_options(opt_clsr):
        if ds_opt["name"] not in ref_sets:
            raise ValueError(f"Reference options lack dataset {ds_opt['name']!r}.")
        dataset = build_dataset(ds_opt)
        sums = {
            label: {"n": 0, "clsr": 0.0, "ref_post": 0.0, "ref_pre_nopad": 0.0}
            for label, *_ in BINS
        }
        for index in range(len(dataset)):
            item = dataset[index]
            lq = item["lq"][None].to(clsr_model.device)
            rois = item["rois"].long()
            mine = clsr_model.restore_rois(lq, rois, ("clsr",), roi_batch, net=clsr_net)
            ref = ref_model.restore_rois(lq, rois, ("post", "pre_nopad"), roi_batch, net=ref_net)
            h, w = lq.shape[-2:]
            for i, box in enumerate(rois.tolist()):
                gt = crop_rois(item["gt"][None], rois[i : i + 1], clsr_model.scale)[0]
                dist = border_distance(box, h, w)
                label = next(lab for lab, lo, hi in BINS if lo <= dist < hi)
                acc = sums[label]
                acc["n"] += 1
                acc["clsr"] += _psnr(mine["clsr"][i], gt)
                acc["ref_post"] += _psnr(ref["post"][i], gt)
                acc["ref_pre_nopad"] += _psnr(ref["pre_nopad"][i], gt)
        out[ds_opt["name"]] = {
            label: {k: (v / acc["n"] if k != "n" else v) for k, v in acc.items()}
            for label, acc in sums.items()
            if acc["n"]
        }
    return out
