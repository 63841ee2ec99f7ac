import os
import os.path as osp
import subprocess
import sys

import cv2
import pytest
from prep_helpers import read_lmdb, tree, write_images

import datasets_prep.extract_subimages as extract_mod
from datasets_prep.common import PrepError
from datasets_prep.generate_lr import generate_lr
from datasets_prep.prepare_div2k import main, prepare_div2k

RECIPE = {"scale": 4, "crop": 32, "step": 16, "thresh": 4}


def test_pipeline_layout_and_pairs(hr_dir, tmp_path):
    out = str(tmp_path / "out")
    res = prepare_div2k(hr_dir, out, prefix="T", save_hr_mod=True, workers=2, **RECIPE)
    assert res["hr_lmdb"] == osp.join(out, "T_HR_sub.lmdb")
    assert res["lr_lmdb"] == osp.join(out, "T_LR_bicubic_X4_sub.lmdb")
    assert osp.isfile(osp.join(out, "T_LR_bicubic", "X4", "0001x4.png"))
    assert cv2.imread(osp.join(out, "T_HR_mod", "0003.png")).shape == (100, 76, 3)
    hr_keys, lr_keys = read_lmdb(res["hr_lmdb"]), read_lmdb(res["lr_lmdb"])
    assert sorted(hr_keys) == sorted(lr_keys) and len(hr_keys) == res["pairs"] > 10
    assert "0001_s001" in hr_keys and not any(k.startswith("0005") for k in hr_keys)  # 40x30
    with open(osp.join(res["lr_lmdb"], "meta_info.txt")) as f:
        assert all(line.split()[1:] == ["(8,8,3)", "1"] for line in f)


def test_rerun_skips_everything(hr_dir, tmp_path, capsys):
    out = str(tmp_path / "out")
    prepare_div2k(hr_dir, out, **RECIPE)
    files = [osp.join(d, n) for d, _, ns in os.walk(out) for n in ns]
    mtimes = {p: os.stat(p).st_mtime_ns for p in files}
    capsys.readouterr()
    prepare_div2k(hr_dir, out, **RECIPE)
    assert {p: os.stat(p).st_mtime_ns for p in files} == mtimes
    assert capsys.readouterr().out.count("complete (") == 2


def test_interrupted_run_resumes_to_the_complete_result(hr_dir, tmp_path, monkeypatch):
    ref = str(tmp_path / "ref")
    prepare_div2k(hr_dir, ref, **RECIPE)

    out = str(tmp_path / "out")
    calls = {"n": 0}
    real = extract_mod.write_image_atomic

    def crash_after_some(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 7:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(extract_mod, "write_image_atomic", crash_after_some)
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare_div2k(hr_dir, out, **RECIPE)
    assert not [p for p in os.listdir(out) if p.endswith(".lmdb")]
    monkeypatch.setattr(extract_mod, "write_image_atomic", real)
    prepare_div2k(hr_dir, out, **RECIPE)
    assert tree(out) == tree(ref)


def test_killed_process_resumes(tmp_path):
    hr = str(tmp_path / "HR")
    write_images(hr, [(160, 160)] * 20)
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "datasets_prep.prepare_div2k", "--hr", hr, "--out", out]
    cmd += ["--crop", "32", "--step", "16", "--thresh", "4", "--workers", "1"]
    env = dict(os.environ, PYTHONPATH=os.getcwd(), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    for line in proc.stdout:  # kill as soon as sub-image extraction has started
        if line.startswith(b"[2/4]"):
            proc.kill()
            break
    proc.wait()
    assert proc.returncode != 0
    assert not osp.exists(osp.join(out, "DIV2K_train_HR_sub.lmdb"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "done: 1620 sub-image pairs" in done.stdout  # 20 images x 9 x 9 windows
    assert len(read_lmdb(osp.join(out, "DIV2K_train_LR_bicubic_X4_sub.lmdb"))) == 1620


def test_given_lr_folder_is_checked(hr_dir, tmp_path, capsys):
    lr = str(tmp_path / "LR")
    generate_lr(hr_dir, lr, 4)
    res = prepare_div2k(hr_dir, str(tmp_path / "out"), lr_dir=lr, **RECIPE)
    assert res["pairs"] > 10
    os.remove(osp.join(lr, "0002x4.png"))
    args = ["--hr", hr_dir, "--lr", lr, "--out", str(tmp_path / "o2"), "--crop", "32"]
    capsys.readouterr()
    assert main(args + ["--step", "16"]) == 2
    err = capsys.readouterr().err
    assert "HR/LR count mismatch: 5 images in" in err and err.count("\n") == 1


def test_recipe_must_divide_by_scale(hr_dir, tmp_path, capsys):
    assert main(["--hr", hr_dir, "--out", str(tmp_path / "o"), "--crop", "30"]) == 2
    assert "--crop 30 is not a multiple of the scale 4" in capsys.readouterr().err
    with pytest.raises(PrepError, match="HR folder not found: .*missing"):
        prepare_div2k(str(tmp_path / "missing"), str(tmp_path / "o"), **RECIPE)
