"""Multiply-accumulate (MAC) accounting with ``mmengine.analysis.FlopAnalyzer``.

mmengine's analyzer (fvcore lineage) traces the model with the JIT and counts one
multiply-accumulate per "flop" for conv, linear, matmul, bmm, einsum, norms and upsampling;
element-wise ops are not counted, and ``scaled_dot_product_attention`` is counted here
(:func:`_sdpa_macs`: the two products, ``L x S x (E + Ev)`` per batch item). The paper (Table 1,
ClassSR's convention) reports GFLOPs = 2 x GMACs. Every function here returns MACs; use
:func:`gflops` for the paper's unit.

For CLSR the cost of n ROIs of one image is ``n * decode + encode_context`` (paper sec. 3.4):
:func:`clsr_macs` splits it into the per-ROI part (base branch on the padded window plus the
GCM query/attention and fusion) and the once-per-image context part (GCM extractor over the
sampled patches, PIM over the whole context), and amortises the latter over n ROIs.

``python -m clsr_plugin.flops`` (:mod:`clsr_plugin.flops`) prints the pre-cropping GFLOPs of the
paper's backbones at 24 x 24 next to the paper's Table 1 values.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from clsr_plugin.archs.param_report import PAPER_BACKBONES


class _Call(nn.Module):
    """Wrap a callable (and the modules it uses) so the JIT tracer sees one ``forward``."""

    def __init__(self, fn: Callable[..., Any], owner: nn.Module):
        super().__init__()
        self.fn = fn
        self.owner = owner  # registered so parameters/buffers are visible to the tracer

    def forward(self, *args):
        return self.fn(*args)


def _sdpa_macs(inputs: list, outputs: list) -> int:
    """MACs of ``scaled_dot_product_attention(q, k, v, ...)``: q.k^T and attn.v."""
    from mmengine.analysis.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def count_macs(
    model: nn.Module | Callable[..., Any],
    inputs: Sequence[torch.Tensor],
    owner: nn.Module | None = None,
    by_module: bool = False,
) -> int | dict[str, int]:
    """Count multiply-accumulates of one call with mmengine's FlopAnalyzer.

    Args:
        model: module (or any callable of tensors when ``owner`` is given).
        inputs: positional tensor arguments.
        owner: the module whose submodules ``model`` uses, when ``model`` is a plain callable;
            per-module names in ``by_module`` are then relative to ``owner``.
        by_module: return ``{module_name: macs}`` ('' = total) instead of the total.

    Returns:
        Total MACs (int), or the per-module mapping.
    """
    from mmengine.analysis import FlopAnalyzer

    if not isinstance(model, nn.Module):
        if owner is None:
            raise ValueError("count_macs: a plain callable needs `owner` (the module it uses)")
        model = _Call(model, owner)
    target = owner if isinstance(model, _Call) else model  # whose train/eval mode to restore
    was_training = target.training
    model.eval()
    logger = logging.getLogger("mmengine")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(model, tuple(inputs))
            analyzer.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            analyzer.tracer_warnings("none")
            if not by_module:
                return int(analyzer.total())
            counts = analyzer.by_module()
    finally:
        logger.setLevel(level)
        target.train(was_training)
    if isinstance(model, _Call):
        # '' stays the root (the total); 'owner' alone would miss the ops the callable runs
        # outside the owner's submodules (e.g. CLSR's own interpolation in ``decode``)
        counts = {
            k[len("owner.") :] if k else k: v
            for k, v in counts.items()
            if not k or k.startswith("owner.")
        }
    return {k: int(v) for k, v in counts.items()}


def gflops(macs: float) -> float:
    """Paper-style GFLOPs (2 x MACs, ClassSR's convention) from a MAC count."""
    return 2.0 * macs / 1e9


def build_backbone(opt: dict) -> nn.Module:
    """Build a registered architecture from a ``network_g``-style dict (not modified)."""
    from basicsr.archs import build_network

    return build_network(copy.deepcopy(opt))


def backbone_macs(net: nn.Module, height: int, width: int) -> int:
    """MACs of one backbone forward on a (1, 3, height, width) input."""
    p = next(net.parameters())
    return count_macs(net, (torch.zeros(1, 3, height, width, dtype=p.dtype, device=p.device),))


def _boxes(boxes: Sequence[Sequence[int]], device: torch.device) -> torch.Tensor:
    return torch.as_tensor([list(map(int, b)) for b in boxes], dtype=torch.long, device=device)


def clsr_macs(
    model: nn.Module,
    context_hw: tuple[int, int],
    roi_hw: tuple[int, int],
) -> dict[str, float]:
    """Per-ROI MACs of a CLSR model and of its pre/post-cropping baselines.

    The ROI is placed in the middle of the context (away from borders, so the base window has
    its full padding). Context work (GCM extractor, PIM) is counted once per image; the cost per
    ROI of each method, amortised over the ROIs of an image, is
    :meth:`clsr_plugin.evaluation.methods.Method.macs_per_roi` of these counts.

    Args:
        model: a ``CLSR`` instance.
        context_hw: LR context (image) size (H, W).
        roi_hw: ROI size (h, w) in LR pixels.

    Returns:
        MAC counts: ``pre_nopad`` (backbone on the bare ROI), ``pre_pad`` (backbone on the
        padded window), ``post`` (backbone on the whole context), all three through
        ``model.base_only`` (a backbone's input padding, e.g. SwinIR's, counted as run),
        ``clsr_decode`` (per ROI: base + GCM query/attention + fusion), ``clsr_decode_base`` /
        ``clsr_decode_gcm`` (that split; of the GCM's part, ``clsr_decode_select`` is
        ``selection: topk``'s patch scoring), ``clsr_context`` (once per image) with
        ``clsr_context_gcm`` / ``clsr_context_pim``, and the inputs. With ``topk``, G runs per
        ROI on its selected patches (in decode): the CLSR cost per ROI is then exact ROI by
        ROI and an upper bound for a batch of ROIs, which
        shares the G work of the patches they select in common. The descriptors are
        element-wise arithmetic, which the counter does not count (about 3 per pixel).
    """
    H, W = map(int, context_hw)
    h, w = map(int, roi_hw)
    if not (0 < h <= H and 0 < w <= W):
        raise ValueError(f"ROI size {roi_hw} does not fit the context {context_hw}")
    p = next(model.parameters())
    lq = torch.zeros(1, 3, H, W, dtype=p.dtype, device=p.device)
    boxes = _boxes([((W - w) // 2, (H - h) // 2, w, h)], p.device)

    def base_only(b: torch.Tensor, pad: int | None) -> int:
        return count_macs(lambda x: model.base_only(x, b, roi_pad=pad), (lq,), owner=model)

    out: dict[str, float] = {
        "context_h": H,
        "context_w": W,
        "roi_h": h,
        "roi_w": w,
        "roi_pad": int(model.roi_pad),
        "pre_nopad": base_only(boxes, 0),
        "pre_pad": base_only(boxes, None),
        "post": base_only(_boxes([(0, 0, W, H)], p.device), 0),
    }
    with torch.no_grad():
        cache = model.encode_context(lq)

    def encode(x):
        return _flatten(model.encode_context(x))

    def decode(b):
        return model.decode(cache, b)

    ctx = count_macs(encode, (lq,), owner=model, by_module=True)
    dec = count_macs(decode, (boxes,), owner=model, by_module=True)
    out["clsr_context"] = ctx[""]
    out["clsr_context_pim"] = ctx.get("pim", 0)  # 0: no PIM
    out["clsr_context_gcm"] = ctx[""] - out["clsr_context_pim"]
    out["clsr_decode"] = dec[""]
    out["clsr_decode_gcm"] = dec.get("gcm", 0)  # 0: no GCM
    out["clsr_decode_select"] = dec.get("gcm.select", 0)  # 0: strided selection
    out["clsr_decode_base"] = dec[""] - out["clsr_decode_gcm"]
    return out


def _flatten(obj: Any) -> tuple[torch.Tensor, ...]:
    """All tensors inside a (nested) cache object, so the JIT tracer can return them."""
    if isinstance(obj, torch.Tensor):
        return (obj,)
    if obj is None or isinstance(obj, (int, float, str, bool)):
        return ()
    if isinstance(obj, dict):
        return tuple(t for v in obj.values() for t in _flatten(v))
    if isinstance(obj, (list, tuple)):
        return tuple(t for v in obj for t in _flatten(v))
    if hasattr(obj, "__dict__"):
        return tuple(t for v in vars(obj).values() for t in _flatten(v))
    return ()


def paper_table(roi: int = 24) -> list[dict[str, Any]]:
    """Pre-cropping MACs of :data:`PAPER_BACKBONES` at ``roi x roi`` next to the paper."""
    rows = []
    for name, (opt, paper) in PAPER_BACKBONES.items():
        if paper is None:  # not in the paper's FLOPs column
            continue
        macs = backbone_macs(build_backbone(opt), roi, roi)
        rows.append(
            dict(backbone=name, type=opt["type"], gmacs=macs / 1e9, gflops=gflops(macs),
                 paper_gflops=paper if roi == 24 else None)
        )  # fmt: skip
    return rows
