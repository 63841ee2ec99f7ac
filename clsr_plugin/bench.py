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
of ``clsr_plugin.models.roi_metrics``, GFLOPs per ROI (2 x mmengine MACs; single ROI, and
context amortised over the image's ROIs), wall-clock per ROI (one ROI alone) and per image (all
its ROIs; median of ``--repeats`` after ``--warmup``; CUDA timed with events after
synchronisation), peak memory (CUDA: max allocated; CPU: peak RSS growth, via
``/proc/self/clear_refs``); plus multi-ROI scaling (1, 10, 100 ROIs per image), the
context-window trade-off, and optionally synthetic large images (``--synthetic-sizes 512 2048``)
for latency/memory at scale.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from clsr_plugin.archs.clsr_arch import UNTRAINED_WARNING, context_untrained
from clsr_plugin.flops import clsr_macs, gflops
from clsr_plugin.inference.api import autocast_for, load_clsr, upscale_rois
from clsr_plugin.inference.rois import context_window_arg
from clsr_plugin.models.roi_metrics import RoiMetricAccumulator
from clsr_plugin.models.roi_restore import restore_rois
from clsr_plugin.utils.image_io import (
    from_float01,
    list_images,
    read_image,
    tensor_to_image,
    to_float01,
)
from clsr_plugin.utils.tradeoff_plot import write_tradeoff_plot

METHODS = ("pre_nopad", "pre_pad", "post", "clsr")
LABELS = {
    "pre_nopad": "Pre-cropping (no pad)",
    "pre_pad": "Pre-cropping (model pad)",
    "post": "Post-cropping",
    "clsr": "CLSR",
    "clsr_infer": "CLSR, clsr-infer defaults (context window, PIM tiles)",
}
#: the ``clsr`` row's label when the context branches are untrained (its output is pre_pad's)
UNTRAINED_LABEL = "Pre-cropping (model pad; untrained CLSR)"


def method_label(method: str, report: dict) -> str:
    """Row label of ``method``: an untrained CLSR is reported as padded pre-cropping."""
    if method == "clsr" and report["config"].get("context_untrained"):
        return UNTRAINED_LABEL
    return LABELS[method]


# ---------------------------------------------------------------- data -----------------------
def prepare_image(path: str, scale: int, roi: int) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """HR file -> (LR tensor (1, 3, H, W), HR float RGB (s*H, s*W, 3), ROI grid (n, 4)).

    HR is mod-cropped to ``scale``, LR made with MATLAB bicubic (8-bit rounded) and both are
    cropped to the ROI grid's extent (``roi_grid`` with ``remainder='crop'``).
    """
    from clsr_plugin.data.bicubic_lr import downscale
    from clsr_plugin.data.roi_grid import grid_extent, roi_grid

    hr = to_float01(read_image(path).rgb)
    hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    lr = downscale(hr, scale)
    eh, ew = grid_extent(lr.shape[0], lr.shape[1], (roi, roi), "crop")
    lr, hr = lr[:eh, :ew], hr[: eh * scale, : ew * scale]
    lq = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]
    return lq, hr, roi_grid(eh, ew, (roi, roi), "crop")


def summarise(acc: RoiMetricAccumulator) -> dict:
    """Both protocols of ``clsr_plugin.models.roi_metrics`` under the bench's field names."""
    r = acc.results()
    return dict(psnr_roi_mean=r["psnr_roi"], ssim_roi_mean=r["ssim_roi"],
                psnr_image_pooled=r["psnr_img"], ssim_image_pooled=r["ssim_img"],
                rois=int(r["n_rois"]), capped_rois=int(r["n_inf_psnr"]))  # fmt: skip


def add_rois(acc: RoiMetricAccumulator, sr: Sequence[np.ndarray], gt: Sequence[np.ndarray]) -> None:
    """Add one image's restored ROIs (float RGB in [0, 1]) to ``acc`` as 8-bit images."""
    acc.add_image([from_float01(a, 8) for a in sr], [from_float01(b, 8) for b in gt])


def crop_hr(hr: np.ndarray, boxes: torch.Tensor, scale: int) -> list[np.ndarray]:
    return [hr[y * scale : (y + h) * scale, x * scale : (x + w) * scale]
            for x, y, w, h in boxes.tolist()]  # fmt: skip


