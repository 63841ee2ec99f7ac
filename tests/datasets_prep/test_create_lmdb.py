import os
import os.path as osp
import random

import basicsr.utils.lmdb_util as lmdb_util
import cv2
import numpy as np
import pytest
import torch
from basicsr.data.paired_image_dataset import PairedImageDataset
from prep_helpers import read_lmdb, write_images

from datasets_prep.common import TMP_PREFIX, PrepError
from datasets_prep.create_lmdb import create_lmdb, create_lmdb_pair, main
from datasets_prep.extract_subimages import extract_subimages
from datasets_prep.generate_lr import generate_lr


def test_keys_meta_info_and_bytes_round_trip(tmp_path):
    imgs = write_images(str(tmp_path / "imgs"), [(20, 30), (17, 9), (12, 12)], gray=(1,))
    path = str(tmp_path / "imgs.lmdb")
    assert create_lmdb(str(tmp_path / "imgs"), path) is True
    items = read_lmdb(path)
    assert sorted(items) == ["0001", "0002", "0003"]
    with open(osp.join(path, "meta_info.txt")) as f:
        lines = f.read().splitlines()
    assert lines == ["0001.png (20,30,3) 1", "0002.png (17,9,1) 1", "0003.png (12,12,3) 1"]
    for key, img in zip(["0001", "0002", "0003"], imgs):
        dec = cv2.imdecode(np.frombuffer(items[key], np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(dec, img)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(TMP_PREFIX)]


def test_finished_lmdb_is_skipped_and_never_overwritten(tmp_path):
    write_images(str(tmp_path / "imgs"), [(8, 8), (8, 8)])
    path = str(tmp_path / "imgs.lmdb")
    create_lmdb(str(tmp_path / "imgs"), path)
    mtime = os.stat(osp.join(path, "data.mdb")).st_mtime_ns
    assert create_lmdb(str(tmp_path / "imgs"), path) is False
    assert os.stat(osp.join(path, "data.mdb")).st_mtime_ns == mtime
    write_images(str(tmp_path / "imgs"), [(8, 8), (8, 8), (8, 8)])  # the folder changed
    with pytest.raises(PrepError, match="made from other images"):
        create_lmdb(str(tmp_path / "imgs"), path)
    os.makedirs(tmp_path / "user.lmdb")
    with pytest.raises(PrepError, match="user.lmdb exists but was not made by datasets_prep"):
        create_lmdb(str(tmp_path / "imgs"), str(tmp_path / "user.lmdb"))
    assert os.listdir(tmp_path / "user.lmdb") == []


def test_interrupted_lmdb_is_not_left_looking_complete_and_resumes(tmp_path, monkeypatch):
    write_images(str(tmp_path / "imgs"), [(10, 10)] * 6)
    path = str(tmp_path / "imgs.lmdb")
    calls = {"n": 0}
    real = lmdb_util.read_img_worker

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(lmdb_util, "read_img_worker", flaky)
    with pytest.raises(KeyboardInterrupt):
        create_lmdb(str(tmp_path / "imgs"), path)
    assert not osp.exists(path)  # only the hidden temporary LMDB exists
    assert osp.isdir(tmp_path / f"{TMP_PREFIX}imgs.lmdb")
    monkeypatch.setattr(lmdb_util, "read_img_worker", real)
    assert create_lmdb(str(tmp_path / "imgs"), path) is True
    assert sorted(read_lmdb(path)) == [f"{i:04d}" for i in range(1, 7)]
    assert not osp.exists(tmp_path / f"{TMP_PREFIX}imgs.lmdb")


def test_bad_keys_and_bad_path(tmp_path):
    write_images(str(tmp_path / "imgs"), [(8, 8)])
    os.rename(tmp_path / "imgs" / "0001.png", tmp_path / "imgs" / "a.b.png")
    with pytest.raises(PrepError, match="unusable as a BasicSR LMDB key.*a.b.png"):
        create_lmdb(str(tmp_path / "imgs"))
    with pytest.raises(PrepError, match="must end with .lmdb"):
        create_lmdb(str(tmp_path / "imgs"), str(tmp_path / "x.db"))


def test_pair_cli_checks_counts_and_sizes(tmp_path, capsys):
    write_images(str(tmp_path / "gt"), [(16, 16), (16, 16)])
    write_images(str(tmp_path / "lq"), [(4, 4)])
    args = ["--gt", str(tmp_path / "gt"), "--lq", str(tmp_path / "lq"), "--scale", "4"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: HR/LR count mismatch: 2 images in") and "\n" not in err
    write_images(str(tmp_path / "lq"), [(4, 4), (4, 5)])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "HR/LR size mismatch at x4: " in err and "0002.png is 4x5" in err
    assert not osp.exists(str(tmp_path / "gt.lmdb"))


def _dataset(gt, lq, backend, phase="train"):
    opt = {
        "dataroot_gt": gt,
        "dataroot_lq": lq,
        "io_backend": {"type": backend},
        "gt_size": 16,
        "use_hflip": True,
        "use_rot": True,
        "scale": 4,
        "phase": phase,
    }
    return PairedImageDataset(opt)


def test_basicsr_paired_dataset_reads_lmdb_like_disk(tmp_path):
    write_images(str(tmp_path / "HR"), [(72, 88), (64, 64), (90, 70)], gray=(1,))
    generate_lr(str(tmp_path / "HR"), str(tmp_path / "LR"), 4)
    extract_subimages(str(tmp_path / "HR"), str(tmp_path / "HRs"), 32, 16, 4, mod_scale=4)
    extract_subimages(str(tmp_path / "LR"), str(tmp_path / "LRs"), 8, 4, 1, strip_suffix="x4")
    gt_lmdb, lq_lmdb = create_lmdb_pair(str(tmp_path / "HRs"), str(tmp_path / "LRs"), 4)

    for phase in ("train", "val"):
        disk = _dataset(str(tmp_path / "HRs"), str(tmp_path / "LRs"), "disk", phase)
        db = _dataset(gt_lmdb, lq_lmdb, "lmdb", phase)
        assert len(db) == len(disk) > 10
        disk_index = {
            osp.splitext(osp.basename(p["gt_path"]))[0]: i for i, p in enumerate(disk.paths)
        }
        for i in range(len(db)):
            random.seed(i)
            a = db[i]
            random.seed(i)
            b = disk[disk_index[a["gt_path"]]]
            assert a["lq_path"] == a["gt_path"]
            assert a["gt"].shape == b["gt"].shape and a["lq"].shape[-1] * 4 == a["gt"].shape[-1]
            assert torch.equal(a["gt"], b["gt"]) and torch.equal(a["lq"], b["lq"])
