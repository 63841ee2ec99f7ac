"""The demo's two ``clsr-bench`` runs: ROI by ROI on the held-out photos, and the cost on the
large image. Each writes its report (and its captured stdout) into its own folder.

``bench`` is clsr-bench's entry point (:func:`clsr_plugin.bench.main`, which assembles the report),
passed in by the command line that runs the demo: a library never imports a command line."""

from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Callable

from clsr_plugin.showcase.photos import VAL_IMAGES

#: ``bench(argv) -> exit code``: clsr-bench's entry point
Bench = Callable[[list[str]], int]


def bench_args(weights: str, adapter: str, roi: int, threads: int) -> list[str]:
    """The ``clsr-bench`` arguments both runs share (CPU, one ROI size)."""
    return ["--weights", weights, "--adapter", adapter, "--roi", str(roi), "--device", "cpu",
            "--threads", str(threads)]  # fmt: skip


def run_bench(bench: Bench, out: str, argv: list[str]) -> dict:
    """``clsr-bench`` with ``argv`` into ``out`` (its stdout into ``bench_stdout.txt``, written
    atomically); returns its report."""
    import contextlib

    from clsr_plugin.utils.atomic import atomic_path

    os.makedirs(out, exist_ok=True)
    with (
        atomic_path(osp.join(out, "bench_stdout.txt")) as tmp,
        open(tmp, "w") as log,
        contextlib.redirect_stdout(log),
    ):
        rc = bench([*argv, "--out", out])  # its tables: bench.md beside the log
    if rc != 0:
        raise ValueError(f"clsr-bench failed (see above): {' '.join(argv)}")
    with open(osp.join(out, "bench.json")) as f:
        return json.load(f)


def heldout_bench(bench: Bench, out: str, common: list[str], val_hr: str) -> dict:
    """The held-out photos, ROI by ROI (timed on all of them, 6 context windows)."""
    return run_bench(bench, osp.join(out, "bench_heldout"), [*common, "--data", val_hr,
                     "--timing-images", str(len(VAL_IMAGES)), "--warmup", "1", "--repeats", "3",
                     "--multi-roi", "1", "--context-windows", "6"])  # fmt: skip


def large_bench(bench: Bench, out: str, common: list[str], large: str) -> dict:
    """The cost on the large LR image for 1 and 10 ROIs (no FLOPs counted)."""
    argv = [*common, "--lr-photos", large, "--warmup", "0", "--repeats", "1", "--multi-roi", "1",
            "10", "--no-flops"]  # fmt: skip
    return run_bench(bench, osp.join(out, "bench_large"), argv)
