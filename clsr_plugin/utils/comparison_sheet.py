"""Side-by-side comparison sheets of ROI outputs (one row per ROI, one column per method)."""

from __future__ import annotations

import cv2
import numpy as np


def comparison_sheet(
    rows: list[list[np.ndarray]],
    labels: list[str],
    gap: int = 4,
    label_height: int = 16,
) -> np.ndarray:
    """Tile uint8 HWC images into one sheet with a header line of column labels.

    Args:
        rows: one list per ROI, one image per column; tiles of a row share a size, rows may
            differ (each column is as wide as its widest tile).
        labels: column titles (e.g. ``bicubic``, ``pre``, ``post``, ``CLSR``, ``GT``).
        gap: white pixels between tiles.
        label_height: pixels of the header line.

    Returns:
        uint8 HWC sheet (white background).
    """
    if not rows or any(len(r) != len(labels) for r in rows):
        raise ValueError(f"Every row needs one tile per label ({len(labels)}).")
    col_w = [max(r[c].shape[1] for r in rows) for c in range(len(labels))]
    row_h = [max(t.shape[0] for t in r) for r in rows]
    width = sum(col_w) + gap * (len(labels) + 1)
    height = label_height + sum(row_h) + gap * (len(rows) + 1)
    sheet = np.full((height, width, 3), 255, np.uint8)
    x = gap
    for c, label in enumerate(labels):
        cv2.putText(
            sheet, label, (x, label_height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1
        )
        x += col_w[c] + gap
    y = label_height + gap
    for r, tiles in enumerate(rows):
        x = gap
        for c, tile in enumerate(tiles):
            sheet[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
            x += col_w[c] + gap
        y += row_h[r] + gap
    return sheet
