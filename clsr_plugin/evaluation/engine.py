"""The restore engine: every registered method asked for on the ROIs of one image.

:func:`restore_rois` runs the :data:`~clsr_plugin.evaluation.methods.METHODS` entries asked for
(each batches ROIs of one size; CLSR decodes through :func:`clsr_plugin.inference.restore.
decode_rois`).
"""

from __future__ import annotations

import torch

from clsr_plugin.evaluation.methods import get_method


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
