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
import contextlib
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from clsr_plugin.archs.clsr_arch import UNTRAINED_WARNING, context_untrained
from clsr_plugin.archs.roi import padded_window
from clsr_plugin.data.bicubic_lr import bicubic_up
from clsr_plugin.evaluation.methods import get_method
from clsr_plugin.inference.api import (
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_PIM_TILE,
    autocast_for,
    crop_to_tensor,
    load_clsr,
    upscale_rois,
)
from clsr_plugin.inference.rois import (
    Box,
    context_window_arg,
    load_rois_json,
    parse_roi,
    validate_rois,
)
from clsr_plugin.utils.atomic import pid_alive, umask_mode
from clsr_plugin.utils.cli import input_errors, one_line
from clsr_plugin.utils.comparison_sheet import comparison_sheet
from clsr_plugin.utils.image_checks import image_hw
from clsr_plugin.utils.image_io import (
    from_float01,
    list_images,
    read_image,
    tensor_to_image,
    to_float01,
    write_png,
)
from clsr_plugin.utils.psnr import psnr as psnr_of

PROG = "clsr-infer"


class InputError(ValueError):
    """Bad user input (reported in one line, exit code 2)."""


@dataclass
class Job:
    """One input image and its ROIs."""

    path: str
    rois: list[Box]
    gt: str | None = None
    stem: str = ""
    conversions: list[str] = field(default_factory=list)


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


def _gt_path(gt: str | None, image: str, n_images: int) -> str | None:
    if gt is None:
        return None
    if os.path.isdir(gt):
        stem = os.path.splitext(os.path.basename(image))[0]
        for f in sorted(os.listdir(gt)):
            if os.path.splitext(f)[0] == stem:
                return os.path.join(gt, f)
        raise InputError(f"No ground truth for {os.path.basename(image)!r} in {gt!r}")
    if not os.path.isfile(gt):
        raise InputError(f"Ground truth not found: {gt!r}")
    if n_images != 1:
        raise InputError("--gt is a single file but several inputs were given; pass a folder")
    return gt


def plan_jobs(args: argparse.Namespace) -> list[Job]:
    """Expand inputs, parse and validate every ROI against its image (no model needed)."""
    try:
        images = list_images(args.inputs)
    except ValueError as err:
        raise InputError(str(err)) from None
    cli_rois = [parse_roi(r) for r in args.roi]
    if not cli_rois and not args.rois_json:
        raise InputError("No ROI given: use --roi x,y,w,h and/or --rois-json")
    jobs, stems = [], {}
    for path in images:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            raise InputError(f"Two inputs share the name {stem!r}: {stems[stem]!r}, {path!r}")
        stems[stem] = path
        rois = list(cli_rois)
        if args.rois_json:
            rois += load_rois_json(args.rois_json, path)
        img = read_image(path)
        try:
            rois = validate_rois(rois, img.height, img.width)
        except ValueError as err:
            raise InputError(f"{os.path.basename(path)}: {err}") from None
        gt = _gt_path(args.gt, path, len(images))
        jobs.append(Job(path, rois, gt, stem, img.conversions))
    return jobs


@torch.no_grad()
def bicubic_roi(lr: np.ndarray, box: Box, scale: int) -> np.ndarray:
    """Bicubic x``scale`` of one ROI, computed on the ROI plus 2 px of real context."""
    x, y, w, h = box
    win = padded_window(box, 2, lr.shape[0], lr.shape[1])
    t = crop_to_tensor(lr, win, torch.float32, torch.device("cpu"))
    up = bicubic_up(t, scale)
    ox, oy = (x - win[0]) * scale, (y - win[1]) * scale
    return tensor_to_image(up[..., oy : oy + h * scale, ox : ox + w * scale])


@torch.no_grad()
def precrop_roi(model: torch.nn.Module, lr: np.ndarray, box: Box) -> np.ndarray:
    """Pre-cropping baseline (backbone on the bare ROI, no padding)."""
    p = next(model.parameters())
    t = crop_to_tensor(lr, box, p.dtype, p.device)
    boxes = torch.tensor([[0, 0, box[2], box[3]]], dtype=torch.long, device=p.device)
    with autocast_for(model):
        return tensor_to_image(get_method("pre_nopad").restore(model, t, boxes, 1, False)[0])


