"""Latency per ROI of pre-cropping, post-cropping and CLSR on real test images.

For each of the first ``images`` images of every test dataset of the options: one ROI from the
middle of the image's ROI grid is restored by

* ``pre_nopad`` / ``pre_pad``: the backbone on the bare ROI / on the padded window;
* ``post``: the backbone on the whole LR image (the crop is free);
* ``clsr``: context encoding of the whole image + decoding that ROI (CLSR runs only);
* ``clsr_amortized``: context encoding + decoding all ROIs of the image (batches of
  ``val.roi_batch``), divided by their number.

Each is timed ``reps`` times after ``warmup`` calls (CUDA events on a GPU, a wall clock on the
CPU); the median per image, then the mean over images, in milliseconds. Eager PyTorch, fp32.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from model_from_opt import build_from_options, dataset_options


def _median_ms(fn: Callable[[], object], device: torch.device, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def _methods(net, lq: torch.Tensor, rois: torch.Tensor, roi_batch: int) -> dict:
    """The timed calls for one image: one ROI from the middle of its grid, or all ROIs."""
    box = rois[len(rois) // 2][None]
    h, w = lq.shape[-2:]
    full = torch.tensor([[0, 0, w, h]], device=lq.device)
    fns = {
        "pre_nopad": lambda: net.base_only(lq, box, roi_pad=0),
        "pre_pad": lambda: net.base_only(lq, box),
        "post": lambda: net.base_only(lq, full, roi_pad=0),
    }
    if net.pim is None and net.gcm is None:
        return fns

    def all_rois() -> None:
        cache = net.encode_context(lq)
        for start in range(0, len(rois), roi_batch):
            net.decode(cache, rois[start : start + roi_batch])

    fns["clsr"] = lambda: net.decode(net.encode_context(lq), box)
    fns["clsr_amortized"] = all_rois
    return fns


@torch.no_grad()
def time_run(opt: dict, images: int = 5, warmup: int = 3, reps: int = 10) -> dict:
    """Latencies of the methods for the model and test datasets of ``opt``.

    Returns:
        ``{"device", "reps", "datasets": {name: {"images", "methods": {method: ms}}}}``.
    """
    from basicsr.data import build_dataset

    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}.")
    model = build_from_options(opt, is_train=False)
    net = model.get_bare_model(model.net_g).eval()
    dev = model.device
    roi_batch = int(opt["val"].get("roi_batch", 64))
    out = {
        "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
        "precision": "fp32, eager",
        "reps": reps,
        "datasets": {},
    }
    for ds_opt in dataset_options(opt):
        dataset = build_dataset(ds_opt)
        per_method: dict[str, list[float]] = {}
        n = min(images, len(dataset))
        for index in range(n):
            item = dataset[index]
            lq = item["lq"][None].to(dev)
            rois = item["rois"].long().to(dev)
            fns = _methods(net, lq, rois, roi_batch)
            for name, fn in fns.items():
                ms = _median_ms(fn, dev, warmup, reps)
                if name == "clsr_amortized":
                    ms /= len(rois)
                per_method.setdefault(name, []).append(ms)
        out["datasets"][ds_opt["name"]] = {
            "images": n,
            "methods": {m: statistics.fmean(v) for m, v in per_method.items()},
        }
    return out
