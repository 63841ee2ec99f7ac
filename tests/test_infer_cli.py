"""``clsr-infer`` end to end on generated images, and every bad-input case."""

import json
import os

import cv2
import numpy as np
import pytest
import torch
from _clsr_tiny import tiny_clsr, write_checkpoint

from clsr_plugin.infer import main
from clsr_plugin.inference import load_clsr, upscale_rois
from clsr_plugin.utils.comparison_sheet import BOX_COLOUR
from clsr_plugin.utils.image_io import read_image


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    weights, opt = write_checkpoint(tiny_clsr(), str(root))
    rng = np.random.default_rng(0)
    hr = (rng.random((160, 200, 3)) * 255).astype(np.uint8)
    lr = cv2.resize(hr, (50, 40), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(root / "photo.png"), lr)
    cv2.imwrite(str(root / "photo_hr.png"), hr)
    return root, weights, opt


def _args(root, weights, opt, out, *extra):
    return [str(root / "photo.png"), "--opt", opt, "--weights", weights, "--out", str(out),
            "--device", "cpu", *extra]  # fmt: skip


def test_end_to_end_several_rois(setup, tmp_path, capsys):
    root, weights, opt = setup
    rois = ["0,0,12,12", "20,10,16,16", "38,28,12,12"]
    out = tmp_path / "out"
    argv = _args(root, weights, opt, out, "--gt", str(root / "photo_hr.png"))
    for r in rois:
        argv += ["--roi", r]
    assert main(argv) == 0
    files = sorted(os.listdir(out / "photo"))
    assert files == ["roi00_x0_y0_12x12.png", "roi01_x20_y10_16x16.png",
                     "roi02_x38_y28_12x12.png", "sheet.png"]  # fmt: skip
    res = json.loads((out / "results.json").read_text())["images"][0]
    assert [r["box"] for r in res["rois"]] == [[0, 0, 12, 12], [20, 10, 16, 16], [38, 28, 12, 12]]
    assert set(res["rois"][0]["psnr"]) == {"bicubic", "pre-crop", "CLSR"}
    # the PNGs are the API's output, rounded to 8 bits
    model = load_clsr(weights, opt, "cpu")
    img = read_image(str(root / "photo.png"))
    api = upscale_rois(model, img, [(0, 0, 12, 12), (20, 10, 16, 16), (38, 28, 12, 12)])
    for f, a in zip(files[:3], api):
        png = read_image(str(out / "photo" / f)).rgb
        assert png.shape == (4 * a.shape[0] // 4, a.shape[1], 3)
        assert np.abs(png.astype(np.float64) - np.round(a * 255)).max() <= 1
    sheet = read_image(str(out / "photo" / "sheet.png")).rgb
    assert sheet.shape[0] >= 3 * 48 and sheet.shape[1] >= 4 * 48  # 3 rows, 4 columns with HR
    assert (sheet == np.array(BOX_COLOUR, np.uint8)).all(-1).sum() > 100  # the ROI boxes
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".out.tmp")]
    assert "wrote 3 ROI(s)" in capsys.readouterr().out


