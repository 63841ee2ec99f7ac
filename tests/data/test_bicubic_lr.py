import numpy as np
import pytest
from _synthetic import synthetic_hr

from clsr_plugin.data.bicubic_lr import downscale, downscale_uint8, lr_patch


def test_patch_equals_the_patch_of_the_downscaled_whole_image():
    hr = synthetic_hr(120, 152, seed=3)
    full = downscale(hr, 4)
    assert full.shape == (30, 38, 3)
    assert np.array_equal(full, np.round(full * 255) / 255)  # 8-bit grid, like saved LR files
    for top, left in [(0, 0), (5, 9), (18, 26), (0, 24), (12, 0)]:
        np.testing.assert_array_equal(
            lr_patch(hr, top, left, (12, 12), 4), full[top : top + 12, left : left + 12]
        )


def test_uint8_downscale_is_basicsr_generate_bicubic_recipe():
    from basicsr.utils.matlab_functions import imresize

    hr = (synthetic_hr(48, 60, seed=1) * 255).round().astype(np.uint8)
    ref = imresize(hr.astype(np.float32) / 255.0, 1 / 4)
    ref = np.clip((ref * 255.0).round(), 0, 255).astype(np.uint8)
    out = downscale_uint8(hr, 4)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError, match="not a multiple of scale 4"):
        downscale_uint8(hr[:47], 4)
