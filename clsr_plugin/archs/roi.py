"""ROI box maths shared by the architecture, the dataset, validation and inference.

A box is ``(x, y, w, h)`` in LR pixels: ``x`` is the column of the left edge, ``y`` the row of
the top edge. Batches of boxes are integer tensors of shape ``(n, 4)``.

The *base window* is what CLSR's base branch sees: the box grown by ``roi_pad`` on every side,
then clamped to the image by **shifting** it inside (never by padding with invented pixels)::

    ww = min(w + 2 * roi_pad, W)        wx = clamp(x - roi_pad, 0, W - ww)
    wh = min(h + 2 * roi_pad, H)        wy = clamp(y - roi_pad, 0, H - wh)

All boxes of one size in one image therefore get windows of one size, so they batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_box(box: Sequence[int], height: int, width: int) -> tuple[int, int, int, int]:
    """Validate one box against an image of ``height x width`` LR pixels.

    Returns:
        The box as a tuple of Python ints.

    Raises:
        ValueError: the box is not 4 integers, is empty / negative, or leaves the image.
    """
    if len(box) != 4:
        raise ValueError(f"ROI box must be (x, y, w, h), got {tuple(box)!r}.")
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"ROI box {(x, y, w, h)} is empty or negative (w={w}, h={h}).")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(
            f"ROI box {(x, y, w, h)} lies (partly) outside the {height}x{width} (HxW) context."
        )
    return x, y, w, h


def padded_window(
    box: Sequence[int], roi_pad: int, height: int, width: int
) -> tuple[int, int, int, int]:
    """The base window ``(wx, wy, ww, wh)`` of one box (see the module docstring).

    Args:
        box: ``(x, y, w, h)`` inside the image.
        roi_pad: LR pixels of real context wanted on every side (>= 0).
        height: image height H in LR pixels.
        width: image width W in LR pixels.

    Raises:
        ValueError: bad box (see :func:`check_box`) or negative ``roi_pad``.
    """
    if int(roi_pad) < 0:
        raise ValueError(f"roi_pad must be >= 0, got {roi_pad}.")
    x, y, w, h = check_box(box, height, width)
    p = int(roi_pad)
    ww, wh = min(w + 2 * p, width), min(h + 2 * p, height)
    wx = min(max(x - p, 0), width - ww)
    wy = min(max(y - p, 0), height - wh)
    return wx, wy, ww, wh


def check_boxes(boxes: Tensor, height: int, width: int, same_size: bool = True) -> Tensor:
    """Validate a batch of boxes; returns them as a ``long`` tensor of shape ``(n, 4)``.

    Raises:
        ValueError: not an integer ``(n, 4)`` tensor, an empty/negative box, a box outside the
            image, or (with ``same_size``) boxes of different sizes.
    """
    if not isinstance(boxes, Tensor):
        raise ValueError(f"boxes must be an integer tensor of shape (n, 4), got {type(boxes)}.")
    if boxes.dtype.is_floating_point or boxes.dtype.is_complex or boxes.dtype == torch.bool:
        raise ValueError(f"boxes must be an integer tensor, got dtype {boxes.dtype}.")
    if boxes.dim() != 2 or boxes.shape[1] != 4 or boxes.shape[0] == 0:
        raise ValueError(f"boxes must have shape (n, 4) with n >= 1, got {tuple(boxes.shape)}.")
    boxes = boxes.long()
    x, y, w, h = boxes.unbind(1)
    bad = (w <= 0) | (h <= 0) | (x < 0) | (y < 0) | (x + w > width) | (y + h > height)
    if bool(bad.any()):
        first = tuple(boxes[bad.nonzero()[0, 0]].tolist())
        check_box(first, height, width)  # raises the precise message
    if same_size and bool(((w != w[0]) | (h != h[0])).any()):
        sizes = sorted({(int(a), int(b)) for a, b in zip(w.tolist(), h.tolist())})
        raise ValueError(f"All ROIs of one batch must share one size (w, h); got {sizes}.")
    return boxes


def padded_windows(boxes: Tensor, roi_pad: int, height: int, width: int) -> Tensor:
    """Batched :func:`padded_window`: ``(n, 4)`` boxes -> ``(n, 4)`` windows ``(wx, wy, ww, wh)``.

    Raises:
        ValueError: see :func:`check_boxes` (sizes may differ here) and negative ``roi_pad``.
    """
    if int(roi_pad) < 0:
        raise ValueError(f"roi_pad must be >= 0, got {roi_pad}.")
    boxes = check_boxes(boxes, height, width, same_size=False)
    p = int(roi_pad)
    x, y, w, h = boxes.unbind(1)
    ww = (w + 2 * p).clamp(max=width)
    wh = (h + 2 * p).clamp(max=height)
    wx = torch.minimum((x - p).clamp(min=0), width - ww)
    wy = torch.minimum((y - p).clamp(min=0), height - wh)
    return torch.stack([wx, wy, ww, wh], 1)
