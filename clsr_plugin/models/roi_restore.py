"""Restore every ROI of one image with CLSR and with the pre-/post-cropping baselines.

The one place that defines the methods compared throughout the project (validation, bench):

* ``clsr``: :meth:`CLSR.encode_context` once, then :meth:`CLSR.decode` in batches;
* ``pre_pad`` / ``pre_nopad``: the backbone alone on the ROI's padded window (the model's
  ``roi_pad``) / on the bare ROI (:meth:`CLSR.base_only`);
* ``post``: the backbone on the whole image (``base_only`` with a whole-image box, so backbones
  that need padding get it), then cropped.
"""

from __future__ import annotations

import torch

from clsr_plugin.models.roi_crops import crop_rois

#: ROI restoration methods: CLSR and the cropping baselines
RESTORE_METHODS = ("clsr", "pre_pad", "pre_nopad", "post")


def restore_rois(
    net: torch.nn.Module,
    lq: torch.Tensor,
    rois: torch.Tensor,
    methods: tuple[str, ...] = ("clsr",),
    roi_batch: int = 64,
) -> dict[str, list[torch.Tensor]]:
    """Restore the ROIs of one image, batching ROIs of one size.

    Args:
        net: a CLSR network in eval mode.
        lq: (1, 3, H, W) LR image.
        rois: (n, 4) boxes ``(x, y, w, h)`` (sizes may differ).
        methods: any of :data:`RESTORE_METHODS`.
        roi_batch: ROIs per forward pass.

    Returns:
        ``method -> [ (3, s*h_i, s*w_i) for ROI i ]`` in the order of ``rois``.
    """
    unknown = [m for m in methods if m not in RESTORE_METHODS]
    if unknown:
        raise ValueError(f"Unknown methods {unknown}; choose from {RESTORE_METHODS}.")
    if roi_batch < 1:
        raise ValueError(f"roi_batch must be >= 1, got {roi_batch}.")
    height, width = lq.shape[-2:]
    rois = rois.to(lq.device).long()
    sizes = [tuple(b) for b in rois[:, 2:].tolist()]
    out: dict[str, list] = {m: [None] * len(sizes) for m in methods}
    cache = net.encode_context(lq) if "clsr" in methods else None
    full_sr = None
    if "post" in methods:
        full = torch.tensor([[0, 0, width, height]], dtype=torch.long, device=lq.device)
        full_sr = net.base_only(lq, full, roi_pad=0)
    for size in sorted(set(sizes)):
        index = [i for i, s in enumerate(sizes) if s == size]
        for start in range(0, len(index), roi_batch):
            chunk = index[start : start + roi_batch]
            boxes = rois[chunk]
            results = {}
            if "clsr" in methods:
                results["clsr"] = net.decode(cache, boxes)
            if "pre_pad" in methods:
                results["pre_pad"] = net.base_only(lq, boxes)
            if "pre_nopad" in methods:
                results["pre_nopad"] = net.base_only(lq, boxes, roi_pad=0)
            if full_sr is not None:
                results["post"] = crop_rois(full_sr, boxes, int(net.scale))
            for m, batch in results.items():
                for j, i in enumerate(chunk):
                    out[m][i] = batch[j]
    return out
