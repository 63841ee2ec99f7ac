"""``clsr-infer`` / ``python -m clsr_plugin.infer``: super-resolve ROIs of images with a CLSR.

    clsr-infer photo.png --roi 120,80,24,24 --roi 300,40,48,48 \\
        --opt options/test_clsr_srresnet_x4.yml --weights net_g_latest.pth --out results/rois

For every input image it writes ``<out>/<stem>/roi<i>_x<x>_y<y>_<w>x<h>.png`` (the CLSR
output of each ROI) and ``<out>/<stem>/sheet.png`` (per ROI: bicubic | pre-cropping | CLSR,
plus HR with ``--gt``), and ``<out>/results.json`` (ROIs, files, conversions, PSNR with
``--gt``). Everything is checked before any model runs and written to a temporary folder that
is published into ``--out`` only when every image succeeded: on bad input (ROI outside the
image, zero/negative size, unreadable or truncated file, missing weights) the exit code is 2,
one line names the problem, and no output is left behind.

Existing results are never replaced without ``--overwrite``: when ``--out`` already holds a
file this run would write (``results.json`` is always one), the run is refused before any
model is loaded. With ``--overwrite`` those files are replaced and every other file is kept.
Publishing is all or nothing: a new ``--out`` appears with one rename; into an existing one,
files are moved one by one and, after any failure, moved back, so the folder is exactly as it
was. A killed run's hidden temporary folder (``.<out>.tmp-<pid>-*``) is removed by the next run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import torch

from clsr_plugin.archs.clsr_arch import UNTRAINED_WARNING, context_untrained
from clsr_plugin.evaluation.methods import CLSR_METHOD, PRE_NOPAD, UNTRAINED_EQUIVALENT, get_method
from clsr_plugin.inference.api import DEFAULT_CONTEXT_WINDOW, DEFAULT_PIM_TILE, load_clsr
from clsr_plugin.inference.jobs import Job, check_gt, gt_path, plan_jobs
from clsr_plugin.inference.out_layout import (
    RESULTS_JSON,
    output_files,
    roi_file_name,
    write_results,
)
from clsr_plugin.inference.publish import check_out, publish, remove_stale_tmp, staging_folder
from clsr_plugin.inference.roi_run import RoiRun, bicubic_roi, precrop_roi, psnr, run_job
from clsr_plugin.inference.rois import context_window_arg
from clsr_plugin.utils.cli import InputError, exit_on_sigterm, run_cli

__all__ = [
    "RESULTS_JSON",
    "InputError",
    "Job",
    "bicubic_roi",
    "build_parser",
    "check_gt",
    "check_out",
    "gt_path",
    "main",
    "output_files",
    "plan_jobs",
    "precrop_roi",
    "psnr",
    "publish",
    "remove_stale_tmp",
    "roi_file_name",
    "run",
]

PROG = "clsr-infer"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _pim_tile_arg(text: str) -> int | str | None:
    """argparse ``type`` of ``--pim-tile``: a positive integer, ``auto`` or ``off``."""
    if text in ("auto", "off"):
        return None if text == "off" else text
    try:
        value = int(text)
        if value < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, 'auto' or 'off', got {text!r}"
        ) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog=PROG,
        description=(
            "Super-resolve regions of interest (ROIs) of LR images with a trained CLSR. Writes\n"
            "<out>/<image>/roi<i>_x<x>_y<y>_<w>x<h>.png per ROI, <out>/<image>/sheet.png\n"
            "(bicubic | pre-crop | CLSR [| HR]) and <out>/results.json; on bad input nothing.\n"
            "--opt takes a path or a shipped options name (e.g. srresnet)."
        ),
        epilog=(
            "example:\n  clsr-infer photo.png --roi 120,80,24,24 --roi 10,10,48,32 --opt srresnet "
            "\\\n      --weights experiments/clsr_srresnet_x4/models/net_g_latest.pth --out out/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("inputs", nargs="+", help="LR image files and/or folders of images")
    ap.add_argument("--roi", action="append", default=[], metavar="X,Y,W,H",
                    help="ROI in LR pixels (x = left column, y = top row); repeatable, applies "
                         "to every input")  # fmt: skip
    ap.add_argument("--rois-json", metavar="PATH",
                    help="JSON with ROIs: a list (all images), {image name: list}, or a folder "
                         "of <stem>.json files")  # fmt: skip
    ap.add_argument(
        "--opt",
        default=None,
        help="options YAML with network_g (train or test): a path or a shipped name such as "
        "srresnet; optional with --adapter",
    )
    ap.add_argument(
        "--adapter",
        default=None,
        help="adapter file (.safetensors) trained on the --weights backbone",
    )
    ap.add_argument("--weights", required=True,
                    help="checkpoint (CLSR net_g_*.pth, params_ema preferred; or a plain "
                         "backbone checkpoint = fresh CLSR)")  # fmt: skip
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files of the same name in --out (default: refuse when --out holds any)",
    )
    ap.add_argument("--gt", help="HR ground truth: a file (one input) or a folder (same names)")
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    ap.add_argument(
        "--half",
        action="store_true",
        help="half precision: bf16 where supported, else fp16 (see --half-dtype)",
    )
    ap.add_argument(
        "--half-dtype",
        default="auto",
        choices=["auto", "bf16", "fp16"],
        help="dtype used by --half (default auto)",
    )
    ap.add_argument("--context-window", type=context_window_arg, default=DEFAULT_CONTEXT_WINDOW,
                    help=f"context = this many ROI sizes around each ROI (default "
                         f"{DEFAULT_CONTEXT_WINDOW}); 0 = whole image")  # fmt: skip
    ap.add_argument(
        "--pim-tile",
        type=_pim_tile_arg,
        default="auto",
        help="compute the PIM in tiles of this many LR pixels (bounded memory); 'auto' "
        f"(default): tiles of {DEFAULT_PIM_TILE} for larger contexts when exact "
        "(convolutional backbones); 'off': one pass",
    )
    ap.add_argument(
        "--allow-unsafe-pickle",
        action="store_true",
        help="load a checkpoint that needs full unpickling (trusted files only; it can run "
        "code); the options' path.allow_unsafe_pickle: true does the same",
    )
    ap.add_argument("--no-sheet", action="store_true", help="skip the comparison sheets")
    return ap


def _roi_run(model: torch.nn.Module, args: argparse.Namespace) -> RoiRun:
    """How every image runs: an untrained context makes the output padded pre-cropping."""
    untrained = context_untrained(model)
    return RoiRun(precrop=get_method(PRE_NOPAD).restore,
                  method=UNTRAINED_EQUIVALENT if untrained else CLSR_METHOD,
                  label="pre-crop (padded)" if untrained else "CLSR",
                  context_window=args.context_window, pim_tile=args.pim_tile,
                  sheet=not args.no_sheet)  # fmt: skip


def run(args: argparse.Namespace) -> list[dict]:
    """Validate everything, process all images into a temp folder, then publish it to --out."""
    from tqdm import tqdm

    jobs = plan_jobs(args.inputs, args.roi, args.rois_json, args.gt)
    out = os.path.abspath(args.out)
    files = output_files(jobs, args.no_sheet)
    check_out(out, files, args.overwrite)
    if not os.path.isfile(args.weights):
        raise InputError(f"Weights file not found: {args.weights!r}")
    model = load_clsr(args.weights, args.opt, args.device, args.half and args.half_dtype,
                      allow_unsafe_pickle=args.allow_unsafe_pickle or None,
                      adapter=args.adapter,
                      opt_in="pass --allow-unsafe-pickle")  # fmt: skip
    if context_untrained(model):
        print(f"{PROG}: warning: {UNTRAINED_WARNING}", file=sys.stderr)
    for job in jobs:
        check_gt(job, int(model.scale))
    roi_run = _roi_run(model, args)
    with staging_folder(out) as tmp:
        results = []
        for job in tqdm(jobs, desc=PROG, unit="img", file=sys.stderr):
            img = job.load()
            for note in img.conversions:
                tqdm.write(f"{os.path.basename(job.path)}: {note}", file=sys.stderr)
            results.append(run_job(job, img, model, roi_run, os.path.join(tmp, job.stem)))
        write_results(tmp, args.opt, args.weights, results)
        check_out(out, files, args.overwrite)  # again: another run may have written meanwhile
        publish(tmp, out, files)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 bad input, 1 other failure)."""
    args = build_parser().parse_intermixed_args(argv)

    def body() -> int:
        results = run(args)
        n = sum(len(r["rois"]) for r in results)
        print(f"{PROG}: wrote {n} ROI(s) of {len(results)} image(s) to {args.out}")
        return 0

    with exit_on_sigterm():
        return run_cli(PROG, body, failures=(RuntimeError, OSError))


if __name__ == "__main__":
    sys.exit(main())
