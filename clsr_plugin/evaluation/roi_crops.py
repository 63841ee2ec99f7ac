"""Cutting HR ROIs out of images given LR boxes ``(x, y, w, h)``."""

from __future__ import annotations

import torch


def crop_rois(img: torch.Tensor, boxes: torch.Tensor, scale: int = 1) -> torch.Tensor:
    """The ROI of each box, at ``scale`` x the box's LR coordinates.

    Args:
        img: (B, C, H', W') images, one box per image, or (1, C, H', W') shared by all boxes.
        boxes: (n, 4) LR boxes of one size (n == B, or B == 1).
        scale: ``img`` pixels per LR pixel (the SR factor for HR images, 1 for LR ones).

    Returns:
        (n, C, scale*h, scale*w).
    """
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (n, 4), got {tuple(boxes.shape)}.")
    if img.shape[0] not in (1, boxes.shape[0]):
        raise ValueError(f"{img.shape[0]} images for {boxes.shape[0]} boxes.")
    sizes = {tuple(b) for b in boxes[:, 2:].tolist()}
    if len(sizes) != 1:
        raise ValueError(f"All boxes must share one size (w, h), got {sorted(sizes)}.")
    crops = []
    for i, (x, y, w, h) in enumerate(boxes.tolist()):
        src = img[i if img.shape[0] > 1 else 0]
        crops.append(src[:, y * scale : (y + h) * scale, x * scale : (x + w) * scale])
    return torch.stack(crops)
