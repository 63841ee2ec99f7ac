"""Issue 11, item 5: a truncated or corrupt image is one line naming the file, everywhere.

One check (:func:`clsr_plugin.utils.image_checks.check_image_complete`) serves ``clsr-infer``,
``LocalSRPairedDataset`` (at start-up for folders, when an item is read for LMDBs) and
``datasets_prep``; libjpeg alone decodes a truncated JPEG to a partly grey image and exit 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from _clsr_tiny import tiny_clsr, write_checkpoint
from _localsr_data import localsr_dataset_opt
from hostile_helpers import (
    cli,
    error_line,
    localsr_train_options,
    snapshot,
    truncated_copy,
    write_jpeg,
)

from clsr_plugin import infer
from clsr_plugin import train as clsr_train
from clsr_plugin.data.localsr_paired_dataset import LocalSRPairedDataset
from clsr_plugin.utils.image_checks import IncompleteImageError, check_image_complete
from datasets_prep import create_lmdb, generate_lr
from datasets_prep.common import TMP_PREFIX


def _encoded(ext: str, **params) -> bytes:
    img = (np.random.default_rng(0).random((60, 70, 3)) * 255).astype(np.uint8)
    flags = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if params.get("progressive") else []
    ok, buf = cv2.imencode(ext, img, flags)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", "progressive"])
def test_check_refuses_truncated_and_accepts_complete_images(ext):
    data = _encoded(".jpg", progressive=True) if ext == "progressive" else _encoded(ext)
    check_image_complete(data, "full")
    check_image_complete(data + b"\x00appended data", "appended")  # e.g. a motion photo
    for keep in (0.3, 0.9, (len(data) - 2) / len(data)):
        with pytest.raises(IncompleteImageError, match="^cut: incomplete image"):
            check_image_complete(data[: int(len(data) * keep)], "cut")


def test_jpeg_headers_larger_than_any_buffer_are_walked():
    """A big ICC profile is split over many APP2 segments: 1.2 MB of headers, still complete."""
    data = _encoded(".jpg")
    app2 = b"".join(b"\xff\xe2" + (60002).to_bytes(2, "big") + bytes(60000) for _ in range(20))
    big = data[:2] + app2 + data[2:]
    check_image_complete(big, "big")
    with pytest.raises(IncompleteImageError, match="no end-of-image marker"):
        check_image_complete(big[:-100], "big")
    with pytest.raises(IncompleteImageError, match="headers end before the image data"):
        check_image_complete(big[: len(app2) // 2], "big")


def test_infer_refuses_a_truncated_jpeg(tmp_path, capsys):
    weights, opt = write_checkpoint(tiny_clsr(), str(tmp_path))
    cut = truncated_copy(write_jpeg(tmp_path / "full.jpg"), tmp_path / "cut.jpg")
    out = tmp_path / "out"
    argv = [str(cut), "--roi", "0,0,8,8", "--opt", opt, "--weights", weights, "--out", str(out),
            "--device", "cpu"]  # fmt: skip
    assert cli(infer.main, argv) == 2
    error_line(capsys.readouterr().err, "clsr-infer: error:", str(cut), "truncated JPEG")
    assert not out.exists()


def test_training_refuses_a_truncated_image_at_start_up(tmp_path, monkeypatch, capsys):
    opt = localsr_train_options(tmp_path)
    hr = opt["datasets"]["train"]["dataroot_gt"]
    victim = os.path.join(hr, sorted(os.listdir(hr))[-1])
    truncated_copy(Path(victim), tmp_path / "cut.png")
    os.replace(tmp_path / "cut.png", victim)
    (tmp_path / "opt.yml").write_text(yaml.safe_dump(opt, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert cli(clsr_train.main, ["-opt", "opt.yml"], monkeypatch) == 2
    error_line(capsys.readouterr().err, "clsr-train: error:", victim, "truncated PNG")
    assert not list(tmp_path.rglob("*.pth"))  # refused before the first iteration


def test_lmdb_item_names_the_truncated_image_when_read(tmp_path):
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    for i in range(2):
        img = (np.random.default_rng(i).random((64, 64, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(hr_dir / f"{i:04d}.png"), img)
    lmdb_path = str(tmp_path / "hr.lmdb")
    create_lmdb.create_lmdb(str(hr_dir), lmdb_path)
    import lmdb

    env = lmdb.open(lmdb_path, map_size=1 << 26)
    with env.begin(write=True) as txn:
        value = txn.get(b"0001")
        txn.put(b"0001", value[: len(value) // 2])
    env.close()
    opt = localsr_dataset_opt(lmdb_path, None, io_backend={"type": "lmdb"})
    ds = LocalSRPairedDataset(opt)
    ds[0]
    with pytest.raises(IncompleteImageError, match=r"hr\.lmdb\[0001\]: incomplete image"):
        ds[1]


def test_datasets_prep_refuses_truncated_and_corrupt_images(tmp_path, capsys):
    src = tmp_path / "hr"
    src.mkdir()
    img = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    for name in ("0001.png", "0002.png"):
        cv2.imwrite(str(src / name), img)
    truncated_copy(src / "0002.png", src / "0003.png")
    assert generate_lr.main(["--hr", str(src), "--lr-out", str(tmp_path / "lr")]) == 2
    error_line(capsys.readouterr().err, "error:", str(src / "0003.png"), "truncated PNG")
    # create_lmdb: truncated, and garbled pixel data with an intact structure
    assert create_lmdb.main(["--input", str(src)]) == 2
    error_line(capsys.readouterr().err, str(src / "0003.png"), "truncated PNG")
    data = bytearray((src / "0001.png").read_bytes())
    for i in range(60, len(data) - 20):
        data[i] ^= 0x5A
    (src / "0003.png").write_bytes(bytes(data))
    before = snapshot(tmp_path)
    assert create_lmdb.main(["--input", str(src)]) == 2
    error_line(capsys.readouterr().err, str(src / "0003.png"), "cannot decode")
    assert snapshot(tmp_path) == before  # no LMDB, no temporary LMDB
    assert not [n for n in os.listdir(tmp_path) if n.startswith(TMP_PREFIX)]
