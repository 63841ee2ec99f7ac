import os
import os.path as osp

import cv2
import numpy as np
import pytest
from basicsr.utils.matlab_functions import imresize
from prep_helpers import structured_image, write_images

from datasets_prep.common import PrepError
from datasets_prep.generate_lr import bicubic_downsample, generate_lr, lr_name


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_file_equals_basicsr_imresize(tmp_path, scale):
    hr = structured_image(61, 50, seed=3)
    os.makedirs(tmp_path / "HR")
    cv2.imwrite(str(tmp_path / "HR" / "0001.png"), hr)
    generate_lr(str(tmp_path / "HR"), str(tmp_path / "LR"), scale, hr_mod_dir=str(tmp_path / "M"))

    h, w = 61 - 61 % scale, 50 - 50 % scale
    mod = hr[:h, :w]
    # BasicSR's generate_bicubic_img recipe, written out independently of the tool.
    ref = imresize(mod.astype(np.float32) / 255.0, 1 / scale)
    ref = np.clip((ref * 255.0).round(), 0, 255).astype(np.uint8)
    lr = cv2.imread(str(tmp_path / "LR" / f"0001x{scale}.png"), cv2.IMREAD_UNCHANGED)
    assert lr.shape == (h // scale, w // scale, 3)
    np.testing.assert_array_equal(lr, ref)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "M" / "0001.png")), mod)


def test_bicubic_of_constant_image_is_constant():
    img = np.full((24, 36, 3), 77, np.uint8)
    out = bicubic_downsample(img, 4)
    assert out.shape == (6, 9, 3) and out.dtype == np.uint8
    assert (out == 77).all()


def test_bicubic_rejects_non_multiple():
    with pytest.raises(PrepError, match="not a multiple of scale 4"):
        bicubic_downsample(np.zeros((10, 12, 3), np.uint8), 4)


def test_names_and_grayscale(hr_dir, tmp_path, capsys):
    out = str(tmp_path / "LR")
    counts = generate_lr(hr_dir, out, 4)
    assert counts == {"written": 5, "skipped": 0}
    names = sorted(n for n in os.listdir(out) if not n.startswith("."))
    assert names == [f"{i:04d}x4.png" for i in range(1, 6)]
    gray_lr = cv2.imread(osp.join(out, "0003x4.png"), cv2.IMREAD_UNCHANGED)
    assert gray_lr.shape == (101 // 4, 77 // 4, 3)
    assert (gray_lr[..., 0] == gray_lr[..., 1]).all() and (gray_lr[..., 1] == gray_lr[..., 2]).all()
    assert "0003.png is grayscale" in capsys.readouterr().out
    assert lr_name("0001.png", "{}", 4) == "0001.png"


def test_rerun_skips_and_missing_file_is_redone(hr_dir, tmp_path):
    out = str(tmp_path / "LR")
    generate_lr(hr_dir, out, 4)
    before = os.stat(osp.join(out, "0001x4.png")).st_mtime_ns
    os.remove(osp.join(out, "0002x4.png"))
    assert generate_lr(hr_dir, out, 4) == {"written": 1, "skipped": 4}
    assert os.stat(osp.join(out, "0001x4.png")).st_mtime_ns == before
    assert osp.isfile(osp.join(out, "0002x4.png"))


def test_refuses_other_settings_and_foreign_folder(hr_dir, tmp_path):
    out = str(tmp_path / "LR")
    generate_lr(hr_dir, out, 4)
    with pytest.raises(PrepError, match="different settings"):
        generate_lr(hr_dir, out, 2)
    foreign = tmp_path / "mine"
    write_images(str(foreign), [(8, 8)])
    with pytest.raises(PrepError, match="not made by datasets_prep"):
        generate_lr(hr_dir, str(foreign), 4)
    assert os.listdir(foreign) == ["0001.png"]


def test_image_smaller_than_scale(tmp_path):
    write_images(str(tmp_path / "HR"), [(3, 40)])
    with pytest.raises(PrepError, match="smaller than the scale 4: .*0001.png"):
        generate_lr(str(tmp_path / "HR"), str(tmp_path / "LR"), 4)
