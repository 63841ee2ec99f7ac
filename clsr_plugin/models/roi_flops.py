"""Compute cost per ROI of CLSR and of the pre-/post-cropping baselines.

Counted by :func:`clsr_plugin.flops.clsr_macs` (mmengine's
:class:`~mmengine.analysis.FlopAnalyzer`, a JIT trace; convolutions, linear layers,
matmul/bmm/einsum, norms and upsampling are counted, element-wise ops are not). It counts
**multiply-accumulates** (MACs); the paper's "FLOPs" are 2 x MACs (ClassSR's convention). Costs
depend only on shapes, so each (image size, ROI size) is traced once and cached.

Per ROI of an image of H x W with n ROIs:

* ``clsr``: context encoding of the whole image + decoding that one ROI (the cost of restoring
  one region, as in the paper's tables);
* ``clsr_amortized``: (context encoding + n decodings) / n, the cost when all n ROIs of the image
  are restored together;
* ``pre_pad`` / ``pre_nopad``: the backbone on the ROI's padded window (``roi_pad``) / on the ROI
  alone;
* ``post``: the backbone on the whole image.
"""

from __future__ import annotations

import torch
from torch import nn

from clsr_plugin.flops import clsr_macs

METHODS = ("clsr", "clsr_amortized", "pre_pad", "pre_nopad", "post")


class RoiCostCounter:
    """MACs per ROI for each method, cached by (method, image size, ROI size)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, float] = {}

    def image_costs(
        self, net: nn.Module, lq: torch.Tensor, rois: torch.Tensor
    ) -> dict[str, list[float]]:
        """MACs of each ROI of one image under every method of :data:`METHODS`.

        Args:
            net: a CLSR network.
            lq: (1, 3, H, W) LR image (the context; only its size matters).
            rois: (n, 4) boxes.

        Returns:
            ``method -> [MACs of ROI i]``.
        """
        height, width = int(lq.shape[-2]), int(lq.shape[-1])
        sizes = [tuple(b) for b in rois[:, 2:].tolist()]
        for w, h in sorted(set(sizes)):
            key = (height, width, w, h)
            if ("decode",) + key not in self._cache:
                f = clsr_macs(net, (height, width), (h, w))
                self._cache[("clsr",) + key] = f["clsr_decode"] + f["clsr_context"]
                self._cache[("decode",) + key] = f["clsr_decode"]
                self._cache[("pre_pad",) + key] = f["pre_pad"]
                self._cache[("pre_nopad",) + key] = f["pre_nopad"]
                self._cache[("post", height, width)] = f["post"]
        out: dict[str, list[float]] = {m: [] for m in METHODS}
        n = len(sizes)
        for w, h in sizes:
            key = (height, width, w, h)
            clsr, decode = self._cache[("clsr",) + key], self._cache[("decode",) + key]
            out["clsr"].append(clsr)
            out["clsr_amortized"].append((clsr - decode) / n + decode)
            out["pre_pad"].append(self._cache[("pre_pad",) + key])
            out["pre_nopad"].append(self._cache[("pre_nopad",) + key])
            out["post"].append(self._cache[("post", height, width)])
        return out
