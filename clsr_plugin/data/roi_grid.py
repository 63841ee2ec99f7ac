"""The evaluation ROI grid: non-overlapping ``roi_size`` tiles over a whole LR image.

The paper splits each test image into non-overlapping ROIs and crops images "appropriately".
When the LR size is not a multiple of the ROI size, a remainder strip is left at the bottom
and/or right. Two treatments, chosen by the dataset option ``roi_remainder``:

* ``crop`` (default; what the paper and ``tools/roi_crop_baselines.py`` do): the LR image (and
  its HR) is cropped at the bottom/right to a multiple of the ROI size before evaluation, so the
  tiles partition the evaluated image exactly and every ROI is ``roi_size``. The cropped strip
  is neither evaluated nor seen as context.
* ``shift``: the whole image stays (all of it is context and evaluated); the last row/column of
  tiles is shifted inward to end at the image border, so every ROI is still ``roi_size`` and
  the tiles cover the image exactly, with the last row/column overlapping its neighbour.
  (Overlapping pixels are counted once per ROI in every metric.) A side shorter than the ROI
  gives tiles as long as that side.
"""

from __future__ import annotations

import torch

REMAINDERS = ("crop", "shift")


def grid_extent(
    height: int, width: int, roi_hw: tuple[int, int], remainder: str
) -> tuple[int, int]:
    """(H, W) of the part of an LR image that is evaluated (and used as context).

    Raises:
        ValueError: unknown ``remainder``, or ``crop`` on an image smaller than one ROI.
    """
    h, w = roi_hw
    if remainder == "crop":
        if height < h or width < w:
            raise ValueError(
                f"Image of {height}x{width} LR pixels is smaller than one ROI {h}x{w}."
            )
        return height // h * h, width // w * w
    if remainder == "shift":
        return height, width
    raise ValueError(f"roi_remainder must be one of {REMAINDERS}, got {remainder!r}.")


def _starts(length: int, size: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, size))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def roi_grid(
    height: int, width: int, roi_hw: tuple[int, int], remainder: str = "crop"
) -> torch.Tensor:
    """ROI boxes tiling an LR image of ``height`` x ``width``, row by row.

    Args:
        height, width: LR image size (before any cropping).
        roi_hw: (h, w) of one ROI.
        remainder: ``crop`` or ``shift`` (module docstring).

    Returns:
        LongTensor (n, 4) of (x, y, w, h) boxes inside :func:`grid_extent`'s area.
    """
    eh, ew = grid_extent(height, width, roi_hw, remainder)
    rh, rw = min(roi_hw[0], eh), min(roi_hw[1], ew)
    boxes = [(x, y, rw, rh) for y in _starts(eh, rh) for x in _starts(ew, rw)]
    return torch.tensor(boxes, dtype=torch.long)
