"""Restore every ROI of one image with CLSR and with the pre-/post-cropping baselines.

The one place that defines the methods compared throughout the project (validation, bench):

* ``clsr``: :meth:`CLSR.encode_context` once, then :func:`decode_rois`: :meth:`CLSR.decode` in
  batches of one ROI size, or (``share_windows``) one base-branch pass per shared window of
  ROIs whose padded windows overlap enough (:func:`clsr_plugin.inference.rois.shared_windows`);
* ``pre_pad`` / ``pre_nopad``: the backbone alone on the ROI's padded window (the model's
  ``roi_pad``) / on the bare ROI (:meth:`CLSR.base_only`);
* ``post``: the backbone on the whole image (``base_only`` with a whole-image box, so backbones
  that need padding get it), then cropped.
"""

from __future__ import annotations

import torch

from clsr_plugin.inference.rois import shared_windows
from clsr_plugin.models.roi_crops import crop_rois

#: ROI restoration methods: CLSR and the cropping baselines
RESTORE_METHODS = ("clsr", "pre_pad", "pre_nopad", "post")


def decode_rois(
    net: torch.nn.Module,
    cache,
    rois: torch.Tensor,
    roi_batch: int = 64,
    share_windows: bool = False,
) -> list[torch.Tensor]:
    """CLSR decode of ROIs (any sizes) of one encoded image.

    Args:
        net: a CLSR network in eval mode.
        cache: ``net.encode_context`` of the (1, 3, H, W) image.
        rois: (n, 4) boxes ``(x, y, w, h)``.
        roi_batch: ROIs per batch of :meth:`CLSR.decode`.
        share_windows: ROIs whose padded base windows overlap enough share one pass over
            their union (:func:`~clsr_plugin.inference.rois.shared_windows`): the cost of many
            ROIs never exceeds the image's, and each output differs from ROI-by-ROI decoding
            only by the extra real context the shared window holds.

    Returns:
        ``[(3, s*h_i, s*w_i) for ROI i]`` in the order of ``rois``.
    """
    height, width = cache.size
    rois = rois.to(cache.lq.device).long()
    out: list = [None] * rois.shape[0]
    alone = list(range(rois.shape[0]))
    if share_windows:
        alone = []
        s = int(net.scale)
        for window, members in shared_windows(rois.tolist(), net.roi_pad, height, width):
            if len(members) == 1:
                alone.append(members[0])
                continue
            boxes = rois[members]
            x0, y0 = boxes[:, :2].min(0).values.tolist()
            x1, y1 = (boxes[:, :2] + boxes[:, 2:]).max(0).values.tolist()
            win = torch.tensor([window], device=rois.device)
            union = torch.tensor([[x0, y0, x1 - x0, y1 - y0]], device=rois.device)
            sr = net.decode_windows(cache, win, union)[0]
            for i, (x, y, w, h) in zip(members, boxes.tolist()):
                out[i] = sr[:, s * (y - y0) : s * (y - y0 + h), s * (x - x0) : s * (x - x0 + w)]
    sizes = {i: tuple(rois[i, 2:].tolist()) for i in alone}
    for size in sorted(set(sizes.values())):
        index = [i for i in alone if sizes[i] == size]
        for start in range(0, len(index), roi_batch):
            chunk = index[start : start + roi_batch]
            for i, sr in zip(chunk, net.decode(cache, rois[chunk])):
                out[i] = sr
    return out


def restore_rois(
    net: torch.nn.Module,
    lq: torch.Tensor,
    rois: torch.Tensor,
    methods: tuple[str, ...] = ("clsr",),
    roi_batch: int = 64,
    share_windows: bool = False,
) -> dict[str, list[torch.Tensor]]:
    """Restore the ROIs of one image, batching ROIs of one size.

    Args:
        net: a CLSR network in eval mode.
        lq: (1, 3, H, W) LR image.
        rois: (n, 4) boxes ``(x, y, w, h)`` (sizes may differ).
        methods: any of :data:`RESTORE_METHODS`.
        roi_batch: ROIs per forward pass.
        share_windows: CLSR's ROIs share base windows where they overlap (:func:`decode_rois`).

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
    if "clsr" in methods:
        out["clsr"] = decode_rois(net, net.encode_context(lq), rois, roi_batch, share_windows)
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
