import numpy as np
from _synthetic import synthetic_hr

from clsr_plugin.data.bicubic_lr import downscale, lr_patch


def test_patch_equals_the_patch_of_the_downscaled_whole_image():
    hr = synthetic_hr(120, 152, seed=3)
    full = downscale(hr, 4)
    assert full.shape == (30, 38, 3)
    assert np.array_equal(full, np.round(full * 255) / 255)  # 8-bit grid, like saved LR files
    for top, left in [(0, 0), (5, 9), (18, 26), (0, 24), (12, 0)]:
        np.testing.assert_array_equal(
            lr_patch(hr, top, left, (12, 12), 4), full[top : top + 12, left : left + 12]
        )
