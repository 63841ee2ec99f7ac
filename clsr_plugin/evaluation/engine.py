"""The restore engine: every registered method on the ROIs of one image, and CLSR's decode.

:func:`restore_rois` runs the :data:`~clsr_plugin.evaluation.methods.METHODS` entries asked for
(each batches ROIs of one size); :func:`decode_rois` is CLSR's part: :meth:`CLSR.decode` in
batches, or (``share_windows``) one base-branch pass per shared window of ROIs whose padded
windows overlap enough (:func:`clsr_plugin.inference.rois.shared_windows`).
"""

from __future__ import annotations

import torch

from clsr_plugin.evaluation.methods import batched, get_method
from clsr_plugin.inference.rois import shared_windows


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
    if alone:
        decoded = batched(rois[alone], roi_batch, lambda boxes: net.decode(cache, boxes))
        for i, sr in zip(alone, decoded):
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
    """Restore the ROIs of one image with each of ``methods`` (:data:`METHODS` entries).

    Args:
        net: a CLSR network in eval mode.
        lq: (1, 3, H, W) LR image.
        rois: (n, 4) boxes ``(x, y, w, h)`` (sizes may differ).
        methods: names of registered methods.
        roi_batch: ROIs per forward pass.
        share_windows: CLSR's ROIs share base windows where they overlap (:func:`decode_rois`).

    Returns:
        ``method -> [ (3, s*h_i, s*w_i) for ROI i ]`` in the order of ``rois``.
    """
    chosen = [get_method(m) for m in methods]
    if roi_batch < 1:
        raise ValueError(f"roi_batch must be >= 1, got {roi_batch}.")
    rois = rois.to(lq.device).long()
    return {m.name: m.restore(net, lq, rois, roi_batch, share_windows) for m in chosen}
