"""Wall-clock and peak-memory measurement of one call (the one timing harness).

CUDA: CUDA events after ``torch.cuda.synchronize``, peak = max allocated minus allocated before.
CPU: ``time.perf_counter``, peak = growth of the process's peak RSS (``VmHWM`` after resetting it
through ``/proc/self/clear_refs``), ``None`` where /proc is unavailable.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def _proc_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(
    fn: Callable[[], Any], device: torch.device, warmup: int = 1, repeats: int = 3
) -> dict[str, Any]:
    """Median wall-clock (ms) of ``fn`` after ``warmup`` calls, its peak memory (MB) during the
    last timed call, and that call's result (``output``).

    CUDA: timed with CUDA events after ``torch.cuda.synchronize``; peak = max allocated minus
    allocated before. CPU: ``time.perf_counter``; peak = growth of the process's peak RSS
    (``VmHWM`` after resetting it), ``None`` where /proc is unavailable.
    """
    for _ in range(warmup):
        fn()
    times, peak, out = [], None, None
    for i in range(max(1, repeats)):
        last = i == max(1, repeats) - 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            if last:
                base = torch.cuda.memory_allocated(device)
                torch.cuda.reset_peak_memory_stats(device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
            if last:
                peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        else:
            before = _proc_status_kb("VmRSS") if last and _reset_peak_rss() else None
            t0 = time.perf_counter()
            out = fn()
            times.append((time.perf_counter() - t0) * 1e3)
            after = _proc_status_kb("VmHWM") if before is not None else None
            if before is not None and after is not None:
                peak = max(0, after - before) / 1024
    return dict(ms=statistics.median(times), peak_mem_mb=peak, output=out)
