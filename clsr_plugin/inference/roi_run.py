"""One ``clsr-infer`` job run: its ROIs restored, the baselines, the sheet and the PSNRs.

:func:`run_job` writes ``<folder>/roi*.png`` (the model's output per ROI) and, unless
``sheet=False``, ``<folder>/sheet.png`` (per ROI: bicubic | pre-cropping | the model [| HR]),
and returns the image's ``results.json`` entry. The pre-cropping baseline's restore function
comes from the caller (the method registry sits above this package).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from clsr_plugin.archs.roi import padded_window
from clsr_plugin.data.bicubic_lr import bicubic_up
from clsr_plugin.inference.api import (
    DEFAULT_CONTEXT_WINDOW,
    autocast_for,
    crop_to_tensor,
    upscale_rois,
)
from clsr_plugin.inference.jobs import Job
from clsr_plugin.inference.out_layout import SHEET_PNG, roi_file_name
from clsr_plugin.inference.restore import Restore
from clsr_plugin.inference.rois import Box
from clsr_plugin.utils.comparison_sheet import comparison_sheet
from clsr_plugin.utils.image_io import (
    LoadedImage,
    from_float01,
    read_image,
    tensor_to_image,
    to_float01,
    write_png,
)
from clsr_plugin.utils.psnr import psnr as psnr_of


@dataclass(frozen=True)
class RoiRun:
    """How :func:`run_job` runs every job of one ``clsr-infer`` run.

    Attributes:
        precrop: restore function of the pre-cropping baseline (the backbone on the bare ROI).
        method: the ``results.json`` name of what produced the ROI outputs.
        label: their column label in the sheet and key in the PSNRs.
        context_window: context = this many ROI sizes around each ROI; None or 0 = the image.
        pim_tile: :func:`~clsr_plugin.inference.api.upscale_rois`' ``pim_tile``.
        sheet: write ``sheet.png``.
    """

    precrop: Restore
    method: str
    label: str
    context_window: float | None = DEFAULT_CONTEXT_WINDOW
    pim_tile: int | str | None = "auto"
    sheet: bool = True


@torch.no_grad()
def bicubic_roi(lr: np.ndarray, box: Box, scale: int) -> np.ndarray:
    """Bicubic x``scale`` of one ROI of ``lr`` (H, W, 3), computed on the ROI plus 2 px of real
    context; returns (scale*h, scale*w, 3) float32 in [0, 1]."""
    x, y, w, h = box
    win = padded_window(box, 2, lr.shape[0], lr.shape[1])
    t = crop_to_tensor(lr, win, torch.float32, torch.device("cpu"))
    up = bicubic_up(t, scale)
    ox, oy = (x - win[0]) * scale, (y - win[1]) * scale
    return tensor_to_image(up[..., oy : oy + h * scale, ox : ox + w * scale])


@torch.no_grad()
def precrop_roi(model: nn.Module, lr: np.ndarray, box: Box, restore: Restore) -> np.ndarray:
    """Pre-cropping baseline of one ROI of ``lr`` (H, W, 3): ``restore`` on the bare ROI;
    returns (scale*h, scale*w, 3) float32 in [0, 1]."""
    p = next(model.parameters())
    t = crop_to_tensor(lr, box, p.dtype, p.device)
    boxes = torch.tensor([[0, 0, box[2], box[3]]], dtype=torch.long, device=p.device)
    with autocast_for(model):
        return tensor_to_image(restore(model, t, boxes, 1, False)[0])


def psnr(a: np.ndarray, b: np.ndarray, bit_depth: int) -> float:
    """PSNR (dB) of two float [0, 1] images after rounding both to ``bit_depth``."""
    peak = 255.0 if bit_depth == 8 else 65535.0
    return psnr_of(from_float01(a, bit_depth), from_float01(b, bit_depth), math.inf, peak)


def run_job(job: Job, img: LoadedImage, model: nn.Module, run: RoiRun, folder: str) -> dict:
    """Run one image (``img``: the job's, decoded) into ``folder``; returns its
    ``results.json`` entry."""
    scale = int(model.scale)
    hr = None
    if job.gt is not None:
        hr = to_float01(read_image(job.gt).rgb[: img.height * scale, : img.width * scale])
    k = None if run.context_window in (None, 0) else run.context_window
    t0 = time.perf_counter()
    outs = upscale_rois(model, img, job.rois, context_window=k, pim_tile=run.pim_tile)
    seconds = time.perf_counter() - t0
    os.makedirs(folder, exist_ok=True)
    entry: dict = dict(input=job.path, size=[img.height, img.width], conversions=img.conversions,
                       gt=job.gt, seconds=round(seconds, 4), method=run.method,
                       rois=[])  # fmt: skip
    rows = []
    for i, (box, sr) in enumerate(zip(job.rois, outs)):
        x, y, w, h = box
        name = roi_file_name(i, box)
        write_png(os.path.join(folder, name), sr, img.bit_depth)
        roi = dict(box=list(box), file=f"{job.stem}/{name}")
        if run.sheet or hr is not None:
            bic = bicubic_roi(img.rgb, box, scale)
            pre = precrop_roi(model, img.rgb, box, run.precrop)
            row = [("bicubic", bic), ("pre-crop", pre), (run.label, sr)]
            if hr is not None:
                ref = hr[y * scale : (y + h) * scale, x * scale : (x + w) * scale]
                row.append(("HR", ref))
                roi["psnr"] = {n: round(psnr(im, ref, img.bit_depth), 4) for n, im in row[:3]}
            rows.append(row)
        entry["rois"].append(roi)
    if run.sheet:
        write_sheet(os.path.join(folder, SHEET_PNG), job, img, rows, entry["rois"], hr, scale)
    return entry


def write_sheet(
    path: str,
    job: Job,
    img: LoadedImage,
    rows: list[list[tuple[str, np.ndarray]]],
    rois: list[dict],
    hr: np.ndarray | None,
    scale: int,
) -> None:
    """Write the comparison sheet of one job: one row of labelled (sh, sw, 3) float tiles per
    ROI, over the HR (when given, with the PSNRs of ``rois``' entries) or else the LR image."""
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
        else [[r["psnr"][n] for n in labels[:3]] + [None] for r in rois],  # fmt: skip
        title=os.path.basename(job.path),
    )
    write_png(path, sheet)
