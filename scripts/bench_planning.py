"""Time context-window planning for many scattered ROIs (issue 11, item 6).

    python scripts/bench_planning.py --rois 1000 10000 --size 4096 --roi 24 --k 6

Prints the planning time and the number of windows for each ROI count (CPU, one thread of
Python; no model is involved). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import random
import time

from clsr_plugin.inference.rois import context_windows


def main(argv: list[str] | None = None) -> int:
    """Plan ``--rois`` random ``--roi``-sized ROIs on a ``--size`` image and print the times."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rois", nargs="+", type=int, default=[1000, 10000])
    ap.add_argument("--size", type=int, default=4096, help="square LR image side")
    ap.add_argument("--roi", type=int, default=24, help="square ROI side")
    ap.add_argument("--k", type=float, default=6.0, help="context window factor")
    ap.add_argument("--pad", type=int, default=8, help="min context pad (the model's roi_pad)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for n in args.rois:
        rng = random.Random(args.seed)
        side = args.size - args.roi
        rois = [(rng.randint(0, side), rng.randint(0, side), args.roi, args.roi) for _ in range(n)]
        t0 = time.perf_counter()
        groups = context_windows(rois, args.size, args.size, args.k, args.pad)
        seconds = time.perf_counter() - t0
        print(f"{n} ROIs of {args.roi}x{args.roi} on {args.size}x{args.size}, K={args.k}: "
              f"{len(groups)} windows in {seconds:.3f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