# ---------------------------------------------------------------- methods --------------------
@torch.no_grad()
def run_method(
    model: torch.nn.Module,
    method: str,
    lq: torch.Tensor,
    boxes: torch.Tensor,
    batch: int = 64,
    share_windows: bool = False,
) -> torch.Tensor:
    """SR of ``boxes`` (n, 4, one size) of ``lq`` (1, 3, H, W) with one method
    (``share_windows``: CLSR's overlapping ROIs share base windows, see ``decode_rois``).

    Returns:
        (n, 3, s*h, s*w), float32 (the model may run under autocast).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; expected one of {METHODS}")
    with autocast_for(model):
        out = restore_rois(model, lq, boxes, (method,), batch, share_windows)[method]
        return torch.stack(out).float()


# ---------------------------------------------------------------- timing / memory ------------
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


# ---------------------------------------------------------------- benchmark parts ------------
def _flops_for(model, cache: dict, hw: tuple[int, int], roi: int) -> dict:
    """:func:`clsr_macs` of one (image size, ROI size), traced once (costs depend on shapes)."""
    key = (hw, roi)
    if key not in cache:
        cache[key] = clsr_macs(model, hw, (roi, roi), 1)
    return cache[key]


def _method_gmacs(f: dict, method: str, amortised: bool, n: int) -> float:
    """MACs per ROI of ``method``; ``amortised``: whole-image work shared by the ``n`` ROIs."""
    if method == "post":
        return f["post"] / n if amortised else f["post"]
    if method == "clsr":
        return f["clsr_decode"] + f["clsr_context"] / n if amortised else f["clsr_per_roi"]
    return f[method]


def bench_dataset(model, folder: str, roi: int, args, device, dtype) -> dict:
    """Quality, FLOPs, time and memory of every method on one dataset at one ROI size."""
    from tqdm import tqdm

    scale = int(model.scale)
    files = list_images([folder])[: args.max_images]
    metrics = {m: RoiMetricAccumulator() for m in METHODS}
    shared = RoiMetricAccumulator()  # CLSR with shared base windows (what is timed)
    perf = {m: {"ms_single_roi": [], "ms_per_image": [], "ms_per_roi_amortised": [],
                "peak_mem_mb": []} for m in METHODS}  # fmt: skip
    macs = {m: {"single": [], "amortised": []} for m in METHODS}
    split: list[dict] = []
    flops_cache: dict = {}
    images = []
    for idx, path in enumerate(tqdm(files, desc=f"{os.path.basename(folder)} roi{roi}",
                                    file=sys.stderr)):  # fmt: skip
        lq, hr, boxes = prepare_image(path, scale, roi)
        lq, boxes = lq.to(device=device, dtype=dtype), boxes.to(device)
        gt = crop_hr(hr, boxes.cpu(), scale)
        images.append((lq, hr, boxes))
        n = len(boxes)
        timed = idx < args.timing_images
        mid = boxes[len(boxes) // 2 : len(boxes) // 2 + 1]
        for m in METHODS:
            sr = run_method(model, m, lq, boxes, args.batch)
            add_rois(metrics[m], [tensor_to_image(t) for t in sr], gt)
            if m == "clsr" and args.share_windows:
                sr = run_method(model, m, lq, boxes, args.batch, share_windows=True)
                add_rois(shared, [tensor_to_image(t) for t in sr], gt)
            if timed:
                all_r = measure(lambda m=m, x=lq, b=boxes: _timed(model, m, x, b, args), device,
                                args.warmup, args.repeats)  # fmt: skip
                one = measure(lambda m=m, x=lq, b=mid: _timed(model, m, x, b, args), device,
                              args.warmup, args.repeats)  # fmt: skip
                perf[m]["ms_per_image"].append(all_r["ms"])
                perf[m]["ms_per_roi_amortised"].append(all_r["ms"] / n)
                perf[m]["ms_single_roi"].append(one["ms"])
                if one["peak_mem_mb"] is not None:
                    perf[m]["peak_mem_mb"].append(
                        max(one["peak_mem_mb"], all_r["peak_mem_mb"] or 0)
                    )
        if not args.no_flops:
            f = _flops_for(model, flops_cache, tuple(lq.shape[-2:]), roi)
            split.append(f)
            for m in METHODS:
                macs[m]["single"].append(_method_gmacs(f, m, False, n))
                macs[m]["amortised"].append(_method_gmacs(f, m, True, n))
    methods = {}
    for m in METHODS:
        row = summarise(metrics[m])
        for k, v in perf[m].items():
            row[k] = float(np.mean(v)) if v else None
        row["gmacs_per_roi"] = float(np.mean(macs[m]["single"])) / 1e9 if split else None
        row["gflops_per_roi"] = gflops(np.mean(macs[m]["single"])) if split else None
        row["gflops_per_roi_amortised"] = gflops(np.mean(macs[m]["amortised"])) if split else None
        methods[m] = row
    out = dict(dataset=os.path.basename(os.path.normpath(folder)), roi=roi, images=len(files),
               rois=methods["clsr"]["rois"], timing_images=min(args.timing_images, len(files)),
               methods=methods)  # fmt: skip
    if args.share_windows:
        out["clsr_shared_windows"] = summarise(shared)
    if split:
        keys = ["clsr_decode_base", "clsr_decode_gcm", "clsr_decode_select", "clsr_context_gcm",
                "clsr_context_pim"]  # fmt: skip
        out["clsr_gflops_split"] = {k: gflops(np.mean([f[k] for f in split])) for k in keys}
    out["multi_roi"] = multi_roi(model, images[: max(1, args.timing_images)], roi, args, device,
                                 flops_cache)  # fmt: skip
    out["context_window"] = context_tradeoff(model, images, roi, args, device)
    return out


def _random_boxes(H: int, W: int, roi: int, n: int, seed: int, device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xs = torch.randint(0, W - roi + 1, (n,), generator=g)
    ys = torch.randint(0, H - roi + 1, (n,), generator=g)
    return torch.stack([xs, ys, torch.full_like(xs, roi), torch.full_like(xs, roi)], 1).to(device)


def _shares(method: str, args) -> bool:
    """Whether ``method`` runs with shared base windows (CLSR, unless --no-share-windows)."""
    return method == "clsr" and args.share_windows


def _timed(model, method: str, lq: torch.Tensor, boxes: torch.Tensor, args) -> torch.Tensor:
    """The timed call of a method: CLSR as a user runs it (shared windows by default)."""
    return run_method(model, method, lq, boxes, args.batch, _shares(method, args))


def multi_roi(model, images, roi: int, args, device, flops_cache: dict) -> list[dict]:
    """Time/memory/FLOPs and PSNR (pooled per image) of n random ROIs of one image for n in
    ``--multi-roi``; CLSR's PSNR also ROI by ROI when its timed run shares windows."""
    rows = []
    scale = int(model.scale)
    for n in args.multi_roi:
        for m in ("pre_pad", "post", "clsr"):
            ms, mem, fl = [], [], []
            acc, alone = RoiMetricAccumulator(), RoiMetricAccumulator()
            for i, (lq, hr, _) in enumerate(images):
                H, W = lq.shape[-2:]
                boxes = _random_boxes(H, W, roi, n, i, device)
                r = measure(lambda m=m, b=boxes, x=lq: _timed(model, m, x, b, args), device,
                            args.warmup, args.repeats)  # fmt: skip
                ms.append(r["ms"])
                gt = crop_hr(hr, boxes.cpu(), scale)
                sr = r.pop("output")
                add_rois(acc, [tensor_to_image(t) for t in sr], gt)
                if m == "clsr" and args.share_windows:
                    sr = run_method(model, m, lq, boxes, args.batch)
                    add_rois(alone, [tensor_to_image(t) for t in sr], gt)
                if r["peak_mem_mb"] is not None:
                    mem.append(r["peak_mem_mb"])
                if not args.no_flops:
                    f = _flops_for(model, flops_cache, (H, W), roi)
                    fl.append(gflops(_method_gmacs(f, m, True, n)))
            rows.append(dict(n_rois=n, method=m, ms_total=float(np.mean(ms)),
                             ms_per_roi=float(np.mean(ms)) / n,
                             peak_mem_mb=float(np.mean(mem)) if mem else None,
                             gflops_per_roi_amortised=float(np.mean(fl)) if fl else None,
                             psnr_image_pooled=summarise(acc)["psnr_image_pooled"],
                             psnr_roi_by_roi=summarise(alone)["psnr_image_pooled"]
                             if m == "clsr" and args.share_windows else None)
                        )  # fmt: skip
    return rows


