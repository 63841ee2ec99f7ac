import os
import os.path as osp

import cv2
import numpy as np
import pytest
from prep_helpers import write_images

from datasets_prep.common import TMP_PREFIX, PrepError
from datasets_prep.extract_subimages import crop_starts, extract_subimages


def _reference_starts(length, crop, step, thresh):
    # BasicSR's extract_subimages rule, with numpy as in the original script.
    space = np.arange(0, length - crop + 1, step)
    if length - (space[-1] + crop) > thresh:
        space = np.append(space, length - crop)
    return [int(v) for v in space]


@pytest.mark.parametrize("length", [480, 500, 504, 505, 719, 720, 1356, 2040])
def test_crop_starts_match_basicsr_rule(length):
    assert crop_starts(length, 480, 240, 24) == _reference_starts(length, 480, 240, 24)


def test_crop_starts_small_image_gives_none():
    assert crop_starts(100, 240, 120, 24) == []


def test_subimages_content_names_and_modcrop(tmp_path):
    imgs = write_images(str(tmp_path / "in"), [(70, 101), (20, 20)])
    c = extract_subimages(
        str(tmp_path / "in"), str(tmp_path / "out"), crop=32, step=16, thresh=3, mod_scale=4
    )
    # image 1 mod-cropped to 68 x 100: rows [0, 16, 32, 36], cols [0, 16, ..., 64, 68].
    rows, cols = [0, 16, 32, 36], [0, 16, 32, 48, 64, 68]
    assert crop_starts(68, 32, 16, 3) == rows and crop_starts(100, 32, 16, 3) == cols
    assert c == {"images": 2, "subimages": 24, "written": 1, "skipped": 1, "too_small": 1}
    names = sorted(n for n in os.listdir(tmp_path / "out") if not n.startswith("."))
    assert names == [f"0001_s{i:03d}.png" for i in range(1, 25)]
    boxes = [(y, x) for y in rows for x in cols]
    for i, (y, x) in enumerate(boxes):
        sub = cv2.imread(str(tmp_path / "out" / f"0001_s{i + 1:03d}.png"))
        np.testing.assert_array_equal(sub, imgs[0][y : y + 32, x : x + 32])


def test_strip_suffix_gives_hr_names(tmp_path):
    folder = tmp_path / "lr"
    write_images(str(folder), [(16, 16)])
    os.rename(folder / "0001.png", folder / "0001x4.png")
    extract_subimages(str(folder), str(tmp_path / "out"), 8, 8, 0, strip_suffix="x4")
    assert sorted(os.listdir(tmp_path / "out"))[1:] == [f"0001_s{i:03d}.png" for i in range(1, 5)]
    os.rename(folder / "0001x4.png", folder / "0001x3.png")
    with pytest.raises(PrepError, match="does not end with 'x4': .*0001x3.png"):
        extract_subimages(str(folder), str(tmp_path / "out2"), 8, 8, 0, strip_suffix="x4")


def test_rerun_skips_resumes_and_cleans_own_temp_files(tmp_path):
    write_images(str(tmp_path / "in"), [(40, 40), (40, 48)])
    out = tmp_path / "out"
    extract_subimages(str(tmp_path / "in"), str(out), 16, 8, 0)
    first = {n: (out / n).read_bytes() for n in os.listdir(out)}
    mtime = os.stat(out / "0001_s001.png").st_mtime_ns
    os.remove(out / "0002_s003.png")
    (out / f"{TMP_PREFIX}123-0002_s004.png").write_bytes(b"truncated")
    c = extract_subimages(str(tmp_path / "in"), str(out), 16, 8, 0)
    assert (c["written"], c["skipped"]) == (1, 1)
    assert os.stat(out / "0001_s001.png").st_mtime_ns == mtime
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == first


def test_parallel_equals_serial(tmp_path):
    write_images(str(tmp_path / "in"), [(40, 56), (48, 40), (33, 64)])
    extract_subimages(str(tmp_path / "in"), str(tmp_path / "a"), 16, 8, 2, workers=1)
    extract_subimages(str(tmp_path / "in"), str(tmp_path / "b"), 16, 8, 2, workers=2)
    a = {n: (tmp_path / "a" / n).read_bytes() for n in os.listdir(tmp_path / "a")}
    b = {n: (tmp_path / "b" / n).read_bytes() for n in os.listdir(tmp_path / "b")}
    assert a == b and len(a) > 10


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(PrepError, match="input folder not found: .*nope"):
        extract_subimages(str(tmp_path / "nope"), str(tmp_path / "out"))
    write_images(str(tmp_path / "in"), [(20, 20)])
    (tmp_path / "in" / "notes.txt").write_text("hi")
    with pytest.raises(PrepError, match="not an image file: .*notes.txt"):
        extract_subimages(str(tmp_path / "in"), str(tmp_path / "out"))
    os.remove(tmp_path / "in" / "notes.txt")
    (tmp_path / "in" / "0002.png").write_bytes(b"not a png")
    with pytest.raises(PrepError, match="cannot read image header .*0002.png"):
        extract_subimages(str(tmp_path / "in"), str(tmp_path / "out"), 8, 8, 0)
    assert osp.isfile(tmp_path / "in" / "0002.png")
