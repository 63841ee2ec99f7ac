import gc
import os
import os.path as osp
import random
import shutil

import cv2
import numpy as np
import pytest
import torch
from _localsr_data import localsr_dataset_opt
from _synthetic import write_synthetic_pairs
from basicsr.data import build_dataset
from basicsr.utils.lmdb_util import make_lmdb_from_imgs

from clsr_plugin.data.bicubic_lr import downscale


def _opt(hr, lr, phase="train", **kw):
    return localsr_dataset_opt(hr, lr, phase, **{"lq_size": 12, **kw})


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("pairs"))
    return write_synthetic_pairs(root, num_images=3, hr_size=(82, 103), seed=1)


def test_train_item_shapes_and_box(pairs):
    ds = build_dataset(_opt(*pairs, roi_placement="random"))
    assert len(ds) == 3
    for i in range(6):
        item = ds[i % 3]
        assert item["lq"].shape == (3, 12, 12) and item["gt"].shape == (3, 48, 48)
        assert item["roi"].dtype == torch.long and item["roi"].shape == (4,)
        x, y, w, h = item["roi"].tolist()
        assert (w, h) == (8, 8) and 0 <= x <= 4 and 0 <= y <= 4
        assert item["lq_path"].endswith(".png") and item["gt_path"].endswith(".png")


def _coordinate_pairs(root, lr_hw, scale):
    """LR whose pixels encode their own (x, y); HR = nearest-neighbour upscale of it."""
    h, w = lr_hw
    lr = np.zeros((h, w, 3), np.uint8)
    lr[..., 2] = np.arange(w)[None, :]  # R = x (BGR order on disk)
    lr[..., 1] = np.arange(h)[:, None]  # G = y
    lr[..., 0] = 7
    hr = lr.repeat(scale, 0).repeat(scale, 1)
    os.makedirs(osp.join(root, "HR"))
    os.makedirs(osp.join(root, "LR"))
    cv2.imwrite(osp.join(root, "HR", "a.png"), hr)
    cv2.imwrite(osp.join(root, "LR", "a.png"), lr)
    return osp.join(root, "HR"), osp.join(root, "LR")


@pytest.mark.parametrize("placement", ["center", "random"])
def test_augmentation_moves_box_with_the_pixels(tmp_path, placement):
    hr, lr = _coordinate_pairs(str(tmp_path), (40, 50), 2)
    ds = build_dataset(
        _opt(hr, lr, scale=2, lq_size=[10, 14], roi_size=[4, 6], roi_placement=placement)
    )
    seen_transposed = False
    for seed in range(24):
        random.seed(seed)
        item = ds[0]
        lq = (item["lq"] * 255).round().long()  # (3, h, w) RGB: R = x, G = y
        gt = (item["gt"] * 255).round().long()
        # HR stays the nearest upscale of LR through every flip/rotation
        assert torch.equal(gt, lq.repeat_interleave(2, 1).repeat_interleave(2, 2))
        x, y, w, h = item["roi"].tolist()
        xs, ys = lq[0, y : y + h, x : x + w], lq[1, y : y + h, x : x + w]
        if lq.shape[1:] == (14, 10):
            seen_transposed = True
        # the box frames a 4 (rows) x 6 (cols) rectangle of the original image
        assert xs.unique().numel() == 6 and ys.unique().numel() == 4
        assert xs.max() - xs.min() == 5 and ys.max() - ys.min() == 3
        if placement == "center":
            x0, y0 = int(lq[0].min()), int(lq[1].min())  # context origin in the original image
            assert (int(xs.min()) - x0, int(ys.min()) - y0) == (4, 3)
    assert seen_transposed


def test_val_item_whole_image_and_grid(pairs):
    ds = build_dataset(_opt(*pairs, phase="val", roi_size=8))
    item = ds[0]
    # LR of an 82x103 HR is 20x25; cropped to a multiple of 8: 16x24
    assert item["lq"].shape == (3, 16, 24) and item["gt"].shape == (3, 64, 96)
    assert item["rois"].shape == (6, 4)
    lr_disk = cv2.imread(item["lq_path"])[:16, :24, ::-1].astype(np.float32) / 255
    np.testing.assert_allclose(item["lq"].permute(1, 2, 0).numpy(), lr_disk, atol=1e-6)
    shift = build_dataset(_opt(*pairs, phase="val", roi_size=8, roi_remainder="shift"))[0]
    assert shift["lq"].shape == (3, 20, 25) and shift["gt"].shape == (3, 80, 100)
    assert shift["rois"].shape == (3 * 4, 4)


def test_hr_only_mode_makes_lr_with_matlab_bicubic(pairs):
    hr_dir, lr_dir = pairs
    val = build_dataset(_opt(hr_dir, None, phase="val", roi_size=8))[1]
    paired = build_dataset(_opt(hr_dir, lr_dir, phase="val", roi_size=8))[1]
    assert torch.equal(val["lq"], paired["lq"]) and torch.equal(val["gt"], paired["gt"])
    train = build_dataset(_opt(hr_dir, None, use_hflip=False, use_rot=False))
    random.seed(3)
    item = train[1]
    gt = item["gt"].permute(1, 2, 0).numpy()
    # LR patch = bicubic of the HR patch, up to the patch border (kernel reach 2 px)
    inner = downscale(np.ascontiguousarray(gt), 4)[2:-2, 2:-2]
    np.testing.assert_allclose(
        item["lq"].permute(1, 2, 0).numpy()[2:-2, 2:-2], inner, atol=1.5 / 255
    )


