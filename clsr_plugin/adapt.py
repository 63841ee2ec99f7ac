"""``clsr-adapt`` / ``python -m clsr_plugin.adapt``: context adapters for your own backbone.

The command line only; the recipe is :mod:`clsr_plugin.adaptation`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from clsr_plugin.adaptation import AdaptSettings


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``clsr-adapt``."""
    ap = argparse.ArgumentParser(
        prog="clsr-adapt",
        description=(
            "Train CLSR context adapters around your own frozen BasicSR backbone, in one\n"
            "command. The backbone stays bit for bit; only the context branches (GCM without its\n"
            "extractor, PIM, fusions) are trained, through BasicSR's training pipeline, on ROIs\n"
            "inside LR contexts of at least 3 ROI sizes cut from your HR images (LR made on the\n"
            "fly with MATLAB bicubic). The last --val-images images of the folder (sorted by\n"
            "name) are kept apart for validation; the checkpoint best on them is kept as\n"
            "<out>/adapter.safetensors, and <out>/report.md compares pre-cropping,\n"
            "post-cropping and the CLSR on them with the paired 95% CI. Re-running resumes; a\n"
            "finished run is only reported again unless --overwrite."
        ),
        epilog=(
            "example:\n"
            "  clsr-adapt --weights MSRResNet_x4.pth --data my_HR_photos --out adapt_out\n"
            "  clsr-adapt --weights net_g_latest.pth --opt options/demo/backbone_demo_x4.yml \\\n"
            "      --data my_HR_photos --iters 300 --out adapt_out\n"
            "  clsr-infer photo.png --roi 120,80,24,24 --weights MSRResNet_x4.pth \\\n"
            "      --adapter adapt_out/adapter.safetensors --out out/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--weights",
        required=True,
        help="the backbone: a plain BasicSR checkpoint (params_ema, else params)",
    )
    ap.add_argument("--data", required=True, help="folder of HR images (PNG, JPEG, ...)")
    ap.add_argument("--out", required=True, help="output folder (resumable)")
    ap.add_argument(
        "--opt",
        default=None,
        help="options (path or shipped name) whose network_g is the backbone, or a "
        "CLSR around it (default: the msrresnet_adapters recipe, MSRResNet "
        "64x16)",
    )
    ap.add_argument("--iters", type=int, default=600, help="training iterations (default 600)")
    ap.add_argument("--roi", type=int, default=24, help="ROI size in LR pixels (default 24)")
    ap.add_argument(
        "--context",
        type=int,
        default=80,
        help="LR context side (default 80; at most what the images allow, at least 3 ROIs)",
    )
    ap.add_argument(
        "--val-images",
        type=int,
        default=None,
        help="images kept apart for validation (default: a fifth, at least 1)",
    )
    ap.add_argument(
        "--val-freq",
        type=int,
        default=None,
        help="validate and checkpoint every N iterations (default iters / 6)",
    )
    ap.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the recipe's)")
    ap.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    ap.add_argument("--overwrite", action="store_true", help="train again over a finished run")
    return ap  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run :func:`clsr_plugin.adaptation.adapt`."""
    args = build_parser().parse_args(argv)
    settings = AdaptSettings(**{k: v for k, v in vars(args).items()})

    def body() -> int:
        import clsr_plugin  # noqa: F401  (registers the plugin)
        from clsr_plugin.adaptation import adapt

        adapt(settings)
        return 0

    from clsr_plugin.utils.cli import run_cli

    return run_cli("clsr-adapt", body)


if __name__ == "__main__":
    sys.exit(main())
