"""clsr-demo: exact iteration count, determinism, a re-run that only re-tests."""

import os

import pytest

from clsr_plugin.demo import (
    TRAIN_IMAGES,
    basicsr_iterations,
    exact_enlarge_ratio,
    format_table,
    main,
)


def test_basicsr_iteration_model_reproduces_the_short_run():
    assert basicsr_iterations(5 * 10, 8, 500) == 438  # the old demo: "500 iterations" ran 438


@pytest.mark.parametrize("n,batch,ratio,total", [(5, 8, 10, 500), (5, 8, 10, 37), (7, 6, 1, 100),
                                                 (3, 4, 5, 1), (16, 8, 1, 99)])  # fmt: skip
def test_exact_enlarge_ratio_makes_basicsr_run_total_iter(n, batch, ratio, total):
    r = exact_enlarge_ratio(n, batch, ratio)
    assert r >= ratio and (n * r) % batch == 0
    assert basicsr_iterations(n * r, batch, total) == total


def test_table_compares_the_backbone_alone_with_the_clsr():
    res = {f"{k}/{m}": 1.0 for k in ("pre_nopad", "pre_pad", "post", "clsr")
           for m in ("psnr_roi", "ssim_roi", "psnr_img", "gflops")}  # fmt: skip
    table = format_table({"backbone": res, "clsr": {"clsr/psnr_roi": 2.0, "clsr/ssim_roi": 0.5,
                                                    "clsr/psnr_img": 2.0}})  # fmt: skip
    lines = table.splitlines()[2:]
    assert [line.split(" | ")[0] for line in lines] == [
        "| pre-cropping (no padding), backbone alone",
        "| pre-cropping (padded ROI), backbone alone",
        "| post-cropping (whole image), backbone alone",
        "| CLSR",
    ]
    assert lines[-1] == "| CLSR | 2.000 | 0.5000 | 2.000 | - |"  # the CLSR's own row


def test_demo_is_deterministic_and_a_rerun_only_retests(tmp_path, capsys):
    argv = ["--iters", "3", "--max-side", "192"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert out.count("clsr_plugin.train") == 4  # CLSR and backbone alone, in both folders
    a, b = ((tmp_path / d / "results.md").read_text() for d in "ab")
    assert a == b and len(a.splitlines()) == 6  # same seed and machine: the same table
    assert (tmp_path / "a" / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert len(TRAIN_IMAGES) == 5
    weights = tmp_path / "a" / "experiments" / "clsr_demo_x4" / "models" / "net_g_latest.pth"
    stamp = os.stat(weights).st_mtime_ns
    (tmp_path / "a" / "results.md").write_text("earlier\n")
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "clsr_plugin.train" not in out and out.count("training finished earlier") == 2
    assert "results.md kept (the new table differs" in out
    assert (tmp_path / "a" / "results.md").read_text() == "earlier\n"
    assert os.stat(weights).st_mtime_ns == stamp
    assert main([*argv, "--out", str(tmp_path / "a"), "--overwrite"]) == 0
    assert (tmp_path / "a" / "results.md").read_text() == b
    with pytest.raises(SystemExit, match="finished with 3 iterations, not 4"):
        main(["--iters", "4", "--max-side", "192", "--out", str(tmp_path / "a")])
