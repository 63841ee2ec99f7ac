"""``clsr-bench`` on a tiny real CLSR and two generated HR images: runs, JSON complete."""

import json

import cv2
import numpy as np
import pytest
import torch
from _clsr_tiny import TINY_OPT, tiny_clsr, write_checkpoint

from clsr_plugin.bench import main
from clsr_plugin.evaluation.benchmark import run_method
from clsr_plugin.evaluation.methods import METHODS
from clsr_plugin.evaluation.timing import measure

METHOD_FIELDS = {
    "psnr_roi_mean", "ssim_roi_mean", "psnr_image_pooled", "ssim_image_pooled", "rois",
    "capped_rois",
    "ms_single_roi", "ms_per_image", "ms_per_roi_amortised", "peak_mem_mb",
    "gmacs_per_roi", "gflops_per_roi", "gflops_per_roi_amortised",
}  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(96, 120), (100, 97)]):
        img = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (5, 5), 1.5)
        cv2.imwrite(str(data / f"img{i}.png"), img)
    flat = np.full((96, 96, 3), 128, np.uint8)  # exact reconstruction -> capped PSNR
    cv2.imwrite(str(data / "flat.png"), flat)
    weights, opt = write_checkpoint(tiny_clsr(trained=False), str(root))
    out = root / "out"
    argv = ["--opt", opt, "--weights", weights, "--data", str(data), "--roi", "12", "--out",
            str(out), "--device", "cpu", "--repeats", "1", "--warmup", "0", "--timing-images",
            "1", "--multi-roi", "1", "5", "--context-windows", "1", "2", "0"]  # fmt: skip
    assert main(argv) == 0
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the trade-off plot
    return json.loads((out / "bench.json").read_text()), (out / "bench.md").read_text()


