"""Comparison sheets of ROI outputs, the one renderer (``clsr-infer``, ``LocalSRModel``'s
``save_img``, ``clsr-demo``).

Layout, top to bottom: the image name; the whole image with numbered ROI boxes; a header line
of column labels; then one row per ROI (its number, then one tile per method, e.g. bicubic |
pre | post | CLSR | GT), each tile magnified (nearest neighbour) to a legible size with its
PSNR printed under it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from clsr_plugin.utils.psnr import PSNR_CAP, psnr

#: colour of the ROI boxes: magenta is the same in RGB and BGR, so callers need not say which
BOX_COLOUR = (255, 0, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
Rect = tuple[int, int, int, int]  # x, y, w, h


def tile_psnr(img: np.ndarray, ref: np.ndarray, cap: float = PSNR_CAP) -> float:
    """PSNR (dB) of two uint8 tiles of one shape, capped at ``cap`` for identical tiles."""
    return psnr(img, ref, cap)


def textured_rois(image: np.ndarray, boxes: Sequence[Sequence[int]], n: int) -> list[int]:
    """Indices of the ``n`` most textured boxes (mean squared finite differences of the patch
    in ``image``, HW or HWC), most textured first; ties keep box order (deterministic)."""
    img = image.astype(np.float64)
    energy = []
    for x, y, w, h in boxes:
        p = img[y : y + h, x : x + w]
        gx = np.diff(p, axis=1) if p.shape[1] > 1 else np.zeros(1)
        gy = np.diff(p, axis=0) if p.shape[0] > 1 else np.zeros(1)
        energy.append(float(np.mean(gx**2) + np.mean(gy**2)))
    order = np.argsort(-np.asarray(energy), kind="stable")
    return [int(i) for i in order[: max(0, n)]]


@dataclass
class SheetLayout:
    """Geometry of a sheet (pixels); ``comparison_sheet`` draws exactly this."""

    width: int
    height: int
    magnify: int
    font_scale: float
    thickness: int
    title: Rect | None = None
    overview: Rect | None = None
    header: Rect = (0, 0, 0, 0)
    numbers: list[Rect] = field(default_factory=list)  # the ROI number left of each row
    tiles: list[list[Rect]] = field(default_factory=list)  # [row][column], magnified tiles
    captions: list[list[Rect]] = field(default_factory=list)  # the PSNR line under each tile


def _text_h(scale: float, thickness: int) -> int:
    (_, h), base = cv2.getTextSize("0dB", FONT, scale, thickness)
    return h + base


def sheet_layout(
    tile_hw: Sequence[Sequence[tuple[int, int]]],
    n_labels: int,
    overview_hw: tuple[int, int] | None = None,
    title: bool = False,
    gap: int = 6,
    min_tile: int = 128,
    max_overview_h: int = 480,
) -> SheetLayout:
    """Where everything goes for ``tile_hw[row][column] = (h, w)`` tiles.

    Tiles are magnified by the smallest integer making the narrowest at least ``min_tile``
    pixels wide; the font scales with the column width; the overview fills the width of the
    tile grid (at most ``max_overview_h`` high).
    """
    if not tile_hw or any(len(r) != n_labels for r in tile_hw):
        raise ValueError(f"Every row needs one tile per label ({n_labels}).")
    narrow = min(w for r in tile_hw for _, w in r)
    mag = max(1, math.ceil(min_tile / max(1, narrow)))
    col_w = [max(r[c][1] for r in tile_hw) * mag for c in range(n_labels)]
    row_h = [max(h for h, _ in r) * mag for r in tile_hw]
    font = float(np.clip(min(col_w) / 190.0, 0.45, 1.0))
    thick = 1 if font < 0.7 else 2
    line = _text_h(font, thick) + 6
    (num_w, _), _ = cv2.getTextSize(f"#{len(tile_hw)}", FONT, font, thick)
    grid_w = num_w + gap + sum(col_w) + gap * (n_labels - 1)
    width = grid_w + 2 * gap
    lay = SheetLayout(width=width, height=0, magnify=mag, font_scale=font, thickness=thick)
    y = gap
    if title:
        lay.title = (gap, y, grid_w, line)
        y += line + gap
    if overview_hw is not None:
        oh, ow = overview_hw
        s = min(grid_w / ow, max_overview_h / oh)
        w, h = max(1, round(ow * s)), max(1, round(oh * s))
        lay.overview = (gap + (grid_w - w) // 2, y, w, h)
        y += h + gap
    x0 = gap + num_w + gap
    lay.header = (x0, y, grid_w - num_w - gap, line)
    y += line
    for r, hw in enumerate(tile_hw):
        lay.numbers.append((gap, y, num_w, row_h[r]))
        x, tiles, caps = x0, [], []
        for c, (h, w) in enumerate(hw):
            tiles.append((x, y, w * mag, h * mag))
            caps.append((x, y + row_h[r] + 2, col_w[c], line))
            x += col_w[c] + gap
        lay.tiles.append(tiles)
        lay.captions.append(caps)
        y += row_h[r] + 2 + line + gap
    lay.height = y
    return lay


def _put(sheet: np.ndarray, text: str, x: int, y_base: int, lay: SheetLayout, colour=(0, 0, 0)):
    cv2.putText(sheet, text, (x, y_base), FONT, lay.font_scale, colour, lay.thickness, cv2.LINE_AA)


def comparison_sheet(
    rows: list[list[np.ndarray]],
    labels: list[str],
    overview: np.ndarray | None = None,
    boxes: Sequence[Sequence[int]] | None = None,
    psnrs: Sequence[Sequence[float | None]] | None = None,
    title: str | None = None,
    gap: int = 6,
    min_tile: int = 128,
) -> np.ndarray:
    """Render a comparison sheet (uint8 HWC, white background; channel order as given).

    Args:
        rows: one list per ROI, one uint8 HWC tile per column (tiles of a row share a size).
        labels: column titles (e.g. ``bicubic``, ``pre``, ``post``, ``CLSR``, ``GT``).
        overview: the whole image (uint8 HWC, e.g. the HR or LR input), drawn on top with
            ``boxes`` (one ``(x, y, w, h)`` per row, in ``overview`` pixels) numbered 1, 2, ...
        psnrs: per row, per column the PSNR (dB) printed under the tile, or ``None`` (e.g. GT).
        title: text of the first line (e.g. the image name).
        gap: white pixels between elements.
        min_tile: the narrowest tile is magnified to at least this many pixels.
    """
    if boxes is not None and (overview is None or len(boxes) != len(rows)):
        raise ValueError(f"boxes need an overview image and one box per row ({len(rows)}).")
    if psnrs is not None and (len(psnrs) != len(rows) or any(len(p) != len(labels) for p in psnrs)):
        raise ValueError(f"psnrs need one value (or None) per tile ({len(rows)}x{len(labels)}).")
    lay = sheet_layout(
        [[t.shape[:2] for t in r] for r in rows],
        len(labels),
        None if overview is None else overview.shape[:2],
        title=bool(title),
        gap=gap,
        min_tile=min_tile,
    )
    sheet = np.full((lay.height, lay.width, 3), 255, np.uint8)
    if lay.title is not None:
        x, y, _, h = lay.title
        _put(sheet, title, x, y + h - 6, lay)
    if lay.overview is not None:
        x, y, w, h = lay.overview
        img = overview if overview.ndim == 3 else np.stack([overview] * 3, -1)
        interp = cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_CUBIC
        sheet[y : y + h, x : x + w] = cv2.resize(img[..., :3], (w, h), interpolation=interp)
        s = w / img.shape[1]
        for i, (bx, by, bw, bh) in enumerate(boxes or []):
            p0 = (x + round(bx * s), y + round(by * s))
            p1 = (x + round((bx + bw) * s) - 1, y + round((by + bh) * s) - 1)
            cv2.rectangle(sheet, p0, p1, BOX_COLOUR, max(2, lay.thickness))
            text = str(i + 1)
            (tw, th), base = cv2.getTextSize(text, FONT, lay.font_scale, lay.thickness)
            tx, ty = p0[0], max(y, p0[1] - th - base - 2)
            cv2.rectangle(sheet, (tx, ty), (tx + tw + 4, ty + th + base + 2), BOX_COLOUR, -1)
            _put(sheet, text, tx + 2, ty + th + 1, lay, (255, 255, 255))
    hx, hy, _, hh = lay.header
    for c, label in enumerate(labels):
        _put(sheet, label, lay.tiles[0][c][0], hy + hh - 8, lay)
    for r, tiles in enumerate(rows):
        nx, ny, _, _ = lay.numbers[r]
        _put(sheet, f"#{r + 1}", nx, ny + _text_h(lay.font_scale, lay.thickness), lay)
        for c, tile in enumerate(tiles):
            x, y, w, h = lay.tiles[r][c]
            img = tile if tile.ndim == 3 else np.stack([tile] * 3, -1)
            sheet[y : y + h, x : x + w] = cv2.resize(
                img[..., :3], (w, h), interpolation=cv2.INTER_NEAREST
            )
            value = None if psnrs is None else psnrs[r][c]
            if value is not None:
                cx, cy, _, ch = lay.captions[r][c]
                _put(sheet, f"{value:.2f} dB", cx, cy + ch - 8, lay)
    return sheet
