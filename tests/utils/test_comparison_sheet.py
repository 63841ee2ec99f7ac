"""The comparison-sheet renderer: overview with numbered ROI boxes, one row per ROI, PSNRs."""

import numpy as np
import pytest

from clsr_plugin.utils.comparison_sheet import (
    BOX_COLOUR,
    comparison_sheet,
    sheet_layout,
    textured_rois,
    tile_psnr,
)

LABELS = ["bicubic", "pre", "post", "CLSR", "GT"]


def _rows(n: int, size: int = 16) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return [[rng.integers(0, 200, (size, size, 3), dtype=np.uint8) for _ in LABELS]
            for _ in range(n)]  # fmt: skip


def _blank(sheet: np.ndarray, rect) -> bool:
    x, y, w, h = rect
    return bool((sheet[y : y + h, x : x + w] == 255).all())


def test_layout_is_overview_then_one_row_per_roi_with_psnr_captions():
    overview = np.full((64, 96, 3), 128, np.uint8)
    rows = _rows(3)
    psnrs = [[20.0, 21.0, 22.0, 23.0, None]] * 3
    boxes = [(0, 0, 16, 16), (40, 8, 16, 16), (70, 40, 16, 16)]
    sheet = comparison_sheet(rows, LABELS, overview, boxes, psnrs, title="img")
    lay = sheet_layout([[t.shape[:2] for t in r] for r in rows], 5, (64, 96), title=True)
    assert sheet.shape == (lay.height, lay.width, 3)
    assert len(lay.tiles) == 3 and all(len(r) == 5 for r in lay.tiles)
    assert lay.magnify == 8 and lay.tiles[0][0][2:] == (128, 128)  # legible tiles
    ox, oy, ow, oh = lay.overview
    assert oy + oh <= lay.header[1] <= lay.tiles[0][0][1]  # the overview comes first
    assert [r[0][1] for r in lay.tiles] == sorted(r[0][1] for r in lay.tiles)  # rows go down
    x, y, w, h = lay.tiles[1][2]
    np.testing.assert_array_equal(sheet[y : y + h : 8, x : x + w : 8], rows[1][2])
    for c in range(4):  # a PSNR printed under every method, none under GT
        assert not _blank(sheet, lay.captions[2][c])
    assert _blank(sheet, lay.captions[2][4])
    assert not _blank(sheet, lay.title) and not _blank(sheet, lay.numbers[0])


def test_roi_boxes_are_drawn_on_the_overview():
    overview = np.full((64, 96, 3), 128, np.uint8)
    rows = _rows(2)
    boxes = [(8, 24, 16, 16), (64, 40, 16, 16)]
    sheet = comparison_sheet(rows, LABELS, overview, boxes)
    lay = sheet_layout([[t.shape[:2] for t in r] for r in rows], 5, (64, 96))
    ox, oy, ow, oh = lay.overview
    s = ow / 96
    region = sheet[oy : oy + oh, ox : ox + ow]
    magenta = (region == np.array(BOX_COLOUR, np.uint8)).all(-1)
    for bx, by, bw, bh in boxes:  # the box's bottom edge is magenta, its inside is not
        yb = round((by + bh) * s) - 1
        assert magenta[yb, round(bx * s) + 3 : round((bx + bw) * s) - 3].all()
        assert not magenta[round((by + bh / 2) * s), round((bx + bw / 2) * s)]
    plain = comparison_sheet(rows, LABELS, overview)
    assert not (plain == np.array(BOX_COLOUR, np.uint8)).all(-1).any()


def test_without_overview_the_sheet_is_the_grid_only():
    rows = _rows(2)
    lay = sheet_layout([[t.shape[:2] for t in r] for r in rows], 5)
    assert lay.overview is None and lay.title is None
    assert comparison_sheet(rows, LABELS).shape == (lay.height, lay.width, 3)


def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(ValueError, match="one tile per label"):
        comparison_sheet([[np.zeros((4, 4, 3), np.uint8)]], LABELS)
    with pytest.raises(ValueError, match="one box per row"):
        comparison_sheet(_rows(2), LABELS, np.zeros((8, 8, 3), np.uint8), [(0, 0, 4, 4)])
    with pytest.raises(ValueError, match="psnrs"):
        comparison_sheet(_rows(2), LABELS, psnrs=[[1.0] * 5])


def test_textured_rois_rank_by_gradient_energy_deterministically():
    img = np.zeros((16, 48), np.uint8)
    img[:, 16:32] = np.indices((16, 16)).sum(0) % 2 * 255  # checkerboard in box 1
    img[:, 32:48:4] = 100  # stripes in box 2
    boxes = [(0, 0, 16, 16), (16, 0, 16, 16), (32, 0, 16, 16)]
    assert textured_rois(img, boxes, 2) == [1, 2]
    assert textured_rois(np.zeros((16, 48)), boxes, 3) == [0, 1, 2]  # ties keep box order


def test_tile_psnr():
    a = np.zeros((4, 4, 3), np.uint8)
    assert tile_psnr(a, a) == 100.0
    assert tile_psnr(a, a + 1) == pytest.approx(10 * np.log10(255.0**2))
