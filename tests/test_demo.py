"""clsr-demo: exact iteration count, determinism, a re-run that only re-benchmarks."""

import json
import os

import pytest

from clsr_plugin.demo import (
    TRAIN_IMAGES,
    basicsr_iterations,
    curve_line,
    exact_enlarge_ratio,
    format_paired,
    format_table,
    main,
    verdict,
)

TINY = ["--iters", "3", "--adapt-iters", "2", "--roi", "8", "--max-side", "192",
        "--large-size", "96x72"]  # fmt: skip


def test_basicsr_iteration_model_reproduces_the_short_run():
    assert basicsr_iterations(5 * 10, 8, 500) == 438  # the old demo: "500 iterations" ran 438


@pytest.mark.parametrize("n,batch,ratio,total", [(5, 8, 10, 500), (5, 8, 10, 37), (7, 6, 1, 100),
                                                 (3, 4, 5, 1), (16, 8, 1, 99)])  # fmt: skip
def test_exact_enlarge_ratio_makes_basicsr_run_total_iter(n, batch, ratio, total):
    r = exact_enlarge_ratio(n, batch, ratio)
    assert r >= ratio and (n * r) % batch == 0
    assert basicsr_iterations(n * r, batch, total) == total


def _report(clsr_minus_post):
    low, high = clsr_minus_post
    row = dict(psnr_roi_mean=30.0, ssim_roi_mean=0.9, psnr_image_pooled=29.0,
               gflops_per_roi=1.0, ms_single_roi=2.0)  # fmt: skip
    methods = {m: dict(row) for m in ("pre_nopad", "pre_pad", "post", "clsr")}
    methods["post"]["gflops_per_roi"] = 40.0
    d = dict(mean=(low + high) / 2, low=low, high=high, n=10, gain=6, lose=4, tie=0, level=0.95)
    return dict(config=dict(context_untrained=False),
                results=[dict(methods=methods, paired={"roi": {"clsr - post": d},
                                                       "image": {"clsr - post": d}})])  # fmt: skip


def test_table_and_verdict_say_what_the_interval_says():
    rep = _report((-0.01, 0.03))
    lines = format_table(rep).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| Pre-cropping (no pad)",
        "| Pre-cropping (model pad)",
        "| Post-cropping",
        "| CLSR",
    ]
    assert lines[-1].endswith("| 2.0 |") and not format_table(rep, times=False).endswith("2.0 |")
    assert "nothing measurable" in verdict(rep) and "2.5% of post-cropping's GFLOPs" in verdict(rep)
    assert "beat post-cropping" in verdict(_report((0.01, 0.03)))
    assert "worse than post-cropping" in verdict(_report((-0.03, -0.01)))
    assert "+0.010 dB [95% CI -0.010, +0.030], 6 of 10 ROIs gain" in format_paired(rep)
    # clsr-adapt kept the untrained adapter: said so, whatever the held-out interval
    assert "kept the untrained adapter" in verdict(_report((0.01, 0.03)), kept_untrained=True)
    gain = dict(mean=-0.003, low=-0.005, high=-0.001)
    line = curve_line({"val_images": ["rocket.png"], "curve": [
        {"iter": 40, "gain": gain}, {"iter": 80, "gain": None}]})  # fmt: skip
    assert "on rocket.png" in line and "40: -0.003 [-0.005, -0.001]" in line and "80:" not in line
    assert curve_line({"curve": []}) == ""


def test_demo_is_deterministic_and_a_rerun_only_rebenchmarks(tmp_path, capsys):
    assert main([*TINY, "--out", str(tmp_path / "a")]) == 0
    assert main([*TINY, "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert out.count("(a) training the backbone alone") == 2 and "(d) cost" in out
    a, b = ((tmp_path / d / "quality_table.md").read_text() for d in "ab")
    assert a == b and len(a.splitlines()) == 6  # same seed and machine: the same table
    for name in ("comparison.png", "cost_panel.png"):
        assert (tmp_path / "a" / name).read_bytes()[:4] == b"\x89PNG"
    text = (tmp_path / "a" / "results.md").read_text()
    assert "95% CI" in text and "x faster than post" in text and "PSNR vs post's output" in text
    adapt = json.loads((tmp_path / "a" / "adapt" / "report.json").read_text())
    assert adapt["train_images"] and adapt["val_images"] == ["rocket.png"]
    assert len(TRAIN_IMAGES) == 5
    weights = tmp_path / "a" / "experiments" / "demo_backbone_x4" / "models" / "net_g_latest.pth"
    stamp = os.stat(weights).st_mtime_ns
    (tmp_path / "a" / "results.md").write_text("earlier\n")
    assert main([*TINY, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "(a) training" not in out and "trained earlier" in out and "finished earlier" in out
    assert "results.md kept (the same quality table" in out
    assert (tmp_path / "a" / "results.md").read_text() == "earlier\n"
    assert os.stat(weights).st_mtime_ns == stamp


def test_training_does_not_depend_on_the_thread_count(tmp_path):
    """The tiny variant trained and benchmarked at 1 and at 2 threads: the same quality table
    to 0.02 dB."""
    import re

    for threads in ("1", "2"):
        assert main([*TINY, "--threads", threads, "--out", str(tmp_path / threads)]) == 0
    nums = [[float(v) for v in re.findall(r"\| (\d+\.\d+)", (tmp_path / t / "quality_table.md")
             .read_text())] for t in ("1", "2")]  # fmt: skip
    assert len(nums[0]) == len(nums[1]) == 16
    assert max(abs(x - y) for x, y in zip(*nums)) <= 0.02
