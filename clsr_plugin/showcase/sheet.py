"""The demo's comparison sheet: bicubic | pre (padded) | post | CLSR | GT on the most textured
ROIs of one image, each tile with its PSNR."""

from __future__ import annotations

import os.path as osp

import numpy as np


def demo_sheet(hr_path: str, model, roi: int, n_rois: int) -> np.ndarray:
    """The demo's comparison sheet (RGB): the image with its ``n_rois`` most textured ROIs of
    the grid, each as bicubic | pre (padded) | post | CLSR | GT with its PSNR."""
    import torch

    from clsr_plugin.data.bicubic_lr import bicubic_up
    from clsr_plugin.evaluation.benchmark import prepare_image
    from clsr_plugin.evaluation.engine import restore_rois
    from clsr_plugin.evaluation.methods import METHODS, SHEET_METHODS
    from clsr_plugin.utils.comparison_sheet import comparison_sheet, textured_rois, tile_psnr
    from clsr_plugin.utils.image_io import from_float01, tensor_to_image

    s = int(model.scale)
    shown = SHEET_METHODS
    lq, hr, boxes = prepare_image(hr_path, s, roi)
    rois = boxes[textured_rois(from_float01(tensor_to_image(lq)), boxes.tolist(), n_rois)]
    with torch.no_grad():
        outs = restore_rois(model.eval(), lq, rois, shown)
        up = bicubic_up(lq, s)
    rows, psnrs = [], []
    for i, (x, y, w, h) in enumerate(rois.tolist()):
        gt = from_float01(hr[y * s : (y + h) * s, x * s : (x + w) * s])
        tiles = [from_float01(tensor_to_image(up[..., y * s : (y + h) * s, x * s : (x + w) * s]))]
        tiles += [from_float01(tensor_to_image(outs[m][i])) for m in shown]
        rows.append(tiles + [gt])
        psnrs.append([tile_psnr(t, gt) for t in tiles] + [None])
    name = osp.splitext(osp.basename(hr_path))[0]
    title = f"{name} (x{s}; one frozen backbone; CLSR = its adapters)"
    labels = ["bicubic", *(METHODS[m].short for m in shown), "GT"]
    return comparison_sheet(rows, labels, overview=from_float01(hr), psnrs=psnrs, title=title,
                            boxes=[[v * s for v in b] for b in rois.tolist()])  # fmt: skip
