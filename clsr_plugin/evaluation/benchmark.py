"""The parts of ``clsr-bench``: quality, cost, time and memory of every registered method on a
folder of HR images, multi-ROI scaling, the context-window trade-off and large images.

Every part takes the model and a :class:`BenchSettings`; the CLI (:mod:`clsr_plugin.bench`)
only parses arguments into them and writes the report (:mod:`clsr_plugin.evaluation.report`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clsr_plugin.evaluation.engine import restore_rois
from clsr_plugin.evaluation.macs import clsr_macs, gflops
from clsr_plugin.evaluation.methods import METHODS, get_method
from clsr_plugin.evaluation.paired import paired_table
from clsr_plugin.evaluation.roi_metrics import RoiMetricAccumulator, psnr_from_mse
from clsr_plugin.evaluation.timing import measure
from clsr_plugin.inference.api import autocast_for, upscale_rois
from clsr_plugin.utils.image_io import (
    from_float01,
    list_images,
    read_image,
    tensor_to_image,
    to_float01,
)


@dataclass
class BenchSettings:
    """What to measure and how (clsr-bench's flags)."""

    batch: int = 64  # ROIs per batch
    max_images: int = 10**9  # images read per folder
    timing_images: int = 3  # the first images are timed
    warmup: int = 1  # untimed calls before each timing
    repeats: int = 3  # timed calls (median)
    multi_roi: Sequence[int] = (1, 10, 100)  # random ROIs per image for the scaling rows
    context_windows: Sequence[float] = (1, 1.5, 2, 4, 6, 8, 0)  # K (0: the whole image)
    synthetic_sizes: Sequence[tuple[int, int]] = ()  # (W, H) of random large images
    lr_photos: Sequence[str] = ()  # real photos used as the LR input
    no_flops: bool = False
    share_windows: bool = True  # CLSR timed with shared base windows


def prepare_image(path: str, scale: int, roi: int) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """HR file -> (LR tensor (1, 3, H, W), HR float RGB (s*H, s*W, 3), ROI grid (n, 4)).

    HR is mod-cropped to ``scale``; then validation's own path
    (:func:`~clsr_plugin.data.localsr_paired_dataset.validation_pair`: LR made with MATLAB
    bicubic, both cropped to the ROI grid's extent with ``roi_remainder: crop``).
    """
    from clsr_plugin.data.localsr_paired_dataset import validation_pair

    hr = to_float01(read_image(path).rgb)
    hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    hr, lr, rois = validation_pair(hr, None, scale, (roi, roi), "crop")
    lq = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]
    return lq, hr, rois


def summarise(acc: RoiMetricAccumulator) -> dict:
    """Both protocols of ``clsr_plugin.evaluation.roi_metrics`` under the bench's field names."""
    r = acc.results()
    return dict(psnr_roi_mean=r["psnr_roi"], ssim_roi_mean=r["ssim_roi"],
                psnr_image_pooled=r["psnr_img"], ssim_image_pooled=r["ssim_img"],
                rois=int(r["n_rois"]), capped_rois=int(r["n_inf_psnr"]))  # fmt: skip


def paired_results(metrics: dict[str, RoiMetricAccumulator]) -> dict:
    """Paired differences of the methods (``paired_table``'s pairs): over images, of the PSNR
    pooled per image (protocol b), and over ROIs, of the per-ROI PSNR (every accumulator saw
    the same images and ROIs in the same order)."""
    return {
        "image": paired_table({m: acc.img_psnr for m, acc in metrics.items()}),
        "roi": paired_table({m: acc.roi_psnr for m, acc in metrics.items()}),
    }


def add_rois(acc: RoiMetricAccumulator, sr: Sequence[np.ndarray], gt: Sequence[np.ndarray]) -> None:
    """Add one image's restored ROIs (float RGB in [0, 1]) to ``acc`` as 8-bit images."""
    acc.add_image([from_float01(a, 8) for a in sr], [from_float01(b, 8) for b in gt])


def _psnr_between(a: Sequence[np.ndarray] | None, b: Sequence[np.ndarray] | None) -> float | None:
    """PSNR (8-bit, pooled over the ROIs, capped) of outputs ``a`` against outputs ``b``."""
    if a is None or b is None:
        return None
    sa = np.concatenate([from_float01(x, 8).astype(np.float64).ravel() for x in a])
    sb = np.concatenate([from_float01(x, 8).astype(np.float64).ravel() for x in b])
    return psnr_from_mse(float(np.mean((sa - sb) ** 2)))


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
    get_method(method)  # ValueError for an unknown one
    with autocast_for(model):
        out = restore_rois(model, lq, boxes, (method,), batch, share_windows)[method]
        return torch.stack(out).float()


