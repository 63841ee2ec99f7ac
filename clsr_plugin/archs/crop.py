"""Batched cropping of equally sized windows at per-item offsets (one gather, no Python loop)."""

from __future__ import annotations

import torch
from torch import Tensor


def crop_windows(
    x: Tensor, batch_index: Tensor, left: Tensor, top: Tensor, width: int, height: int
) -> Tensor:
    """Crop ``n`` windows of ``height x width`` from a batch of maps.

    Args:
        x: (B, C, H, W) maps.
        batch_index: (n,) which map each window comes from.
        left: (n,) column of each window's left edge.
        top: (n,) row of each window's top edge.
        width: window width (same for all).
        height: window height (same for all).

    Returns:
        (n, C, height, width) crops (differentiable w.r.t. ``x``).
    """
    device = x.device
    rows = top.to(device)[:, None] + torch.arange(height, device=device)  # (n, h)
    cols = left.to(device)[:, None] + torch.arange(width, device=device)  # (n, w)
    out = x[batch_index.to(device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()  # (n, h, w, C) -> (n, C, h, w)