def psnr(a: np.ndarray, b: np.ndarray, bit_depth: int) -> float:
    """PSNR (dB) of two float [0, 1] images after rounding both to ``bit_depth``."""
    peak = 255.0 if bit_depth == 8 else 65535.0
    return psnr_of(from_float01(a, bit_depth), from_float01(b, bit_depth), math.inf, peak)


RESULTS_JSON = "results.json"


def roi_file_name(index: int, box: Box) -> str:
    """File name of one ROI's output inside ``<out>/<stem>/``."""
    x, y, w, h = box
    return f"roi{index:02d}_x{x}_y{y}_{w}x{h}.png"


def output_files(jobs: Sequence[Job], no_sheet: bool) -> list[str]:
    """Every file a run writes, relative to ``--out`` (``results.json`` last)."""
    files = []
    for job in jobs:
        files += [f"{job.stem}/{roi_file_name(i, b)}" for i, b in enumerate(job.rois)]
        if not no_sheet:
            files.append(f"{job.stem}/sheet.png")
    return files + [RESULTS_JSON]


def check_out(out: str, files: Sequence[str], overwrite: bool) -> None:
    """``--out`` must be a folder (or not exist) and hold none of ``files`` unless
    ``overwrite``."""
    if os.path.lexists(out) and not os.path.isdir(out):
        raise InputError(f"--out {out!r} exists and is not a folder")
    if not os.path.isdir(out):
        return
    for rel in files:
        target = os.path.join(out, rel)
        if os.path.isdir(target) and not os.path.islink(target):
            raise InputError(f"{target!r} is a folder: it cannot be replaced by a result file")
    if overwrite:
        return
    ordered = sorted(files, key=lambda rel: rel != RESULTS_JSON)  # name results.json first
    existing = [rel for rel in ordered if os.path.lexists(os.path.join(out, rel))]
    if existing:
        raise InputError(
            f"--out {out!r} already holds results ({', '.join(existing[:3])}"
            f"{', ...' if len(existing) > 3 else ''}): pass --overwrite to replace them, or "
            "choose another --out"
        )


def process(job: Job, model: torch.nn.Module, args: argparse.Namespace, tmp: str) -> dict:
    """Run one image into ``tmp/<stem>/``; returns its results.json entry."""
    img = read_image(job.path)
    scale = int(model.scale)
    hr = None
    if job.gt is not None:
        hr = to_float01(read_image(job.gt).rgb[: img.height * scale, : img.width * scale])
    k = None if args.context_window in (None, 0) else args.context_window
    t0 = time.perf_counter()
    outs = upscale_rois(model, img, job.rois, context_window=k, pim_tile=args.pim_tile)
    seconds = time.perf_counter() - t0
    folder = os.path.join(tmp, job.stem)
    os.makedirs(folder, exist_ok=True)
    untrained = context_untrained(model)  # then the output is padded pre-cropping, not CLSR
    label = "pre-crop (padded)" if untrained else "CLSR"
    entry: dict = dict(input=job.path, size=[img.height, img.width], conversions=job.conversions,
                       gt=job.gt, seconds=round(seconds, 4),
                       method="pre_pad" if untrained else "clsr", rois=[])  # fmt: skip
    rows = []
    for i, (box, sr) in enumerate(zip(job.rois, outs)):
        x, y, w, h = box
        name = roi_file_name(i, box)
        write_png(os.path.join(folder, name), sr, img.bit_depth)
        roi = dict(box=list(box), file=f"{job.stem}/{name}")
        if not args.no_sheet or hr is not None:
            bic = bicubic_roi(img.rgb, box, scale)
            pre = precrop_roi(model, img.rgb, box)
            row = [("bicubic", bic), ("pre-crop", pre), (label, sr)]
            if hr is not None:
                ref = hr[y * scale : (y + h) * scale, x * scale : (x + w) * scale]
                row.append(("HR", ref))
                roi["psnr"] = {n: round(psnr(im, ref, img.bit_depth), 4) for n, im in row[:3]}
            rows.append(row)
        entry["rois"].append(roi)
    if not args.no_sheet:
        labels = [name for name, _ in rows[0]]
        tiles = [[from_float01(img, 8) for _, img in row] for row in rows]
        ref = img.rgb if hr is None else hr  # the overview: the HR if given, else the input
        k = 1 if hr is None else scale
        sheet = comparison_sheet(
            tiles,
            labels,
            overview=from_float01(to_float01(ref), 8),
            boxes=[[v * k for v in box] for box in job.rois],
            psnrs=None
            if hr is None
            else [[r["psnr"][n] for n in labels[:3]] + [None] for r in entry["rois"]],  # fmt: skip
            title=os.path.basename(job.path),
        )
        write_png(os.path.join(folder, "sheet.png"), sheet)
    return entry


