"""The one image listing / header / atomic-write module of the package and datasets_prep."""

import os

import cv2
import numpy as np
import pytest

from clsr_plugin.utils.atomic import write_bytes
from clsr_plugin.utils.image_checks import image_hw
from clsr_plugin.utils.image_io import image_names, list_images, write_image


def _folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    img = np.zeros((5, 7, 3), np.uint8)
    for name in ("b.png", "a.JPG", ".hidden.png"):
        assert cv2.imwrite(str(folder / name), img)
    (folder / "sub.png").mkdir()
    return folder


def test_image_names_skips_hidden_and_folders_and_is_strict_on_request(tmp_path):
    folder = _folder(tmp_path)
    assert image_names(str(folder)) == ["a.JPG", "b.png"]
    (folder / "notes.txt").write_text("hi")
    assert image_names(str(folder)) == ["a.JPG", "b.png"]
    with pytest.raises(ValueError, match="not an image file: .*notes.txt"):
        image_names(str(folder), strict=True)
    with pytest.raises(ValueError, match="HR folder not found: .*nope"):
        image_names(str(tmp_path / "nope"), "HR")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="input folder has no images: .*empty"):
        image_names(str(tmp_path / "empty"))


def test_list_images_expands_folders_and_keeps_files(tmp_path):
    folder = _folder(tmp_path)
    got = list_images([str(folder), str(folder / ".hidden.png")])
    assert got == [str(folder / "a.JPG"), str(folder / "b.png"), str(folder / ".hidden.png")]
    with pytest.raises(ValueError, match="Input not found"):
        list_images([str(tmp_path / "missing.png")])


def test_image_hw_from_headers_of_png_jpeg_and_bmp(tmp_path):
    img = np.zeros((5, 7, 3), np.uint8)
    for ext in (".png", ".jpg", ".bmp"):
        path = str(tmp_path / f"x{ext}")
        assert cv2.imwrite(path, img)
        assert image_hw(path) == (5, 7)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image header .*bad.png"):
        image_hw(str(tmp_path / "bad.png"))
    with pytest.raises(ValueError, match="not found"):
        image_hw(str(tmp_path / "missing.png"))


def test_write_image_is_atomic_through_the_given_temporary_name(tmp_path, monkeypatch):
    img = (np.arange(6 * 8 * 3) % 251).astype(np.uint8).reshape(6, 8, 3)
    path, tmp = str(tmp_path / "a.png"), str(tmp_path / ".tmp-a.png")
    write_image(path, img, compress_level=9, tmp=tmp)
    np.testing.assert_array_equal(cv2.imread(path, cv2.IMREAD_UNCHANGED), img)
    assert sorted(os.listdir(tmp_path)) == ["a.png"]

    def fail(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_bytes(path, b"new", tmp=tmp)
    assert sorted(os.listdir(tmp_path)) == ["a.png"]  # the temporary file is gone, a.png kept
    np.testing.assert_array_equal(cv2.imread(path, cv2.IMREAD_UNCHANGED), img)
