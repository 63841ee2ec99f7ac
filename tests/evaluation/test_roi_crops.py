import pytest
import torch

from clsr_plugin.evaluation.roi_crops import crop_rois


def test_one_box_per_image_and_shared_image():
    img = torch.arange(2 * 1 * 16 * 20, dtype=torch.float32).view(2, 1, 16, 20)
    boxes = torch.tensor([[1, 2, 3, 2], [0, 0, 3, 2]])
    out = crop_rois(img, boxes, scale=2)
    assert out.shape == (2, 1, 4, 6)
    assert torch.equal(out[0], img[0, :, 4:8, 2:8]) and torch.equal(out[1], img[1, :, 0:4, 0:6])
    shared = crop_rois(img[:1], boxes, scale=1)
    assert torch.equal(shared[1], img[0, :, 0:2, 0:3])
    with pytest.raises(ValueError, match="one size"):
        crop_rois(img, torch.tensor([[0, 0, 2, 2], [0, 0, 3, 2]]))
    with pytest.raises(ValueError, match="images for"):
        crop_rois(img, torch.tensor([[0, 0, 2, 2]] * 3))
