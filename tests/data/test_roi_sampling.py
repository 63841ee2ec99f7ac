import random

import numpy as np
import pytest
from basicsr.data.transforms import augment

from clsr_plugin.data.roi_sampling import as_hw, augment_box, place_roi


def test_center_and_random_placement():
    assert place_roi((54, 54), (48, 48), "center") == (3, 3, 48, 48)
    assert place_roi((10, 20), (4, 5), "center") == (7, 3, 5, 4)
    rng = random.Random(0)
    seen = {place_roi((12, 12), (4, 4), "random", rng)[:2] for _ in range(500)}
    xs, ys = {p[0] for p in seen}, {p[1] for p in seen}
    assert xs == set(range(9)) and ys == set(range(9))  # borders and corners included
    with pytest.raises(ValueError, match="roi_placement"):
        place_roi((12, 12), (4, 4), "middle")
    with pytest.raises(ValueError, match="does not fit"):
        place_roi((12, 12), (13, 4))


@pytest.mark.parametrize("seed", range(12))
def test_augmented_box_still_frames_the_same_pixels(seed):
    random.seed(seed)
    height, width = 9, 13
    img = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    box = (2, 1, 6, 3)  # non-square on purpose: the transpose must swap w and h
    x, y, w, h = box
    before = img[y : y + h, x : x + w].copy()
    out, status = augment([img.copy()], True, True, return_status=True)
    out = out if isinstance(out, np.ndarray) else out[0]
    ax, ay, aw, ah = augment_box(box, (height, width), *status)
    after = out[ay : ay + ah, ax : ax + aw]
    # undo the same ops on the crop: the crop itself went through flips/transposition
    hflip, vflip, rot90 = status
    ref = before
    if hflip:
        ref = ref[:, ::-1]
    if vflip:
        ref = ref[::-1]
    if rot90:
        ref = ref.transpose(1, 0, 2)
    np.testing.assert_array_equal(after, ref)


def test_as_hw():
    assert as_hw(24, "roi_size") == (24, 24)
    assert as_hw([16, 32], "roi_size") == (16, 32)
    for bad in (0, -3, [1, 2, 3], "24", 2.5, True):
        with pytest.raises(ValueError, match="roi_size"):
            as_hw(bad, "roi_size")
