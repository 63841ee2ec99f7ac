"""Compute cost per ROI of CLSR and of the pre-/post-cropping baselines.

Counted by :func:`clsr_plugin.evaluation.macs.clsr_macs` (mmengine's
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

from clsr_plugin.evaluation.macs import clsr_macs
from clsr_plugin.evaluation.methods import METHODS, get_method

#: the cost row of CLSR with its context shared by all ROIs of the image
AMORTISED = "clsr_amortized"


def cost_methods() -> tuple[str, ...]:
    """The cost rows: every registered method (one ROI each) and :data:`AMORTISED`."""
    return (*METHODS, AMORTISED)


class RoiCostCounter:
    """MACs per ROI for each method (:meth:`Method.macs_per_roi`), the counts cached by
    (image size, ROI size)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, float] = {}

    def image_costs(
        self, net: nn.Module, lq: torch.Tensor, rois: torch.Tensor
    ) -> dict[str, list[float]]:
        """MACs of each ROI of one image under every row of :func:`cost_methods`.

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
            if (height, width, w, h) not in self._cache:
                self._cache[(height, width, w, h)] = clsr_macs(net, (height, width), (h, w))
        n = len(sizes)
        names = cost_methods()
        out: dict[str, list[float]] = {m: [] for m in names}
        for w, h in sizes:
            f = self._cache[(height, width, w, h)]
            for m in names:
                if m == AMORTISED:
                    out[m].append(get_method("clsr").macs_per_roi(f, n))
                else:  # one ROI; post: the whole image for it
                    out[m].append(get_method(m).macs_per_roi(f, 1))
        return out
