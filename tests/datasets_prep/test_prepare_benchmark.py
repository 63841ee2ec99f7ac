import os
import os.path as osp

import cv2
import numpy as np
from basicsr.data.paired_image_dataset import PairedImageDataset

from datasets_prep.generate_lr import bicubic_downsample
from datasets_prep.prepare_benchmark import main


def test_layout_modcrop_grayscale_and_basicsr_reads_it(hr_dir, tmp_path, capsys):
    out = str(tmp_path / "bench")
    assert main(["--src", hr_dir, "--out", out, "--scale", "4", "--workers", "1"]) == 0
    assert "0003.png is grayscale" in capsys.readouterr().out
    hr, lr = osp.join(out, "HR", "HR"), osp.join(out, "HR", "LR_bicubic", "X4")
    names = [f"{i:04d}.png" for i in range(1, 6)]
    assert sorted(os.listdir(hr))[1:] == names and sorted(os.listdir(lr))[1:] == names
    for n in names:
        src = cv2.imread(osp.join(hr_dir, n))
        h, w = src.shape[0] // 4 * 4, src.shape[1] // 4 * 4
        mod = cv2.imread(osp.join(hr, n), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(mod, src[:h, :w])
        np.testing.assert_array_equal(cv2.imread(osp.join(lr, n)), bicubic_downsample(mod, 4))

    opt = {"dataroot_gt": hr, "dataroot_lq": lr, "io_backend": {"type": "disk"}}
    ds = PairedImageDataset({**opt, "scale": 4, "phase": "val"})
    assert len(ds) == 5
    item = ds[0]
    assert tuple(item["gt"].shape[1:]) == tuple(4 * s for s in item["lq"].shape[1:])


def test_template_names_and_rerun(hr_dir, tmp_path, capsys):
    out = str(tmp_path / "bench")
    args = ["--src", hr_dir, "--out", out, "--lr-tmpl", "{}x{scale}", "--workers", "1"]
    assert main(args) == 0
    assert osp.isfile(osp.join(out, "HR", "LR_bicubic", "X4", "0001x4.png"))
    assert "filename_tmpl: '{}x4'" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 images written, 5 already done" in capsys.readouterr().out