def test_json_has_every_field(report):
    rep, md = report
    assert {"opt", "weights", "device", "dtype", "scale", "roi_pad", "warmup", "repeats",
            "threads", "torch"} <= set(rep["config"])  # fmt: skip
    (res,) = rep["results"]
    assert res["roi"] == 12 and res["images"] == 3
    assert res["rois"] == (24 // 12) * (30 // 12) + (25 // 12) * (24 // 12) + 4
    for m in METHODS:
        row = res["methods"][m]
        assert METHOD_FIELDS <= set(row), m
        assert all(row[k] is not None for k in METHOD_FIELDS if k != "peak_mem_mb")
    assert set(res["clsr_gflops_split"]) == {"clsr_decode_base", "clsr_decode_gcm",
                                             "clsr_decode_select", "clsr_context_gcm",
                                             "clsr_context_pim"}  # fmt: skip
    assert {(r["n_rois"], r["method"]) for r in res["multi_roi"]} == {
        (n, m) for n in (1, 5) for m in ("pre_pad", "post", "clsr")
    }
    assert [r["k"] for r in res["context_window"]] == [1.0, 2.0, None]
    # CLSR is timed with shared base windows: its quality that way and ROI by ROI, both
    assert rep["config"]["share_windows"] is True
    for r in res["multi_roi"]:
        assert r["psnr_image_pooled"] > 20
        assert (r["psnr_roi_by_roi"] is not None) == (r["method"] == "clsr")
    one = [r for r in res["multi_roi"] if r["method"] == "clsr" and r["n_rois"] == 1][0]
    assert one["psnr_image_pooled"] == one["psnr_roi_by_roi"]  # a lone ROI shares nothing
    sh = res["clsr_shared_windows"]
    assert abs(sh["psnr_image_pooled"] - res["methods"]["clsr"]["psnr_image_pooled"]) < 0.1
    for line in ("Pre-cropping (no pad)", "Post-cropping", "CLSR", "Multi-ROI", "Context window"):
        assert line in md


def test_numbers_are_consistent(report):
    rep, _ = report
    res = rep["results"][0]
    m = res["methods"]
    # a fresh CLSR is its backbone on the padded window: identical quality to pre-cropping(pad)
    for k in ("psnr_roi_mean", "ssim_roi_mean", "psnr_image_pooled"):
        assert m["clsr"][k] == m["pre_pad"][k]
    assert m["pre_nopad"]["capped_rois"] == 4  # the flat image's 4 ROIs are exact
    assert m["pre_nopad"]["gflops_per_roi"] < m["pre_pad"]["gflops_per_roi"]
    assert m["pre_pad"]["gflops_per_roi"] < m["post"]["gflops_per_roi"]
    assert m["clsr"]["gflops_per_roi_amortised"] < m["clsr"]["gflops_per_roi"]
    # whole-image context == the CLSR row; K=1 clips the base window to the ROI == no padding
    whole, k1 = res["context_window"][-1], res["context_window"][0]
    assert whole["psnr_roi_mean"] == pytest.approx(m["clsr"]["psnr_roi_mean"], abs=1e-9)
    assert k1["psnr_roi_mean"] == pytest.approx(m["pre_nopad"]["psnr_roi_mean"], abs=1e-9)


def test_methods_shapes_and_measure():
    model = tiny_clsr()
    lq = torch.rand(1, 3, 30, 40)
    boxes = torch.tensor([[0, 0, 10, 10], [25, 18, 10, 10]])
    outs = {m: run_method(model, m, lq, boxes) for m in METHODS}
    for o in outs.values():
        assert o.shape == (2, 3, 40, 40)
    with torch.no_grad():
        cache = model.encode_context(lq)
        torch.testing.assert_close(outs["clsr"], model.decode(cache, boxes))
    r = measure(lambda: run_method(model, "post", lq, boxes), torch.device("cpu"), 0, 2)
    assert r["ms"] > 0 and (r["peak_mem_mb"] is None or r["peak_mem_mb"] >= 0)
    assert torch.equal(r["output"], outs["post"])  # the last timed call's result
    with pytest.raises(ValueError, match="Unknown method"):
        run_method(model, "nope", lq, boxes)


def test_bad_options_fail_cleanly(tmp_path, capsys):
    assert main(["--opt", str(tmp_path / "none.yml"), "--out", str(tmp_path / "o")]) == 2
    assert "Options file not found" in capsys.readouterr().err
    assert main(["--opt", str(tmp_path / "none.yml"), "--out", str(tmp_path / "o")]) == 2
    opt = tmp_path / "opt.yml"
    opt.write_text(json.dumps({"network_g": TINY_OPT}))
    assert main(["--opt", str(opt), "--data", str(tmp_path / "nodata"), "--out", "o"]) == 2
    assert "Input not found" in capsys.readouterr().err


def test_adapter_without_options(tmp_path, capsys):
    from clsr_plugin.inference.adapter_file import save_adapter

    net = tiny_clsr()
    net.gcm.load_extractor_from(net.base)
    backbone = str(tmp_path / "backbone.pth")
    torch.save({"params": net.base.state_dict()}, backbone)
    adapter = save_adapter(
        str(tmp_path / "a.safetensors"), net, TINY_OPT, ["base", "gcm.extractor"]
    )
    assert main(["--weights", backbone, "--out", str(tmp_path / "o")]) == 2
    assert "--adapter" in capsys.readouterr().err
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(data / "a.png"), (rng.random((64, 72, 3)) * 255).astype(np.uint8))
    argv = ["--weights", backbone, "--adapter", adapter, "--data", str(data), "--roi", "12",
            "--out", str(tmp_path / "o"), "--device", "cpu", "--repeats", "1", "--warmup", "0",
            "--timing-images", "0", "--multi-roi", "1", "--context-windows", "0",
            "--no-flops"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((tmp_path / "o" / "bench.json").read_text())
    assert report["config"]["adapter"] == adapter
    clsr = report["results"][0]["methods"]["clsr"]["psnr_image_pooled"]
    pre = report["results"][0]["methods"]["pre_pad"]["psnr_image_pooled"]
    assert clsr != pre  # the adapter was loaded: CLSR differs from its backbone


def test_untrained_clsr_is_labelled_as_padded_precropping(report, tmp_path, capsys):
    from clsr_plugin.evaluation.report import UNTRAINED_LABEL

    rep, md = report  # made with a fresh (untrained) CLSR
    assert rep["config"]["context_untrained"] is True
    assert f"| {UNTRAINED_LABEL} |" in md and "| CLSR |" not in md
    for trained, expect in ((False, True), (True, False)):
        weights, opt = write_checkpoint(tiny_clsr(trained=trained), str(tmp_path))
        out = tmp_path / f"out{trained}"
        argv = ["--opt", opt, "--weights", weights, "--out", str(out), "--device", "cpu"]
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert ("clsr-bench: warning:" in err and "untrained" in err) is expect
        assert json.loads((out / "bench.json").read_text())["config"]["context_untrained"] is expect


def test_large_images_random_and_real_photos(tmp_path):
    """``--synthetic-sizes`` and ``--lr-photos``: every method, 1 and max(--multi-roi) ROIs,
    and CLSR as clsr-infer runs it, with the speed-up over post-cropping in the Markdown."""
    weights, opt = write_checkpoint(tiny_clsr(), str(tmp_path))
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(2)
    cv2.imwrite(str(photo), (rng.random((40, 52, 3)) * 255).astype(np.uint8))
    argv = ["--opt", opt, "--weights", weights, "--roi", "12", "--out", str(tmp_path / "o"),
            "--device", "cpu", "--repeats", "1", "--warmup", "0", "--multi-roi", "1", "3",
            "--synthetic-sizes", "36x30", "--lr-photos", str(photo), "--no-flops"]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads((tmp_path / "o" / "bench.json").read_text())["synthetic"]
    assert {(r["image"], r["lr_size"]) for r in rows} == {("random 36x30", "36x30"),
                                                          ("photo.png", "52x40")}  # fmt: skip
    assert {(r["n_rois"], r["method"]) for r in rows} == {
        (n, m) for n in (1, 3) for m in (*METHODS, "clsr_infer")
    }
    assert all(r["error"] is None and r["ms"] > 0 for r in rows)
    # post-cropping is its own reference; a padded pre-crop of a tiny CNN with a receptive
    # field inside its padding gives post's pixels too (capped PSNR), the bare crop does not
    by = {(r["image"], r["n_rois"], r["method"]): r["psnr_vs_post"] for r in rows}
    for image in ("random 36x30", "photo.png"):
        for n in (1, 3):
            assert by[(image, n, "post")] == 100.0
            assert by[(image, n, "pre_nopad")] < 100.0
        # post-cropping's work is the whole image whatever the ROIs: timed once per image
        posts = [r for r in rows if r["image"] == image and r["method"] == "post"]
        assert len({r["ms"] for r in posts}) == 1
    md = (tmp_path / "o" / "bench.md").read_text()
    assert "x faster than post" in md and "clsr-infer defaults" in md
    assert "PSNR vs post's output" in md


def test_paired_differences_over_images_and_rois(report):
    """``paired``: every default pair over images (PSNR (b)) and ROIs (per-ROI PSNR); the mean
    of the per-item differences is the difference of the methods' means, in bench.md too."""
    from clsr_plugin.evaluation.paired import DEFAULT_PAIRS
    from clsr_plugin.evaluation.report import UNTRAINED_LABEL

    rep, md = report
    res = rep["results"][0]
    m = res["methods"]
    assert set(res["paired"]) == {"image", "roi"}
    for unit, key, n in (("image", "psnr_image_pooled", res["images"]),
                         ("roi", "psnr_roi_mean", res["rois"])):  # fmt: skip
        table = res["paired"][unit]
        assert list(table) == [f"{a} - {b}" for a, b in DEFAULT_PAIRS]
        for pair, d in table.items():
            a, b = pair.split(" - ")
            assert set(d) == {"mean", "low", "high", "n", "gain", "lose", "tie", "level"}
            assert d["n"] == n and d["gain"] + d["lose"] + d["tie"] == n
            assert d["mean"] == pytest.approx(m[a][key] - m[b][key], abs=1e-9)
            assert d["low"] <= d["mean"] <= d["high"]
        # the fresh CLSR is padded pre-cropping exactly: every item ties
        same = table["clsr - pre_pad"]
        assert (same["mean"], same["low"], same["high"], same["tie"]) == (0.0, 0.0, 0.0, n)
    assert "Paired PSNR differences" in md
    assert "| pair | per image: mean [95% CI] | gain/lose | per ROI: mean [95% CI] |" in md
    d_img, d_roi = res["paired"]["image"]["pre_pad - post"], res["paired"]["roi"]["pre_pad - post"]
    row = (
        f"| Pre-cropping (model pad) - Post-cropping | {d_img['mean']:+.3f} "
        f"[{d_img['low']:+.3f}, {d_img['high']:+.3f}] | {d_img['gain']}/{d_img['lose']} of 3 | "
        f"{d_roi['mean']:+.3f} [{d_roi['low']:+.3f}, {d_roi['high']:+.3f}] | "
        f"{d_roi['gain']}/{d_roi['lose']} of {res['rois']} |"
    )
    assert row in md
    assert f"| {UNTRAINED_LABEL} - Post-cropping |" in md  # registry labels, untrained CLSR's


def test_paired_results_follow_the_per_item_values():
    """Per-image / per-ROI values of each method, paired in the order they were added."""
    from clsr_plugin.evaluation.benchmark import paired_results
    from clsr_plugin.evaluation.roi_metrics import RoiMetricAccumulator

    rng = np.random.default_rng(3)
    gts = [[(rng.random((16, 16, 3)) * 255).astype(np.uint8) for _ in range(k)] for k in (2, 3)]
    accs = {}
    for noise, m in ((2, "clsr"), (6, "post"), (4, "pre_pad")):
        accs[m] = RoiMetricAccumulator()
        for gt in gts:
            sr = [np.clip(g.astype(int) + rng.integers(-noise, noise + 1, g.shape), 0, 255)
                  .astype(np.uint8) for g in gt]  # fmt: skip
            accs[m].add_image(sr, gt)
    out = paired_results(accs)
    d = np.subtract(accs["clsr"].img_psnr, accs["post"].img_psnr)
    assert out["image"]["clsr - post"]["mean"] == pytest.approx(d.mean())
    assert out["image"]["clsr - post"]["gain"] == int((d > 0).sum()) == 2
    r = np.subtract(accs["pre_pad"].roi_psnr, accs["post"].roi_psnr)
    assert out["roi"]["pre_pad - post"]["mean"] == pytest.approx(r.mean())
    assert out["roi"]["pre_pad - post"]["n"] == 5
