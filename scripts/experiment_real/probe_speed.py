"""Seconds per training iteration of a run, on random batches of the run's shapes."""

from __future__ import annotations

import time

import torch
from model_from_opt import build_from_options


def seconds_per_iter(opt: dict, steps: int = 30, warmup: int = 5) -> float:
    """Mean time of ``steps`` optimiser steps after ``warmup`` (data loading excluded).

    Args:
        opt: training options of a LocalSRModel run (``lq_size``, ``roi_size``, batch).
        steps: timed steps.
        warmup: untimed steps first (cuDNN autotuning, allocator).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    model = build_from_options(opt, is_train=True)
    ds = opt["datasets"]["train"]
    batch, size, roi, scale = ds["batch_size_per_gpu"], ds["lq_size"], ds["roi_size"], opt["scale"]
    dev = model.device
    off = (size - roi) // 2
    data = {
        "lq": torch.rand(batch, 3, size, size, device=dev),
        "gt": torch.rand(batch, 3, size * scale, size * scale, device=dev),
        "roi": torch.tensor([[off, off, roi, roi]] * batch, device=dev),
    }
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        model.feed_data(data)
        model.optimize_parameters(i + 1)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps
