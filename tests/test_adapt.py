"""clsr-adapt: a tiny backbone and six small images; resume, best checkpoint, clear errors."""

import json

import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network

from clsr_plugin.adapt import main
from clsr_plugin.adaptation import AdaptSettings, adapt, best_checkpoint, validations
from clsr_plugin.utils.image_io import write_png

TINY = dict(type="MSRResNet", num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, upscale=4)
FAST = ["--roi", "8", "--context", "24", "--batch", "2", "--val-freq", "2"]


def _photo(rng, h, w):
    """A smooth random image with edges (something a backbone can restore)."""
    yy, xx = np.mgrid[0:h, 0:w] / 16.0
    img = np.stack([np.sin(xx * (1 + c) + yy * rng.uniform(0.5, 2)) for c in range(3)], -1)
    return ((img * 0.5 + 0.5) * 255).astype(np.uint8)


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "hr"
    data.mkdir()
    for i in range(6):
        write_png(str(data / f"img{i}.png"), _photo(rng, 96 + 4 * i, 104))
    torch.manual_seed(0)
    weights = tmp_path / "backbone.pth"
    torch.save({"params": build_network(dict(TINY)).state_dict()}, weights)
    opt = tmp_path / "backbone.yml"
    opt.write_text(yaml.safe_dump({"network_g": TINY}))
    return dict(data=str(data), weights=str(weights), opt=str(opt), tmp=tmp_path)


def _argv(s, out, *extra):
    return ["--weights", s["weights"], "--data", s["data"], "--opt", s["opt"], "--out", out,
            *FAST, *extra]  # fmt: skip


def test_adapt_trains_resumes_keeps_the_best_and_writes_a_loadable_adapter(
    setup, capsys, monkeypatch
):
    # four iterations of a tiny run gain nothing measurable over the untrained adapter (see
    # the next test); here the last validation counts as clear of it, to take the path that
    # keeps a trained checkpoint
    from clsr_plugin import adaptation

    monkeypatch.setattr(adaptation, "best_checkpoint", lambda history: history[-1])
    out = setup["tmp"] / "run"
    assert main(_argv(setup, str(out), "--iters", "4")) == 0
    first = json.loads((out / "report.json").read_text())
    assert first["val_images"] == ["img5.png"] and len(first["train_images"]) == 5
    assert "[adapt] iter 4/4" in capsys.readouterr().out
    # interrupted after iteration 2 (its state is the newest): re-running resumes from it
    exp = out / "experiments" / "adapt"
    for path in [out / "adapt_finished.json", exp / "training_states" / "4.state"]:
        path.unlink()
    _one_line_error(capsys, _argv(setup, str(out), "--iters", "6"), "re-run with --iters 4")
    assert main(_argv(setup, str(out), "--iters", "4")) == 0
    logs = sorted(exp.glob("train_*.log"))
    assert "Resuming training from epoch: 0, iter: 2" in logs[-1].read_text()
    printed = capsys.readouterr().out
    assert "[adapt] iter 4/4" in printed and "remaining" in printed
    report = json.loads((out / "report.json").read_text())
    history = json.loads((out / "experiments/adapt/metrics_history_val.json").read_text())
    history = validations(history, 4)
    assert [h["iter"] for h in history] == [2, 4]
    assert report["best_iter"] == 4 and not report["kept_untrained"]
    kept = exp / "models" / "net_g_4_adapter.safetensors"
    assert (out / "adapter.safetensors").read_bytes() == kept.read_bytes()
    assert all("pre_pad/psnr_img" in h for h in history)  # the untrained adapter's score
    assert [r["iter"] for r in report["curve"]] == [2, 4]
    m = report["metrics"]
    for key in ("pre_nopad", "pre_pad", "post", "clsr"):
        assert f"{key}/psnr_img" in m
    d = m["paired"]["image"]["clsr - post"]
    assert d["mean"] == pytest.approx(m["clsr/psnr_img"] - m["post/psnr_img"])
    md = (out / "report.md").read_text()
    assert "clsr - post, per image" in md and "clsr-infer" in md
    # the adapter is the best checkpoint's and loads with clsr-infer's loader
    from clsr_plugin.inference import load_clsr

    net = load_clsr(setup["weights"], adapter=str(out / "adapter.safetensors"))
    assert net.roi_pad >= 0
    # finished: a re-run only reports, --overwrite trains again
    stamp = (out / "adapter.safetensors").stat().st_mtime_ns
    assert main(_argv(setup, str(out), "--iters", "4")) == 0
    assert "finished earlier" in capsys.readouterr().out
    assert (out / "adapter.safetensors").stat().st_mtime_ns == stamp


