"""``clsr-demo`` / ``python -m clsr_plugin.demo``: the README's main job, end to end on CPU.

1. Real photographs bundled with scikit-image become an HR training set and a held-out HR test
   set (``<out>/data``; LR made on the fly with BasicSR's MATLAB bicubic), and one of them,
   upscaled, a large LR image (``<out>/data/large_LR.png``).
2. A tiny backbone (16-feature, 4-block MSRResNet) is trained alone with BasicSR's own
   ``SRModel`` (``clsr-train``, ``options/demo/backbone_demo_x4.yml``): a plain BasicSR
   checkpoint, as a user has.
3. ``clsr-adapt`` trains CLSR context adapters around that frozen backbone
   (``options/demo/clsr_demo_x4.yml``; the last training photo kept apart as its validation
   split, the best checkpoint kept).
4. ``clsr-bench`` compares, ROI by ROI on the held-out photos, pre-cropping without and with
   padding, post-cropping (all three: the same frozen backbone) and the CLSR, with GFLOPs and
   ms per ROI and the paired 95% CI of CLSR - post; and, on the large image, the time and peak
   memory of post-cropping, padded pre-cropping and CLSR (as ``clsr-infer`` runs it) for 1 and
   10 ROIs, with the PSNR of their ROIs against post-cropping's own output.

Writes ``results.md`` (the tables and what they mean), ``comparison.png`` (bicubic | pre | post
| CLSR | GT on the most textured ROIs of the first test photo) and ``cost_panel.png``.
Re-running is idempotent: finished trainings are not repeated (markers), interrupted ones
resume; the benchmark runs again and ``results.md`` / the pictures are kept unless
``--overwrite``. Same seed and machine: the same quality table.

This module is the command line only; the steps are :mod:`clsr_plugin.showcase`'s.
"""

from __future__ import annotations

import argparse
import sys

from clsr_plugin.adaptation import exact_enlarge_ratio
from clsr_plugin.showcase.benchmarks import run_bench
from clsr_plugin.showcase.photos import (
    LARGE_IMAGE,
    LARGE_SIZE,
    TRAIN_IMAGES,
    VAL_IMAGES,
    prepare_images,
    prepare_large,
)
from clsr_plugin.showcase.pipeline import DemoSettings, run_demo
from clsr_plugin.showcase.sheet import demo_sheet
from clsr_plugin.showcase.tables import TABLE_METHODS, format_cost, format_paired, format_table
from clsr_plugin.showcase.training import MARKER, basicsr_iterations, demo_options, train_backbone
from clsr_plugin.showcase.verdict import curve_line, verdict

#: re-exported: the demo's parts as they were importable from here
__all__ = [
    "LARGE_IMAGE", "LARGE_SIZE", "MARKER", "TABLE_METHODS", "TRAIN_IMAGES", "VAL_IMAGES",
    "basicsr_iterations", "build_parser", "curve_line", "demo_options", "demo_sheet",
    "exact_enlarge_ratio", "format_cost", "format_paired", "format_table", "main",
    "prepare_images", "prepare_large", "run", "run_bench", "train_backbone", "verdict",
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``clsr-demo``."""
    parser = argparse.ArgumentParser(
        prog="clsr-demo",
        description=(
            "The README's main job, end to end on CPU, from any directory: train a tiny backbone\n"
            "alone on five photographs bundled with scikit-image (BasicSR's SRModel), train CLSR\n"
            "context adapters around it with clsr-adapt, then compare ROI by ROI on two held-out\n"
            "photos pre-cropping (without and with padding), post-cropping and the CLSR (paired\n"
            "95% CI), and show the cost of post-cropping, padded pre-cropping and CLSR on one\n"
            "large image. Writes results.md, comparison.png and cost_panel.png. Re-running\n"
            "resumes or, once trained, only re-benchmarks (results.md and the pictures are kept\n"
            "unless --overwrite). Same seed and machine: the same quality table."
        ),
        epilog="example:\n  clsr-demo --out demo_output\n  clsr-demo --iters 100 --adapt-iters "
        "60 --out /tmp/quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    parser.add_argument(
        "--options",
        default=None,
        help="folder holding backbone_demo_x4.yml, clsr_demo_x4.yml (default: the "
        "demo options shipped with the package)",
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=None,
        help="backbone training iterations (default: the options' 500)",
    )
    parser.add_argument(
        "--adapt-iters", type=int, default=200, help="clsr-adapt iterations (default 200)"
    )
    parser.add_argument("--roi", type=int, default=24, help="ROI size in LR pixels (default 24)")
    parser.add_argument(
        "--max-side", type=int, default=512, help="longest side of the HR photographs (default 512)"
    )
    parser.add_argument(
        "--large-size",
        default=f"{LARGE_SIZE[0]}x{LARGE_SIZE[1]}",
        help="WxH of the cost panel's large LR image (default 2000x1333)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier results.md and pictures"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: the tiny networks gain little "
        "from more, and the training then does not depend on the count)",
    )
    return parser  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """The demo's steps (see the module docstring) for parsed arguments."""
    from clsr_plugin.bench import main as bench_main

    # the parser's dests are the settings' fields
    return run_demo(DemoSettings(**vars(args)), bench_main)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``clsr-demo``: 0; bad input: one ``clsr-demo: error:`` line, 2."""
    args = build_parser().parse_args(argv)
    from clsr_plugin.utils.cli import run_cli

    return run_cli("clsr-demo", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
