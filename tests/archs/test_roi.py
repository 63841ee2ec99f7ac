import pytest
import torch

from clsr_plugin.archs.roi import check_boxes, padded_window, padded_windows

H, W = 20, 30


@pytest.mark.parametrize(
    "box, pad, expected",
    [
        ((10, 8, 4, 4), 2, (8, 6, 8, 8)),  # interior: grown on every side
        ((0, 0, 4, 4), 2, (0, 0, 8, 8)),  # top-left corner: shifted inside, same size
        ((26, 16, 4, 4), 2, (22, 12, 8, 8)),  # bottom-right corner
        ((1, 17, 3, 3), 2, (0, 13, 7, 7)),  # near left / bottom edges
        ((5, 5, 4, 4), 0, (5, 5, 4, 4)),  # no padding
        ((0, 0, 30, 20), 5, (0, 0, 30, 20)),  # whole image: clamped to the image
        ((3, 2, 26, 10), 4, (0, 0, 30, 18)),  # wider than the image allows
    ],
)
def test_padded_window_cases(box, pad, expected):
    assert padded_window(box, pad, H, W) == expected


def test_padded_window_contains_roi_and_stays_inside():
    g = torch.Generator().manual_seed(1)
    for _ in range(300):
        w, h = (int(v) for v in torch.randint(1, 12, (2,), generator=g))
        x = int(torch.randint(0, W - w + 1, (1,), generator=g))
        y = int(torch.randint(0, H - h + 1, (1,), generator=g))
        pad = int(torch.randint(0, 9, (1,), generator=g))
        wx, wy, ww, wh = padded_window((x, y, w, h), pad, H, W)
        assert (ww, wh) == (min(w + 2 * pad, W), min(h + 2 * pad, H))  # size depends on w, h only
        assert 0 <= wx <= x and x + w <= wx + ww <= W
        assert 0 <= wy <= y and y + h <= wy + wh <= H
        if wx > 0 and wx + ww < W:  # away from the borders the ROI is centred
            assert x - wx == pad


def test_batched_equals_scalar():
    boxes = torch.tensor([[0, 0, 4, 4], [26, 16, 4, 4], [10, 3, 7, 2], [0, 19, 30, 1]])
    windows = padded_windows(boxes, 3, H, W)
    assert windows.dtype == torch.long and windows.shape == (4, 4)
    for box, win in zip(boxes.tolist(), windows.tolist()):
        assert tuple(win) == padded_window(box, 3, H, W)


@pytest.mark.parametrize(
    "box, match",
    [
        ((-1, 0, 4, 4), r"outside"),
        ((27, 0, 4, 4), r"outside"),
        ((0, 17, 4, 4), r"outside"),
        ((0, 0, 0, 4), r"w=0"),
        ((0, 0, 4, -2), r"h=-2"),
    ],
)
def test_bad_boxes(box, match):
    with pytest.raises(ValueError, match=match):
        padded_window(box, 2, H, W)
    with pytest.raises(ValueError, match=match):
        padded_windows(torch.tensor([box]), 2, H, W)


def test_bad_arguments():
    with pytest.raises(ValueError, match="roi_pad"):
        padded_window((0, 0, 2, 2), -1, H, W)
    with pytest.raises(ValueError, match=r"\(x, y, w, h\)"):
        padded_window((0, 0, 2), 1, H, W)
    with pytest.raises(ValueError, match="integer"):
        check_boxes(torch.zeros(1, 4), H, W)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        check_boxes(torch.zeros(2, 3, dtype=torch.long), H, W)
    with pytest.raises(ValueError, match="one size"):
        check_boxes(torch.tensor([[0, 0, 2, 2], [0, 0, 3, 2]]), H, W)
    assert (
        check_boxes(torch.tensor([[0, 0, 2, 2], [0, 0, 3, 2]]), H, W, same_size=False).shape[0] == 2
    )