def check_gt(job: Job, scale: int) -> None:
    """The HR ground truth must be ``scale`` x the LR (up to a mod-crop)."""
    if job.gt is None:
        return
    img, gt = image_hw(job.path), image_hw(job.gt)
    hh, hw = img[0] * scale, img[1] * scale
    if not (hh <= gt[0] < hh + scale and hw <= gt[1] < hw + scale):
        raise InputError(
            f"{os.path.basename(job.gt)}: HR is {gt[0]}x{gt[1]}, expected {hh}x{hw} "
            f"({scale}x the LR {img[0]}x{img[1]})"
        )


def _tmp_prefix(out: str) -> str:
    return f".{os.path.basename(out)}.tmp-"


def remove_stale_tmp(out: str) -> None:
    """Remove hidden temporary folders of ``out`` that killed runs left (their pid is gone)."""
    parent, prefix = os.path.dirname(out), _tmp_prefix(out)
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            match = pattern.match(entry.name)
            if match and entry.is_dir(follow_symlinks=False):
                if not pid_alive(int(match.group(1))):
                    shutil.rmtree(entry.path, ignore_errors=True)


def _make_dirs(folder: str, made: list[str]) -> None:
    """``os.makedirs`` that records every folder it creates (outermost first)."""
    if os.path.isdir(folder):
        return
    _make_dirs(os.path.dirname(folder), made)
    os.mkdir(folder)
    made.append(folder)


def publish(src: str, out: str, files: Sequence[str]) -> None:
    """Move ``files`` (relative paths, in this order) from ``src`` into ``out``, all or nothing.

    A missing ``out`` is ``src`` renamed (one atomic step). Into an existing folder, each file
    replaces its namesake (kept aside in ``src`` until the end); on any failure every moved
    file goes back, replaced files are restored and created folders removed, so ``out`` is
    exactly as it was.
    """
    if not os.path.lexists(out):
        os.chmod(src, umask_mode(directory=True))
        os.rename(src, out)
        return
    aside = os.path.join(src, ".replaced")
    made: list[str] = []
    done: list[tuple[str, str | None]] = []  # (target, where its old file was put aside)
    try:
        for rel in files:
            new, target = os.path.join(src, rel), os.path.join(out, rel)
            _make_dirs(os.path.dirname(target), made)
            old = None
            if os.path.lexists(target):
                old = os.path.join(aside, rel)
                os.makedirs(os.path.dirname(old), exist_ok=True)
                os.replace(target, old)
            try:
                os.replace(new, target)
            except BaseException:
                if old is not None:
                    os.replace(old, target)
                raise
            done.append((target, old))
    except BaseException:
        for target, old in reversed(done):
            with contextlib.suppress(OSError):
                if old is not None:
                    os.replace(old, target)
                else:
                    os.remove(target)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise


def run(args: argparse.Namespace) -> list[dict]:
    """Validate everything, process all images into a temp folder, then publish it to --out."""
    from tqdm import tqdm

    jobs = plan_jobs(args)
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
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    remove_stale_tmp(out)
    tmp = tempfile.mkdtemp(prefix=f"{_tmp_prefix(out)}{os.getpid()}-", dir=parent)
    try:
        results = []
        for job in tqdm(jobs, desc=PROG, unit="img", file=sys.stderr):
            for note in job.conversions:
                tqdm.write(f"{os.path.basename(job.path)}: {note}", file=sys.stderr)
            results.append(process(job, model, args, tmp))
        with open(os.path.join(tmp, RESULTS_JSON), "w") as f:
            json.dump(dict(opt=args.opt, weights=args.weights, images=results), f, indent=1)
        check_out(out, files, args.overwrite)  # again: another run may have written meanwhile
        publish(tmp, out, files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # runs the clean-up of the temporary folder


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 2 bad input, 1 other failure)."""
    args = build_parser().parse_intermixed_args(argv)
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: keep the default
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        results = run(args)
    except input_errors() as err:
        print(f"{PROG}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as err:
        print(f"{PROG}: error: {type(err).__name__}: {one_line(err)}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    n = sum(len(r["rois"]) for r in results)
    print(f"{PROG}: wrote {n} ROI(s) of {len(results)} image(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
