"""Training ROI boxes: where the ROI sits in a context patch, and how augmentation moves it.

Boxes follow the project convention: ``(x, y, w, h)`` in LR pixels, ``x`` the column of the left
edge, ``y`` the row of the top edge.
"""

from __future__ import annotations

import random

PLACEMENTS = ("center", "random")


def as_hw(size: int | list[int] | tuple[int, int], name: str) -> tuple[int, int]:
    """Read a size option given as ``n`` (square) or ``[h, w]`` into ``(h, w)``.

    Raises:
        ValueError: not one or two positive integers.
    """
    if isinstance(size, bool):
        raise ValueError(f"{name} must be a positive int or [h, w], got {size!r}.")
    if isinstance(size, int):
        size = (size, size)
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive int or [h, w], got {size!r}.") from None
    if h <= 0 or w <= 0 or (h, w) != tuple(size):
        raise ValueError(f"{name} must be a positive int or [h, w], got {size!r}.")
    return h, w


def place_roi(
    context_hw: tuple[int, int],
    roi_hw: tuple[int, int],
    placement: str = "center",
    rng: random.Random | None = None,
) -> tuple[int, int, int, int]:
    """Box of an ROI of size ``roi_hw`` inside a context of size ``context_hw``.

    Args:
        context_hw: (H, W) of the context patch (LR pixels).
        roi_hw: (h, w) of the ROI, at most the context size.
        placement: ``center`` (the paper: ROI in the middle of the patch, rounded towards the
            top-left) or ``random`` (uniform over every position, so ROIs at context borders and
            corners are trained too).
        rng: random source for ``random`` (default: the ``random`` module, which BasicSR seeds
            per worker).

    Returns:
        (x, y, w, h).
    """
    (ch, cw), (h, w) = context_hw, roi_hw
    if h > ch or w > cw:
        raise ValueError(f"ROI {roi_hw} does not fit in the context patch {context_hw}.")
    if placement == "center":
        return (cw - w) // 2, (ch - h) // 2, w, h
    if placement == "random":
        rng = rng or random
        return rng.randint(0, cw - w), rng.randint(0, ch - h), w, h
    raise ValueError(f"roi_placement must be one of {PLACEMENTS}, got {placement!r}.")


def augment_box(
    box: tuple[int, int, int, int],
    context_hw: tuple[int, int],
    hflip: bool,
    vflip: bool,
    rot90: bool,
) -> tuple[int, int, int, int]:
    """Move a box the way :func:`basicsr.data.transforms.augment` moves the image under it.

    ``augment`` applies, in this order, a horizontal flip, a vertical flip and a transpose of
    the rows and columns (its "rot90"); the box follows each step.

    Args:
        box: (x, y, w, h) in the image before augmentation.
        context_hw: (H, W) of the image before augmentation.
        hflip, vflip, rot90: the status ``augment(..., return_status=True)`` returned.

    Returns:
        (x, y, w, h) in the augmented image.
    """
    x, y, w, h = box
    height, width = context_hw
    if hflip:
        x = width - x - w
    if vflip:
        y = height - y - h
    if rot90:
        x, y, w, h = y, x, h, w
    return x, y, w, h
