import pytest
import torch

from clsr_plugin.data.roi_grid import grid_extent, roi_grid


def _coverage(boxes, height, width):
    count = torch.zeros(height, width, dtype=torch.long)
    for x, y, w, h in boxes.tolist():
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        count[y : y + h, x : x + w] += 1
    return count


@pytest.mark.parametrize("height,width", [(48, 72), (50, 61), (24, 24), (97, 30)])
def test_crop_grid_partitions_the_evaluated_image_exactly(height, width):
    eh, ew = grid_extent(height, width, (24, 24), "crop")
    assert (eh % 24, ew % 24) == (0, 0) and eh <= height and ew <= width
    assert height - eh < 24 and width - ew < 24
    boxes = roi_grid(height, width, (24, 24), "crop")
    assert boxes.dtype == torch.long and boxes.shape == ((eh // 24) * (ew // 24), 4)
    assert torch.equal(_coverage(boxes, eh, ew), torch.ones(eh, ew, dtype=torch.long))
    assert set(boxes[:, 2:].flatten().tolist()) == {24}


@pytest.mark.parametrize(
    "height,width,roi",
    [(50, 61, (24, 24)), (48, 72, (24, 24)), (30, 17, (24, 24)), (40, 40, (16, 12))],
)
def test_shift_grid_covers_the_whole_image_with_full_size_tiles(height, width, roi):
    assert grid_extent(height, width, roi, "shift") == (height, width)
    boxes = roi_grid(height, width, roi, "shift")
    count = _coverage(boxes, height, width)
    assert (count >= 1).all()
    # tiles keep the ROI size (or the image side when the image is smaller)
    assert set(boxes[:, 3].tolist()) == {min(roi[0], height)}
    assert set(boxes[:, 2].tolist()) == {min(roi[1], width)}
    # overlap only appears where a remainder forced the last row/column inward
    if height % roi[0] == 0 and width % roi[1] == 0:
        assert (count == 1).all()
    else:
        assert (count == 2).any()


def test_grid_errors():
    with pytest.raises(ValueError, match="smaller than one ROI"):
        grid_extent(20, 50, (24, 24), "crop")
    with pytest.raises(ValueError, match="roi_remainder"):
        roi_grid(48, 48, (24, 24), "pad")
