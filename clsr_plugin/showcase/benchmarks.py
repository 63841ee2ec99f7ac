"""The demo's two ``clsr-bench`` runs: ROI by ROI on the held-out photos, and the cost on the
large image. Each writes its report (and its captured stdout) into its own folder."""

from __future__ import annotations

import json
import os
import os.path as osp

from clsr_plugin.showcase.photos import VAL_IMAGES


def bench_args(weights: str, adapter: str, roi: int, threads: int) -> list[str]:
    """The ``clsr-bench`` arguments both runs share (CPU, one ROI size)."""
    return ["--weights", weights, "--adapter", adapter, "--roi", str(roi), "--device", "cpu",
            "--threads", str(threads)]  # fmt: skip


def run_bench(out: str, argv: list[str]) -> dict:
    """``clsr-bench`` with ``argv`` into ``out`` (its stdout into ``bench_stdout.txt``, written
    atomically); returns its report."""
    import contextlib

    from clsr_plugin.bench import main as bench_main  # the report is assembled by the CLI only
    from clsr_plugin.utils.atomic import atomic_path

    os.makedirs(out, exist_ok=True)
    with (
        atomic_path(osp.join(out, "bench_stdout.txt")) as tmp,
        open(tmp, "w") as log,
        contextlib.redirect_stdout(log),
    ):
        rc = bench_main([*argv, "--out", out])  # its tables: bench.md beside the log
    if rc != 0:
        raise ValueError(f"clsr-bench failed (see above): {' '.join(argv)}")
    with open(osp.join(out, "bench.json")) as f:
        return json.load(f)


def heldout_bench(out: str, common: list[str], val_hr: str) -> dict:
    """The held-out photos, ROI by ROI (timed on all of them, 6 context windows)."""
    return run_bench(osp.join(out, "bench_heldout"), [*common, "--data", val_hr,
                     "--timing-images", str(len(VAL_IMAGES)), "--warmup", "1", "--repeats", "3",
                     "--multi-roi", "1", "--context-windows", "6"])  # fmt: skip


def large_bench(out: str, common: list[str], large: str) -> dict:
    """The cost on the large LR image for 1 and 10 ROIs (no FLOPs counted)."""
    return run_bench(osp.join(out, "bench_large"), [*common, "--lr-photos", large, "--warmup", "0",
                     "--repeats", "1", "--multi-roi", "1", "10", "--no-flops"])  # fmt: skip