# ---------------------------------------------------------------- benchmark parts ------------
def _flops_for(model, cache: dict, hw: tuple[int, int], roi: int) -> dict:
    """:func:`clsr_macs` of one (image size, ROI size), traced once (costs depend on shapes)."""
    key = (hw, roi)
    if key not in cache:
        cache[key] = clsr_macs(model, hw, (roi, roi))
    return cache[key]


def _method_gmacs(f: dict, method: str, amortised: bool, n: int) -> float:
    """MACs per ROI of ``method``; ``amortised``: whole-image work shared by the ``n`` ROIs."""
    return get_method(method).macs_per_roi(f, n if amortised else 1)


def bench_dataset(model, folder: str, roi: int, settings: BenchSettings, device, dtype) -> dict:
    """Quality, FLOPs, time and memory of every method on one dataset at one ROI size."""
    from tqdm import tqdm

    scale = int(model.scale)
    files = list_images([folder])[: settings.max_images]
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
        timed = idx < settings.timing_images
        mid = boxes[len(boxes) // 2 : len(boxes) // 2 + 1]
        for m in METHODS:
            sr = run_method(model, m, lq, boxes, settings.batch)
            add_rois(metrics[m], [tensor_to_image(t) for t in sr], gt)
            if m == "clsr" and settings.share_windows:
                # twice on purpose: ROI by ROI above (the method's row, the paper's protocol),
                # and with shared base windows here (what is timed and what clsr-infer runs);
                # the two outputs differ by the real context a shared window adds
                sr = run_method(model, m, lq, boxes, settings.batch, share_windows=True)
                add_rois(shared, [tensor_to_image(t) for t in sr], gt)
            if timed:
                all_r = measure(lambda m=m, x=lq, b=boxes: _timed(model, m, x, b, settings), device,
                                settings.warmup, settings.repeats)  # fmt: skip
                one = measure(lambda m=m, x=lq, b=mid: _timed(model, m, x, b, settings), device,
                              settings.warmup, settings.repeats)  # fmt: skip
                perf[m]["ms_per_image"].append(all_r["ms"])
                perf[m]["ms_per_roi_amortised"].append(all_r["ms"] / n)
                perf[m]["ms_single_roi"].append(one["ms"])
                if one["peak_mem_mb"] is not None:
                    perf[m]["peak_mem_mb"].append(
                        max(one["peak_mem_mb"], all_r["peak_mem_mb"] or 0)
                    )
        if not settings.no_flops:
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
               rois=methods["clsr"]["rois"], timing_images=min(settings.timing_images, len(files)),
               methods=methods)  # fmt: skip
    out["paired"] = paired_results(metrics)
    if settings.share_windows:
        out["clsr_shared_windows"] = summarise(shared)
    if split:
        keys = ["clsr_decode_base", "clsr_decode_gcm", "clsr_decode_select", "clsr_context_gcm",
                "clsr_context_pim"]  # fmt: skip
        out["clsr_gflops_split"] = {k: gflops(np.mean([f[k] for f in split])) for k in keys}
    timed = images[: max(1, settings.timing_images)]
    out["multi_roi"] = multi_roi(model, timed, roi, settings, device)
    out["context_window"] = context_tradeoff(model, images, roi, settings, device)
    return out


