"""The restore core below evaluation and inference: ROIs in batches of one size, and CLSR's
decode of one encoded image's ROIs.

:func:`batched` runs any per-batch function over ROIs of mixed sizes; :func:`decode_rois` is
:meth:`CLSR.decode` in such batches, or (``share_windows``) one base-branch pass per shared
window of ROIs whose padded windows overlap enough (:func:`clsr_plugin.inference.rois.
shared_windows`). clsr-infer's :func:`~clsr_plugin.inference.api.upscale_rois` and the
evaluation's method registry (:mod:`clsr_plugin.evaluation.methods`) both restore through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from clsr_plugin.inference.rois import shared_windows

#: a way of restoring ROIs (the registry's methods, clsr-infer's pre-cropping baseline):
#: ``restore(net, lq (1, 3, H, W), rois (n, 4), roi_batch, share_windows) -> [(3, sh, sw)] * n``
Restore = Callable[[torch.nn.Module, Tensor, Tensor, int, bool], Sequence[Tensor]]


def by_size(rois: Tensor, roi_batch: int) -> list[list[int]]:
    """Indices of ``rois`` in batches of at most ``roi_batch`` ROIs of one size."""
    if roi_batch < 1:
        raise ValueError(f"roi_batch must be >= 1, got {roi_batch}.")
    sizes = [tuple(b) for b in rois[:, 2:].tolist()]
    batches = []
    for size in sorted(set(sizes)):
        index = [i for i, s in enumerate(sizes) if s == size]
        batches += [index[a : a + roi_batch] for a in range(0, len(index), roi_batch)]
    return batches


def batched(
    rois: Tensor, roi_batch: int, run: Callable[[Tensor], Sequence[Tensor]]
) -> list[Tensor]:
    """``run`` on the batches of :func:`by_size`; its outputs back in the order of ``rois``."""
    out: list = [None] * rois.shape[0]
    for chunk in by_size(rois, roi_batch):
        for i, sr in zip(chunk, run(rois[chunk])):
            out[i] = sr
    return out


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