def _make_lmdb(folder, lmdb_path):
    names = sorted(os.listdir(folder))
    make_lmdb_from_imgs(folder, lmdb_path, names, [osp.splitext(n)[0] for n in names])


def test_lmdb_reads_the_same_samples_as_disk(pairs, tmp_path):
    hr_dir, lr_dir = pairs
    hr_lmdb, lr_lmdb = str(tmp_path / "hr.lmdb"), str(tmp_path / "lr.lmdb")
    _make_lmdb(hr_dir, hr_lmdb)
    _make_lmdb(lr_dir, lr_lmdb)
    for phase in ("train", "val"):
        disk = build_dataset(_opt(hr_dir, lr_dir, phase=phase, roi_placement="random"))
        lmdb = build_dataset(
            _opt(
                hr_lmdb, lr_lmdb, phase=phase, roi_placement="random", io_backend=dict(type="lmdb")
            )
        )
        assert len(disk) == len(lmdb) == 3
        for i in range(3):
            random.seed(i)
            a = disk[i]
            random.seed(i)
            b = lmdb[i]
            for key in ("lq", "gt", "roi", "rois"):
                if key in a:
                    assert torch.equal(a[key], b[key]), (phase, i, key)
            assert osp.splitext(osp.basename(a["gt_path"]))[0] == b["gt_path"]
        del lmdb  # py-lmdb opens one environment per path and process: release it
        gc.collect()
    # HR-only LMDB too
    hr_only = build_dataset(_opt(hr_lmdb, None, phase="val", io_backend=dict(type="lmdb")))
    assert torch.equal(hr_only[0]["lq"], build_dataset(_opt(hr_dir, lr_dir, phase="val"))[0]["lq"])


def test_bad_data_fails_at_start_up_naming_the_file(pairs, tmp_path):
    hr_dir, lr_dir = pairs
    # missing LR partner
    lr2 = str(tmp_path / "lr_missing")
    shutil.copytree(lr_dir, lr2)
    os.remove(osp.join(lr2, "img_001.png"))
    with pytest.raises(ValueError, match="img_001"):
        build_dataset(_opt(hr_dir, lr2))
    # LR not HR / 4
    lr3 = str(tmp_path / "lr_wrong")
    shutil.copytree(lr_dir, lr3)
    cv2.imwrite(osp.join(lr3, "img_002.png"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match=r"img_002.*x4|size mismatch.*img_002"):
        build_dataset(_opt(hr_dir, lr3))
    # context patch larger than the images
    with pytest.raises(ValueError, match="img_000.*smaller than the context patch"):
        build_dataset(_opt(hr_dir, lr_dir, lq_size=24, roi_size=8))
    # missing folder
    with pytest.raises(ValueError, match="dataroot_lq folder not found"):
        build_dataset(_opt(hr_dir, str(tmp_path / "nope")))
    # LMDB whose meta_info lists a key that is not stored
    hr_lmdb, lr_lmdb = str(tmp_path / "hr.lmdb"), str(tmp_path / "lr.lmdb")
    _make_lmdb(hr_dir, hr_lmdb)
    _make_lmdb(lr_dir, lr_lmdb)
    for path in (hr_lmdb, lr_lmdb):
        with open(osp.join(path, "meta_info.txt"), "a") as f:
            f.write("ghost.png (80,100,3) 1\n")
    with pytest.raises(ValueError, match="ghost"):
        build_dataset(_opt(hr_lmdb, lr_lmdb, io_backend=dict(type="lmdb")))
    # option errors
    with pytest.raises(ValueError, match="larger than lq_size"):
        build_dataset(_opt(hr_dir, lr_dir, roi_size=16, lq_size=12))
    with pytest.raises(ValueError, match="roi_remainder"):
        build_dataset(_opt(hr_dir, lr_dir, phase="val", roi_remainder="pad"))


def test_skip_small_images_leaves_them_out(tmp_path):
    hr, lr = write_synthetic_pairs(str(tmp_path / "a"), num_images=2, hr_size=(64, 64), seed=0)
    # overwrite img_000 with a small image
    write_synthetic_pairs(str(tmp_path / "a"), num_images=1, hr_size=(32, 40), seed=9)
    with pytest.raises(ValueError, match="img_000.*smaller"):
        build_dataset(_opt(hr, lr, lq_size=12))
    ds = build_dataset(_opt(hr, lr, lq_size=12, skip_small_images=True))
    assert [osp.basename(p["gt_path"]) for p in ds.paths] == ["img_001.png"]
    with pytest.raises(ValueError, match="every image"):
        build_dataset(_opt(hr, lr, lq_size=20, skip_small_images=True))