def _entry(it, psnr, low, pre_pad=20.0):
    gain = dict(mean=low + 0.01, low=low, high=low + 0.02, n=9, gain=5, lose=4, tie=0)
    return {"iter": it, "clsr/psnr_img": psnr, "pre_pad/psnr_img": pre_pad,
            "paired": {"roi": {"clsr - pre_pad": gain}}}  # fmt: skip


def test_best_checkpoint_is_the_best_of_those_that_beat_the_untrained_adapter():
    hist = [_entry(2, 20.5, 0.01), _entry(4, 21.0, 0.02), _entry(6, 21.0, 0.03),
            _entry(8, 21.5, -0.01)]  # fmt: skip
    # iteration 8 is the highest, but its gain over the untrained adapter is not clear of 0
    assert best_checkpoint(hist)["iter"] == 4
    # BasicSR's validation after its loop is labelled past the end: the final weights
    final = validations(hist + [_entry(9, 22.0, 0.05)], 8)
    assert [h["iter"] for h in final] == [2, 4, 6, 8] and best_checkpoint(final)["iter"] == 8
    # no checkpoint clear of 0: the untrained adapter (iteration 0, exactly pre_pad) is kept
    kept = best_checkpoint([_entry(2, 25.0, -0.001), _entry(4, 19.0, -0.5)])
    assert kept["iter"] == 0 and kept["untrained"] and kept["clsr/psnr_img"] == 20.0
    # context still untrained at every validation: only pre_pad was recorded
    assert best_checkpoint([{"iter": 2, "pre_pad/psnr_img": 20.0}])["iter"] == 0
    with pytest.raises(RuntimeError, match="no validation"):
        best_checkpoint([{"iter": 2}])


def test_an_adapter_that_cannot_beat_pre_pad_is_kept_untrained(setup, capsys):
    """Learning rate 0: nothing is learned, so clsr-adapt keeps the untrained adapter, which
    clsr-infer loads and which gives exactly padded pre-cropping."""
    from clsr_plugin.archs.clsr_arch import context_untrained
    from clsr_plugin.inference import load_clsr

    out = setup["tmp"] / "run0"
    assert main(_argv(setup, str(out), "--iters", "2", "--lr", "0")) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["best_iter"] == 0 and report["kept_untrained"]
    assert "Kept: the untrained adapter" in (out / "report.md").read_text()
    assert "keeping the untrained one" in capsys.readouterr().out
    net = load_clsr(setup["weights"], adapter=str(out / "adapter.safetensors"))
    assert context_untrained(net)


def _one_line_error(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clsr-adapt: error:") and match in err and "\n" not in err, err


def test_too_few_or_too_small_images(setup, capsys, tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    for i in range(2):
        write_png(str(few / f"a{i}.png"), _photo(np.random.default_rng(i), 96, 96))
    out = str(tmp_path / "o")
    _one_line_error(capsys, _argv(setup, out)[:3] + [str(few)] + _argv(setup, out)[4:],
                    "needs at least 3")  # fmt: skip
    _one_line_error(capsys, _argv(setup, out, "--roi", "12"), "smaller than 144 px")
    assert not (tmp_path / "o").exists()


def test_a_backbone_it_cannot_adapt_or_a_checkpoint_that_is_not_one(setup, capsys, tmp_path):
    out = str(tmp_path / "o")
    rrdb = tmp_path / "rrdb.yml"
    rrdb.write_text(yaml.safe_dump({"network_g": {"type": "RRDBNet", "num_in_ch": 3}}))
    argv = _argv(setup, out)
    _one_line_error(capsys, argv[:4] + ["--opt", str(rrdb)] + argv[6:], "cannot adapt")
    clsr_ckpt = tmp_path / "clsr.pth"
    torch.save({"params": {"base.conv_first.weight": torch.zeros(8, 3, 3, 3)}}, clsr_ckpt)
    _one_line_error(capsys, ["--weights", str(clsr_ckpt)] + argv[2:], "not a backbone")
    other = tmp_path / "other.pth"
    torch.save({"params": build_network(dict(TINY, num_feat=16)).state_dict()}, other)
    _one_line_error(capsys, ["--weights", str(other)] + argv[2:], "does not fit the backbone")
    _one_line_error(capsys, ["--weights", str(tmp_path / "none.pth")] + argv[2:], "not found")
    assert not (tmp_path / "o").exists()


def test_settings_mirror_the_command_line():
    from clsr_plugin.adapt import build_parser

    args = build_parser().parse_args(["--weights", "w", "--data", "d", "--out", "o"])
    assert AdaptSettings(**vars(args)) == AdaptSettings(weights="w", data="d", out="o")
    assert callable(adapt)