def test_rois_json_gray_16bit_and_conversion_report(setup, tmp_path, capsys):
    root, weights, opt = setup
    folder = tmp_path / "in"
    folder.mkdir()
    gray16 = (np.random.default_rng(1).random((30, 40)) * 65535).astype(np.uint16)
    cv2.imwrite(str(folder / "g16.png"), gray16)
    rgba = (np.random.default_rng(2).random((30, 40, 4)) * 255).astype(np.uint8)
    cv2.imwrite(str(folder / "alpha.png"), rgba)
    spec = tmp_path / "rois.json"
    spec.write_text(
        json.dumps({"g16": [[1, 2, 10, 10]], "alpha.png": [[5, 5, 12, 8], [0, 0, 8, 8]]})
    )
    out = tmp_path / "out"
    argv = [str(folder), "--rois-json", str(spec), "--opt", opt, "--weights", weights, "--out",
            str(out), "--device", "cpu", "--no-sheet"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "g16.png: grayscale -> RGB" in err and "16-bit" in err and "RGBA -> RGB" in err
    res = {os.path.basename(r["input"]): r for r in
           json.loads((out / "results.json").read_text())["images"]}  # fmt: skip
    assert any("16-bit" in c for c in res["g16.png"]["conversions"])
    png = cv2.imread(str(out / "g16" / "roi00_x1_y2_10x10.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (40, 40, 3)
    assert len(os.listdir(out / "alpha")) == 2


def _bad_cases(root, weights, opt):
    text = root / "notes.png"
    text.write_text("this is not an image")
    return {
        "roi outside": (["--roi", "45,0,12,12"], "outside"),
        "zero size": (["--roi", "0,0,0,12"], "zero or negative"),
        "negative size": (["--roi", "0,0,12,-4"], "zero or negative"),
        "malformed roi": (["--roi", "1,2,3"], "four integers"),
        "no roi": ([], "No ROI"),
        "missing weights": (["--roi", "0,0,8,8", "--weights", str(root / "nope.pth")],
                            "Weights file not found"),
        "non-image file": (["--roi", "0,0,8,8", str(text)], "Not a readable image"),
        "missing input": (["--roi", "0,0,8,8", str(root / "missing.png")], "Input not found"),
        "bad json": (["--rois-json", str(root / "none.json")], "ROI JSON not found"),
        "gt size": (["--roi", "0,0,8,8", "--gt", str(root / "photo.png")], "expected 160x200"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["roi outside", "zero size", "negative size", "malformed roi", "no roi", "missing weights",
     "non-image file", "missing input", "bad json", "gt size"],
)  # fmt: skip
def test_bad_input_fails_cleanly(setup, tmp_path, capsys, case):
    root, weights, opt = setup
    extra, message = _bad_cases(root, weights, opt)[case]
    out = tmp_path / "out"
    argv = _args(root, weights, opt, out)
    # later --weights wins in argparse; extra inputs are appended as positionals
    code = main(argv + extra)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("clsr-infer: error:") and message in err
    assert not out.exists()
    assert os.listdir(tmp_path) == []  # no temp folder left either


def test_weights_not_matching_options(setup, tmp_path, capsys):
    root, _, opt = setup
    bad = tmp_path / "bad.pth"
    torch.save({"params": {"base.conv_first.weight": torch.zeros(1)}}, bad)
    out = tmp_path / "out"
    assert main(_args(root, str(bad), opt, out, "--roi", "0,0,8,8")) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "size mismatch for base.conv_first.weight" in err
    assert not out.exists()


def _adapter_setup(root):
    """A tiny CLSR as backbone checkpoint + adapter file (G re-synced with the base branch)."""
    from _clsr_tiny import TINY_OPT

    from clsr_plugin.inference.adapter_file import save_adapter

    net = tiny_clsr()
    net.gcm.load_extractor_from(net.base)
    backbone = str(root / "backbone.pth")
    torch.save({"params": net.base.state_dict()}, backbone)
    adapter = save_adapter(str(root / "a.safetensors"), net, TINY_OPT, ["base", "gcm.extractor"])
    full, opt = write_checkpoint(net, str(root))
    return backbone, adapter, full, opt


def test_backbone_plus_adapter_needs_no_options(setup, tmp_path, capsys):
    root = setup[0]
    backbone, adapter, full, opt = _adapter_setup(tmp_path)
    base = [str(root / "photo.png"), "--roi", "20,10,16,16", "--device", "cpu", "--no-sheet"]
    assert (
        main([*base, "--weights", backbone, "--adapter", adapter, "--out", str(tmp_path / "a")])
        == 0
    )
    assert main([*base, "--weights", full, "--opt", opt, "--out", str(tmp_path / "b")]) == 0
    name = "roi00_x20_y10_16x16.png"
    a = read_image(str(tmp_path / "a" / "photo" / name)).rgb
    b = read_image(str(tmp_path / "b" / "photo" / name)).rgb
    assert np.array_equal(a, b)
    capsys.readouterr()
    torch.manual_seed(7)
    other = str(tmp_path / "other.pth")
    torch.save(
        {"params": {k: torch.randn_like(v) for k, v in torch.load(backbone)["params"].items()}},
        other,
    )
    assert (
        main([*base, "--weights", other, "--adapter", adapter, "--out", str(tmp_path / "c")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "other frozen weights" in err and "\n" not in err
    assert not (tmp_path / "c").exists()
    assert main([*base, "--weights", backbone, "--out", str(tmp_path / "d")]) == 2
    assert "--adapter" in capsys.readouterr().err


def test_untrained_clsr_is_reported_as_padded_precropping(setup, tmp_path, capsys):
    root = setup[0]
    weights, opt = write_checkpoint(tiny_clsr(trained=False), str(tmp_path))
    argv = [str(root / "photo.png"), "--roi", "20,10,16,16", "--opt", opt, "--weights", weights,
            "--gt", str(root / "photo_hr.png"), "--device", "cpu"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "fresh")]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "untrained" in line]
    assert len(warnings) == 1 and warnings[0].startswith("clsr-infer: warning:")
    res = json.loads((tmp_path / "fresh" / "results.json").read_text())["images"][0]
    assert res["method"] == "pre_pad"
    assert set(res["rois"][0]["psnr"]) == {"bicubic", "pre-crop", "pre-crop (padded)"}
    write_checkpoint(tiny_clsr(), str(tmp_path))  # same paths, now a trained CLSR
    assert main([*argv, "--out", str(tmp_path / "trained")]) == 0
    assert "untrained" not in capsys.readouterr().err
    res = json.loads((tmp_path / "trained" / "results.json").read_text())["images"][0]
    assert res["method"] == "clsr" and "CLSR" in res["rois"][0]["psnr"]
