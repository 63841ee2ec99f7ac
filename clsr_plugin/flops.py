"""``python -m clsr_plugin.flops``: the pre-cropping GFLOPs of the paper's backbones at 24 x 24
next to the paper's Table 1 values (counted by :mod:`clsr_plugin.evaluation.macs`, which this
module re-exports for scripts).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from clsr_plugin.evaluation.macs import (  # noqa: F401  (re-exported)
    backbone_macs,
    build_backbone,
    clsr_macs,
    count_macs,
    gflops,
    paper_table,
)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the pre-cropping FLOPs table of the paper's backbones."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--roi", type=int, default=24, help="ROI side in LR pixels (default 24)")
    args = ap.parse_args(argv)
    print(f"Pre-cropping cost at {args.roi}x{args.roi} (x4), mmengine FlopAnalyzer")
    print("| backbone | GMACs | GFLOPs (2xMACs) | paper GFLOPs |")
    print("|---|---|---|---|")
    for r in paper_table(args.roi):
        paper = "" if r["paper_gflops"] is None else f"{r['paper_gflops']:.2f}"
        print(
            f"| {r['backbone']} ({r['type']}) | {r['gmacs']:.4f} | {r['gflops']:.3f} | {paper} | |"
        )


if __name__ == "__main__":
    main()
