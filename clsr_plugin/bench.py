"""``clsr-bench`` / ``python -m clsr_plugin.bench``: LocalSR quality/efficiency benchmark.

    python -m clsr_plugin.bench --opt options/test_clsr_srresnet_x4.yml --weights net_g.pth \\
        --data datasets/Set5 datasets/Urban100 --roi 24 48 --out results/bench

For every dataset (folder of HR images; LR made with MATLAB bicubic, as in validation) and
ROI size it evaluates, on the non-overlapping ROI grid of each image (LR cropped to a multiple
of the ROI size, as the paper and ``clsr_plugin.data.roi_grid`` do):

* ``pre_nopad``: the backbone on the bare ROI (the paper's pre-cropping);
* ``pre_pad``: the backbone on the ROI plus the model's ``roi_pad`` of real context;
* ``post``: the backbone on the whole LR image, then cropped;
* ``clsr``: the CLSR (``encode_context`` once per image + ``decode`` of the ROIs);

and writes ``bench.json``, ``bench.md`` (Table 1 style) and ``bench.png`` (PSNR against GFLOPs
per ROI, log x axis; skipped with one warning without matplotlib): PSNR/SSIM in both protocols
of ``clsr_plugin.evaluation.roi_metrics``, GFLOPs per ROI (2 x mmengine MACs; single ROI, and
context amortised over the image's ROIs), wall-clock per ROI (one ROI alone) and per image (all
its ROIs; median of ``--repeats`` after ``--warmup``; CUDA timed with events after
synchronisation), peak memory (CUDA: max allocated; CPU: peak RSS growth, via
``/proc/self/clear_refs``); plus multi-ROI scaling (1, 10, 100 ROIs per image), the
context-window trade-off, and optionally synthetic large images (``--synthetic-sizes 512 2048``)
for latency/memory at scale.

Every input is checked before anything runs (:func:`~clsr_plugin.evaluation.benchmark.check_inputs`:
each image decodes, each synthetic size fits in memory); bad input is one ``clsr-bench: error:``
line, exit code 2, and no report is written.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence

import torch

from clsr_plugin.archs.clsr_arch import UNTRAINED_WARNING, context_untrained
from clsr_plugin.evaluation.benchmark import (
    BenchSettings,
    bench_dataset,
    check_inputs,
    synthetic,
)
from clsr_plugin.evaluation.report import write_report
from clsr_plugin.inference.api import load_clsr
from clsr_plugin.inference.rois import context_window_arg
from clsr_plugin.utils.cli import run_cli

PROG = "clsr-bench"


# ---------------------------------------------------------------- CLI ------------------------
def _size_arg(text: str) -> tuple[int, int]:
    """argparse ``type`` of ``--synthetic-sizes``: ``N`` or ``WxH`` -> (W, H)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
        if len(parts) == 1:
            parts *= 2
        if len(parts) != 2 or min(parts) < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or WxH (positive), got {text!r}") from None
    return parts[0], parts[1]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "LocalSR quality/efficiency benchmark (the paper's Table 1 style). For every folder\n"
            "of HR images (LR made with MATLAB bicubic) and ROI size it evaluates, on each\n"
            "image's non-overlapping ROI grid, pre-cropping (bare ROI; ROI + the model's\n"
            "roi_pad), post-cropping (whole image, then cropped) and CLSR: PSNR/SSIM (mean over\n"
            "ROIs; pooled per image), GFLOPs per ROI, wall-clock per ROI and per image, peak\n"
            "memory; plus multi-ROI scaling, the context-window trade-off and optional\n"
            "synthetic large images. Writes <out>/bench.json, <out>/bench.md and <out>/bench.png\n"
            "(PSNR vs GFLOPs per ROI, log x axis; needs matplotlib)."
        ),
        epilog=(
            "example:\n  clsr-bench --opt srresnet --weights net_g_latest.pth "
            "--data datasets/Set5/HR \\\n      --roi 24 48 --out results/bench\n"
            "  clsr-bench --weights backbone.pth --adapter adapter.safetensors --data HR/ --out b/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--opt",
        default=None,
        help="options YAML (network_g) or backbone options: a path or a shipped name such as "
        "srresnet; optional with --adapter",
    )
    ap.add_argument("--weights", default=None,
                    help="CLSR checkpoint, or a plain backbone checkpoint (a fresh CLSR, "
                         "reported as pre-cropping)")  # fmt: skip
    ap.add_argument(
        "--adapter",
        default=None,
        help="adapter file (.safetensors) trained on the --weights backbone",
    )
    ap.add_argument("--data", nargs="*", default=[], help="folders of HR images")
    ap.add_argument("--roi", nargs="+", type=int, default=[24], help="ROI sizes (default 24)")
    ap.add_argument("--out", required=True, help="folder for bench.json, bench.md, bench.png")
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    ap.add_argument("--half", action="store_true", help="bf16 where supported, else fp16")
    ap.add_argument("--max-images", type=int, default=10**9,
                    help="use at most this many images per folder (default all)")  # fmt: skip
    ap.add_argument("--timing-images", type=int, default=3,
                    help="images timed per folder (the first ones; default 3)")  # fmt: skip
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed calls before each timing (default 1)")  # fmt: skip
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed calls; the median is reported (default 3)")  # fmt: skip
    ap.add_argument("--batch", type=int, default=64, help="ROIs per batch (default 64)")
    ap.add_argument("--multi-roi", nargs="+", type=int, default=[1, 10, 100],
                    help="numbers of random ROIs per image for the scaling table "
                         "(default 1 10 100)")  # fmt: skip
    ap.add_argument(
        "--context-windows",
        nargs="+",
        type=context_window_arg,
        default=[1, 1.5, 2, 4, 6, 8, 0],
        help="K values for the context-window trade-off (0 = whole image)",
    )
    ap.add_argument(
        "--synthetic-sizes",
        nargs="*",
        type=_size_arg,
        default=[],
        help="also time random LR images of these sizes: N (N x N) or WxH (e.g. 512 1000x750); "
        "refused up front when its float32 input plus post-cropping's output exceed the "
        "available memory",
    )
    ap.add_argument(
        "--lr-photos",
        nargs="*",
        default=[],
        help="also time these image files used as the LR input as they are (e.g. a "
        "1000x750 photo: a 12-megapixel HR output)",
    )
    ap.add_argument("--no-flops", action="store_true", help="skip FLOPs counting")
    ap.add_argument("--no-share-windows", dest="share_windows", action="store_false",
                    help="time CLSR ROI by ROI (default: ROIs whose padded windows overlap "
                         "share one base-branch pass, as clsr-infer runs them)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: 0; 2 and one ``clsr-bench: error:`` line for bad input (options,
    weights, adapter, images, sizes; :mod:`clsr_plugin.utils.cli`), with nothing written."""
    args = build_parser().parse_args(argv)
    return run_cli(PROG, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """Check every input, run the benchmark, write the report (only at the end)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_clsr(args.weights, args.opt, args.device, args.half, adapter=args.adapter)
    settings = BenchSettings(
        batch=args.batch, max_images=args.max_images, timing_images=args.timing_images,
        warmup=args.warmup, repeats=args.repeats, multi_roi=tuple(args.multi_roi),
        context_windows=tuple(args.context_windows), synthetic_sizes=tuple(args.synthetic_sizes),
        lr_photos=tuple(args.lr_photos), no_flops=args.no_flops, share_windows=args.share_windows,
    )  # fmt: skip
    p = next(model.parameters())
    device, dtype = p.device, p.dtype
    check_inputs(args.data, settings, int(model.scale), device)  # before anything runs
    untrained = context_untrained(model)
    if untrained:
        print(f"{PROG}: warning: {UNTRAINED_WARNING}", file=sys.stderr)
    report = dict(
        config=dict(opt=str(args.opt), weights=args.weights, adapter=args.adapter,
                    device=str(device),
                    device_name=torch.cuda.get_device_name(device) if device.type == "cuda"
                    else platform.processor() or platform.machine(),
                    dtype=str(getattr(model, "amp_dtype", None) or dtype).replace("torch.", ""),
                    scale=int(model.scale),
                    roi_pad=int(model.roi_pad), warmup=args.warmup, repeats=args.repeats,
                    threads=torch.get_num_threads(), torch=torch.__version__,
                    datasets=args.data, rois=args.roi, context_untrained=untrained,
                    share_windows=args.share_windows),
        results=[],
    )  # fmt: skip
    for roi in args.roi:
        for d in args.data:
            report["results"].append(bench_dataset(model, d, roi, settings, device, dtype))
    if args.synthetic_sizes or args.lr_photos:
        report["synthetic"] = synthetic(model, args.roi[0], settings, device, dtype)
    print(write_report(report, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