def context_tradeoff(model, images, roi: int, args, device) -> list[dict]:
    """CLSR quality/cost with each ROI's context restricted to K x the ROI size.

    Each ROI gets its own window (no merging) of ``K * roi`` pixels, and the base window may
    be clipped by it (``min_context_pad=0``), so small K also shows the loss of padding.
    """
    scale = int(model.scale)
    rows = []
    for k in args.context_windows:
        kk = None if k <= 0 else k
        acc, ms, ctx_px = RoiMetricAccumulator(), [], []
        for lq, hr, boxes in images:
            b = [tuple(r) for r in boxes.tolist()]
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            sr = upscale_rois(model, lq[0], b, context_window=kk, batch_size=args.batch,
                              min_context_pad=0, merge_windows=False,
                              share_windows=False)  # fmt: skip
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            ms.append((time.perf_counter() - t0) * 1e3 / len(b))
            add_rois(acc, sr, crop_hr(hr, boxes.cpu(), scale))
            H, W = lq.shape[-2:]
            side = (
                H * W if kk is None else min(H, math.ceil(kk * roi)) * min(W, math.ceil(kk * roi))
            )
            ctx_px.append(side)
        row = summarise(acc)
        row.update(k=kk, ms_per_roi=float(np.mean(ms)), context_pixels_mean=float(np.mean(ctx_px)))
        rows.append(row)
    return rows