def _random_boxes(H: int, W: int, roi: int, n: int, seed: int, device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xs = torch.randint(0, W - roi + 1, (n,), generator=g)
    ys = torch.randint(0, H - roi + 1, (n,), generator=g)
    return torch.stack([xs, ys, torch.full_like(xs, roi), torch.full_like(xs, roi)], 1).to(device)


def _shares(method: str, settings: BenchSettings) -> bool:
    """Whether ``method`` runs with shared base windows (CLSR, unless --no-share-windows)."""
    return method == "clsr" and settings.share_windows


def _timed(
    model, method: str, lq: torch.Tensor, boxes: torch.Tensor, settings: BenchSettings
) -> torch.Tensor:
    """The timed call of a method: CLSR as a user runs it (shared windows by default)."""
    return run_method(model, method, lq, boxes, settings.batch, _shares(method, settings))


def multi_roi(model, images, roi: int, settings: BenchSettings, device) -> list[dict]:
    """Time/memory/FLOPs and PSNR (pooled per image) of n random ROIs of one image for n in
    ``--multi-roi`` (FLOPs of the timed call's plan: :meth:`Method.run_macs`); CLSR's PSNR
    also ROI by ROI when its timed run shares windows."""
    rows = []
    scale = int(model.scale)
    for n in settings.multi_roi:
        for m in ("pre_pad", "post", "clsr"):
            ms, mem, fl = [], [], []
            acc, alone = RoiMetricAccumulator(), RoiMetricAccumulator()
            for i, (lq, hr, _) in enumerate(images):
                H, W = lq.shape[-2:]
                boxes = _random_boxes(H, W, roi, n, i, device)
                r = measure(lambda m=m, b=boxes, x=lq: _timed(model, m, x, b, settings), device,
                            settings.warmup, settings.repeats)  # fmt: skip
                ms.append(r["ms"])
                gt = crop_hr(hr, boxes.cpu(), scale)
                sr = r.pop("output")
                add_rois(acc, [tensor_to_image(t) for t in sr], gt)
                if m == "clsr" and settings.share_windows:
                    sr = run_method(model, m, lq, boxes, settings.batch)
                    add_rois(alone, [tensor_to_image(t) for t in sr], gt)
                if r["peak_mem_mb"] is not None:
                    mem.append(r["peak_mem_mb"])
                if not settings.no_flops:  # the plan the timed call runs, counted as it runs
                    macs = get_method(m).run_macs(model, lq, boxes, settings.batch,
                                                  _shares(m, settings))  # fmt: skip
                    fl.append(gflops(macs) / n)
            rows.append(dict(n_rois=n, method=m, ms_total=float(np.mean(ms)),
                             ms_per_roi=float(np.mean(ms)) / n,
                             peak_mem_mb=float(np.mean(mem)) if mem else None,
                             gflops_per_roi_amortised=float(np.mean(fl)) if fl else None,
                             psnr_image_pooled=summarise(acc)["psnr_image_pooled"],
                             psnr_roi_by_roi=summarise(alone)["psnr_image_pooled"]
                             if m == "clsr" and settings.share_windows else None)
                        )  # fmt: skip
    return rows


def context_tradeoff(model, images, roi: int, settings: BenchSettings, device) -> list[dict]:
    """CLSR quality/cost with each ROI's context restricted to K x the ROI size.

    Each ROI gets its own window (no merging) of ``K * roi`` pixels, and the base window may
    be clipped by it (``min_context_pad=0``), so small K also shows the loss of padding. Every
    row runs its own restore, K = 0 (the whole image) too: each row is a timing of that run.
    """
    scale = int(model.scale)
    rows = []
    for k in settings.context_windows:
        kk = None if k <= 0 else k
        acc, ms, ctx_px = RoiMetricAccumulator(), [], []
        for lq, hr, boxes in images:
            b = [tuple(r) for r in boxes.tolist()]
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            sr = upscale_rois(model, lq[0], b, context_window=kk, batch_size=settings.batch,
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


def large_image_bytes(w: int, h: int, scale: int) -> int:
    """Bytes a ``w`` x ``h`` LR image of the large-image rows needs at the least: its float32
    input tensor (3 x h x w x 4) plus post-cropping's float32 output (scale^2 times that).

    A lower bound (the backbone's feature maps come on top), enough to refuse sizes that
    cannot run before anything is allocated.
    """
    return 4 * 3 * w * h * (1 + scale * scale)


def available_memory(device: torch.device) -> tuple[int | None, str]:
    """``(bytes, where from)`` free for new tensors on ``device``: ``MemAvailable`` of
    ``/proc/meminfo`` for the CPU, the driver's free memory for CUDA; ``None`` if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0]), f"free on {device}"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except (OSError, ValueError, IndexError):
        return None, "unknown"  # no readable /proc/meminfo (not Linux)
    return None, "unknown"


def check_large_image_memory(sizes: Sequence[tuple[int, int]], scale: int, device) -> None:
    """Refuse ``--synthetic-sizes`` whose :func:`large_image_bytes` exceed the memory available
    (the input is made on the CPU first, so for CUDA it must fit both there and on the GPU).
    Sizes are run one after the other, so each must fit on its own.

    Raises:
        ValueError: one line naming the size, what it needs and what is available.
    """
    device = torch.device(device)
    places = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    for w, h in sizes:
        for place in places:
            need = large_image_bytes(w, h, scale) if place == device else 12 * w * h
            have, source = available_memory(place)
            if have is not None and need > have:
                raise ValueError(
                    f"--synthetic-sizes {w}x{h}: needs at least {need / 2**30:,.1f} GiB (its "
                    f"float32 LR input {12 * w * h / 2**30:,.1f} GiB"
                    + (f" plus post-cropping's x{scale} output" if place == device else "")
                    + f"), but {have / 2**30:,.1f} GiB is available ({source}); use a smaller "
                    "size"
                )


def check_inputs(folders: Sequence[str], settings: BenchSettings, scale: int, device) -> None:
    """Everything the benchmark will read, before it runs: each folder's images (up to
    ``max_images``) and ``--lr-photos`` decode with :func:`read_image` (which refuses
    truncated and unreadable files, naming them), and ``--synthetic-sizes`` fit in memory
    (:func:`check_large_image_memory`).

    Raises:
        ValueError: one line naming the file or the size.
    """
    for folder in folders:
        for path in list_images([folder])[: settings.max_images]:
            read_image(path)
    for path in settings.lr_photos:
        read_image(path)
    check_large_image_memory(settings.synthetic_sizes, scale, device)


def _large_images(
    settings: BenchSettings, device, dtype, scale: int
) -> Iterator[tuple[str, torch.Tensor]]:
    """``(label, (1, 3, H, W) LR)`` of ``--synthetic-sizes`` (random pixels, seeded) and of
    ``--lr-photos`` (real photos used as the LR input as they are), one at a time."""
    check_large_image_memory(settings.synthetic_sizes, scale, device)
    g = torch.Generator().manual_seed(0)
    for w, h in settings.synthetic_sizes:
        yield f"random {w}x{h}", torch.rand(1, 3, h, w, generator=g).to(device=device, dtype=dtype)
    for path in settings.lr_photos:
        rgb = to_float01(read_image(path).rgb)
        lq = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].float()
        yield os.path.basename(path), lq.to(device=device, dtype=dtype)


def _run_large(
    model, method: str, lq: torch.Tensor, boxes: torch.Tensor, settings: BenchSettings
) -> Any:
    if method == "clsr_infer":  # the user's path: context window and PIM tiles by default
        return upscale_rois(model, lq[0], [tuple(b) for b in boxes.tolist()],
                            batch_size=settings.batch)  # fmt: skip
    return _timed(model, method, lq, boxes, settings)


def synthetic(model, roi: int, settings: BenchSettings, device, dtype) -> list[dict]:
    """Latency / peak memory of one ROI (and ``max(multi_roi)`` ROIs) in large LR images:
    random ones (``--synthetic-sizes``) and real photos (``--lr-photos``). Post-cropping runs
    the backbone over the whole image whatever the ROIs, so it is timed once per image (on all
    the ROIs) and that time stands in every ROI count's row."""
    rows = []
    for label, lq in _large_images(settings, device, dtype, int(model.scale)):
        H, W = lq.shape[-2:]
        one = torch.tensor([[(W - roi) // 2, (H - roi) // 2, roi, roi]], device=device)
        many = _random_boxes(H, W, roi, max(settings.multi_roi), 0, device)
        sets = (one, many) if len(many) > 1 else (one,)
        # post-cropping's work is the whole image whatever the ROIs: timed once, on every ROI
        post = _measure_large(model, "post", lq, torch.cat(sets), settings, device)
        start = 0
        for boxes in sets:
            outputs, group = {}, []
            for m in LARGE_METHODS:
                if m == "post":
                    r = dict(post, output=None if post.get("output") is None else
                             post["output"][start : start + len(boxes)])  # fmt: skip
                else:
                    r = _measure_large(model, m, lq, boxes, settings, device)
                err = r.pop("error", None)
                out = r.pop("output", None)
                if out is not None:
                    outputs[m] = [a if isinstance(a, np.ndarray) else tensor_to_image(a)
                                  for a in out]  # fmt: skip
                group.append(dict(image=label, lr_size=f"{W}x{H}", n_rois=len(boxes), method=m,
                                  error=err, **r))  # fmt: skip
            for row in group:  # how far each output is from post-cropping's own pixels
                row["psnr_vs_post"] = _psnr_between(outputs.get(row["method"]),
                                                    outputs.get("post"))  # fmt: skip
            rows.extend(group)
            start += len(boxes)
        del lq
    return rows


def _measure_large(model, method: str, lq, boxes, settings: BenchSettings, device) -> dict:
    """:func:`measure` of one large-image run; an out-of-memory or runtime error is reported
    (``error``), not raised."""
    try:
        return measure(lambda: _run_large(model, method, lq, boxes, settings), device,
                       settings.warmup, settings.repeats)  # fmt: skip
    except (torch.OutOfMemoryError, RuntimeError) as e:  # report, keep going
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return dict(ms=None, peak_mem_mb=None, error=str(e).splitlines()[0][:120])
