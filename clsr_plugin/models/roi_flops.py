"""Compute cost per ROI of CLSR and of the pre-/post-cropping baselines.

Counted with mmengine's :class:`~mmengine.analysis.FlopAnalyzer` (fvcore lineage: a JIT trace;
convolutions, linear layers, matmul/bmm/einsum, norms and upsampling are counted, element-wise
ops are not). It counts **multiply-accumulates** (MACs); the paper's "FLOPs" are 2 x MACs
(ClassSR's convention). Costs depend only on shapes, so each (image size, ROI size) is traced
once and cached.

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

from collections.abc import Callable

import torch
from torch import nn

from clsr_plugin.flops import count_macs

METHODS = ("clsr", "clsr_amortized", "pre_pad", "pre_nopad", "post")


def _macs(net: nn.Module, fn: Callable, inputs: tuple) -> int:
    """Multiply-accumulates of one call ``fn(*inputs)`` that runs ``net``'s layers."""
    return int(count_macs(fn, inputs, owner=net))


class RoiCostCounter:
    """MACs per ROI for each method, cached by (method, image size, ROI size)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, int] = {}

    def _cached(self, key: tuple, compute: Callable[[], int]) -> int:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def image_costs(
        self, net: nn.Module, lq: torch.Tensor, rois: torch.Tensor
    ) -> dict[str, list[int]]:
        """MACs of each ROI of one image under every method of :data:`METHODS`.

        Args:
            net: a CLSR network in eval mode.
            lq: (1, 3, H, W) LR image (the context).
            rois: (n, 4) boxes.

        Returns:
            ``method -> [MACs of ROI i]``.
        """
        height, width = lq.shape[-2:]
        full = torch.tensor([[0, 0, width, height]], dtype=torch.long, device=lq.device)
        post = self._cached(
            ("post", height, width),
            lambda: _macs(net, lambda x: net.base_only(x, full, roi_pad=0), (lq,)),
        )
        sizes = [tuple(b) for b in rois[:, 2:].tolist()]
        out: dict[str, list[int]] = {m: [] for m in METHODS}

        def clsr_macs(box: torch.Tensor) -> int:
            return _macs(net, lambda x: net.decode(net.encode_context(x), box), (lq,))

        def decode_macs(box: torch.Tensor) -> int:
            with torch.no_grad():
                cache = net.encode_context(lq)
            return _macs(net, lambda x: net.decode(cache, box), (lq,))

        def base_macs(box: torch.Tensor, pad: int | None) -> int:
            return _macs(net, lambda x: net.base_only(x, box, roi_pad=pad), (lq,))

        for w, h in sorted(set(sizes)):
            box = rois[[sizes.index((w, h))]]
            key = (height, width, w, h)
            self._cached(("clsr",) + key, lambda b=box: clsr_macs(b))
            self._cached(("decode",) + key, lambda b=box: decode_macs(b))
            self._cached(("pre_pad",) + key, lambda b=box: base_macs(b, None))
            self._cached(("pre_nopad",) + key, lambda b=box: base_macs(b, 0))
        n = len(sizes)
        for w, h in sizes:
            key = (height, width, w, h)
            clsr, decode = self._cache[("clsr",) + key], self._cache[("decode",) + key]
            out["clsr"].append(clsr)
            out["clsr_amortized"].append((clsr - decode) / n + decode)
            out["pre_pad"].append(self._cache[("pre_pad",) + key])
            out["pre_nopad"].append(self._cache[("pre_nopad",) + key])
            out["post"].append(post)
        return out