#: large-image rows: the four methods, plus CLSR as ``clsr-infer`` runs it by default
LARGE_METHODS = (*METHODS, "clsr_infer")


def _large_images(args, device, dtype) -> list[tuple[str, torch.Tensor]]:
    """``(label, (1, 3, H, W) LR)`` of ``--synthetic-sizes`` (random pixels, seeded) and of
    ``--lr-photos`` (real photos used as the LR input as they are)."""
    out = []
    g = torch.Generator().manual_seed(0)
    for w, h in args.synthetic_sizes:
        out.append((f"random {w}x{h}", torch.rand(1, 3, h, w, generator=g)))
    for path in args.lr_photos:
        rgb = to_float01(read_image(path).rgb)
        lq = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].float()
        out.append((os.path.basename(path), lq))
    return [(label, lq.to(device=device, dtype=dtype)) for label, lq in out]


def _run_large(model, method: str, lq: torch.Tensor, boxes: torch.Tensor, args) -> Any:
    if method == "clsr_infer":  # the user's path: context window and PIM tiles by default
        return upscale_rois(model, lq[0], [tuple(b) for b in boxes.tolist()],
                            batch_size=args.batch)  # fmt: skip
    return _timed(model, method, lq, boxes, args)


def synthetic(model, roi: int, args, device, dtype) -> list[dict]:
    """Latency / peak memory of one ROI (and ``max(multi_roi)`` ROIs) in large LR images:
    random ones (``--synthetic-sizes``) and real photos (``--lr-photos``)."""
    rows = []
    for label, lq in _large_images(args, device, dtype):
        H, W = lq.shape[-2:]
        one = torch.tensor([[(W - roi) // 2, (H - roi) // 2, roi, roi]], device=device)
        many = _random_boxes(H, W, roi, max(args.multi_roi), 0, device)
        for boxes in (one, many) if len(many) > 1 else (one,):
            for m in LARGE_METHODS:
                try:
                    r = measure(lambda m=m, b=boxes, x=lq: _run_large(model, m, x, b, args),
                                device, args.warmup, args.repeats)  # fmt: skip
                    err = None
                except (torch.OutOfMemoryError, RuntimeError) as e:  # report, keep going
                    r, err = dict(ms=None, peak_mem_mb=None), str(e).splitlines()[0][:120]
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                r.pop("output", None)
                rows.append(dict(image=label, lr_size=f"{W}x{H}", n_rois=len(boxes), method=m,
                                 error=err, **r))  # fmt: skip
        del lq
    return rows


# ---------------------------------------------------------------- report ---------------------
def _fmt(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def to_markdown(report: dict) -> str:
    """The benchmark report as Markdown tables."""
    c = report["config"]
    lines = [
        f"# CLSR benchmark (x{c['scale']}, roi_pad {c['roi_pad']}, {c['device']}, {c['dtype']})",
        "",
        f"options `{c['opt']}`, weights `{c['weights']}`; PSNR/SSIM on 8-bit RGB, no border "
        f"crop; (a) mean of per-ROI values (PSNR capped at 100 dB; 'exact' = ROIs with infinite "
        f"PSNR), (b) "
        f"PSNR of the MSE pooled per image, then mean. GFLOPs = 2 x mmengine MACs. Times: "
        f"median of {c['repeats']} after {c['warmup']} warm-up.",
    ]
    if c.get("context_untrained"):
        lines += ["", f"Note: {UNTRAINED_WARNING} (timings are still the CLSR's)."]
    for res in report["results"]:
        lines += [
            "",
            f"## {res['dataset']}, ROI {res['roi']}x{res['roi']} ({res['images']} images, "
            f"{res['rois']} ROIs; timings on {res['timing_images']} images)",
            "",
            "| method | PSNR (a) | SSIM (a) | PSNR (b) | exact | GFLOPs/ROI | GFLOPs/ROI amort. "
            "| ms/ROI (1 ROI) | ms/image | ms/ROI amort. | peak MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for m, r in res["methods"].items():
            lines.append(
                f"| {method_label(m, report)} | {_fmt(r['psnr_roi_mean'], 3)} | "
                f"{_fmt(r['ssim_roi_mean'], 4)} | "
                f"{_fmt(r['psnr_image_pooled'], 3)} | {r['capped_rois']} | "
                f"{_fmt(r['gflops_per_roi'])} | {_fmt(r['gflops_per_roi_amortised'])} | "
                f"{_fmt(r['ms_single_roi'])} | {_fmt(r['ms_per_image'])} | "
                f"{_fmt(r['ms_per_roi_amortised'])} | {_fmt(r['peak_mem_mb'], 1)} |"
            )
        if "clsr_gflops_split" in res:
            s = res["clsr_gflops_split"]
            lines += ["", "CLSR GFLOPs split (mean per image): " + ", ".join(
                f"{k.replace('clsr_', '')} {v:.3f}" for k, v in s.items())]  # fmt: skip
        if "clsr_shared_windows" in res:
            sh = res["clsr_shared_windows"]
            lines += ["", f"CLSR as timed (shared base windows over all ROIs of the grid): PSNR "
                      f"(a) {_fmt(sh['psnr_roi_mean'], 3)}, (b) {_fmt(sh['psnr_image_pooled'], 3)}"
                      f" (ROI by ROI above)."]  # fmt: skip
        lines += ["", "Multi-ROI scaling (random ROIs in one image; CLSR "
                  f"{'with shared base windows' if c.get('share_windows') else 'ROI by ROI'}; "
                  "PSNR (b) of those ROIs):", "",
                  "| ROIs | method | ms total | ms/ROI | peak MB | GFLOPs/ROI amort. | PSNR (b) "
                  "| PSNR (b) ROI by ROI |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in res["multi_roi"]:
            lines.append(
                f"| {r['n_rois']} | {method_label(r['method'], report)} | {_fmt(r['ms_total'])} | "
                f"{_fmt(r['ms_per_roi'])} | {_fmt(r['peak_mem_mb'], 1)} | "
                f"{_fmt(r['gflops_per_roi_amortised'])} | {_fmt(r.get('psnr_image_pooled'), 4)} | "
                f"{_fmt(r.get('psnr_roi_by_roi'), 4)} |"
            )
        lines += ["", "Context window (each ROI its own window of K x ROI; base window clipped "
                  "by it):", "", "| K | context px | PSNR (a) | SSIM (a) | PSNR (b) | ms/ROI |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for r in res["context_window"]:
            k = "whole" if r["k"] is None else _fmt(float(r["k"]), 2)
            lines.append(
                f"| {k} | {r['context_pixels_mean']:.0f} | {_fmt(r['psnr_roi_mean'], 3)} | "
                f"{_fmt(r['ssim_roi_mean'], 4)} | {_fmt(r['psnr_image_pooled'], 3)} | "
                f"{_fmt(r['ms_per_roi'])} |"
            )
    if report.get("synthetic"):
        lines += [
            "",
            "## Large LR images (random pixels, or real photos used as the LR input)",
            "",
            "| image | LR size | ROIs | method | ms | x faster than post | peak MB | error |",
            "|---|---|---|---|---|---|---|---|",
        ]
        post = {(r["image"], r["n_rois"]): r["ms"] for r in report["synthetic"]
                if r["method"] == "post"}  # fmt: skip
        for r in report["synthetic"]:
            ref = post.get((r["image"], r["n_rois"]))
            speedup = ref / r["ms"] if ref and r["ms"] else None
            lines.append(
                f"| {r['image']} | {r['lr_size']} | {r['n_rois']} | "
                f"{method_label(r['method'], report)} | {_fmt(r['ms'])} | {_fmt(speedup, 1)} | "
                f"{_fmt(r['peak_mem_mb'], 1)} | {r['error'] or ''} |"
            )
    return "\n".join(lines) + "\n"


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
        prog="clsr-bench",
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
        help="also time random LR images of these sizes: N (N x N) or WxH (e.g. 512 1000x750)",
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
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = load_clsr(args.weights, args.opt, args.device, args.half, adapter=args.adapter)
        for d in args.data:
            list_images([d])
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"clsr-bench: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    untrained = context_untrained(model)
    if untrained:
        print(f"clsr-bench: warning: {UNTRAINED_WARNING}", file=sys.stderr)
    p = next(model.parameters())
    device, dtype = p.device, p.dtype
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
            report["results"].append(bench_dataset(model, d, roi, args, device, dtype))
    if args.synthetic_sizes or args.lr_photos:
        report["synthetic"] = synthetic(model, args.roi[0], args, device, dtype)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(report, f, indent=1)
    md = to_markdown(report)
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(md)
    write_tradeoff_plot(
        report, os.path.join(args.out, "bench.png"), lambda m: method_label(m, report)
    )
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
