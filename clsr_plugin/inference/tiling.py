"""The PIM over parts of the image: tile by tile with a halo, or only where the ROIs need it.

The PIM runs a slim backbone over the whole context; its activations grow with the image.
:func:`pim_features_tiled` computes the same per-stage features over tiles of ``tile`` LR pixels,
each run on the tile grown by ``halo`` pixels of real context (clamped to the image) and cropped
back, so peak activation memory is bounded by the tile size. With ``halo`` at least the PIM's
receptive field (:func:`receptive_field`, measured exactly for convolutional backbones) every
feature equals the untiled one (up to float summation order). Backbones with global operations
(RCAN's channel attention pools over the whole input) or windowed attention across the whole
depth (SwinIR) have a receptive field as large as the input: their tiled features approximate
the untiled ones, better with a larger halo. Tile origins are multiples of the backbone's
``pad_multiple`` (SwinIR's window) so the attention windows stay aligned with the full pass.

:func:`encode_context_for_rois` uses the same exactness the other way round: with a bounded
receptive field it runs the PIM only over the ROIs' base windows grown by it (issue 23: the
PIM over the whole image was most of one ROI's cost).
"""

from __future__ import annotations

import logging
import weakref

import torch
from torch import Tensor, nn

from clsr_plugin.archs.clsr_arch import ContextCache
from clsr_plugin.archs.roi import padded_windows

logger = logging.getLogger("clsr_plugin")


#: the probe's radius: a receptive field this large is reported as unbounded
RF_LIMIT = 64


@torch.no_grad()
def receptive_field(pim: nn.Module, limit: int = RF_LIMIT) -> int:
    """Radius (LR pixels) of the PIM's last-stage receptive field, measured by a gradient probe.

    The gradient of the last-stage features at the centre of a ``(2 * limit + 1)``-square
    random input (random, so no ReLU is dead everywhere) is non-zero exactly on the receptive
    field of a convolutional net. Returns ``limit`` when the
    field reaches the probe's border (global or very wide operations).
    """
    p = next(pim.parameters())
    size = 2 * limit + 1
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, pim.in_channels, size, size, generator=g).to(p.device)
    net = pim.net
    dtype = p.dtype
    net.float()
    try:
        with torch.enable_grad():
            x.requires_grad_(True)
            feat = pim.features(x)
            feat[0, :, limit, limit].sum().backward()
        mask = x.grad.abs().sum((0, 1)) > 0
    finally:
        net.to(dtype)
    if not bool(mask.any()):
        return 0
    ys, xs = mask.nonzero(as_tuple=True)
    radius = int(max(limit - ys.min(), ys.max() - limit, limit - xs.min(), xs.max() - limit))
    return min(radius, limit)


_RF_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_receptive_field(pim: nn.Module) -> int:
    """:func:`receptive_field` of ``pim``, probed once per module (it depends on the
    architecture only)."""
    if pim not in _RF_CACHE:
        _RF_CACHE[pim] = receptive_field(pim)
    return _RF_CACHE[pim]


def _grown(box: tuple[int, int, int, int], halo: int, H: int, W: int) -> tuple[int, ...]:
    """``(x0, y0, x1, y1)`` grown by ``halo`` on every side, clamped to an H x W image."""
    x0, y0, x1, y1 = box
    return max(0, x0 - halo), max(0, y0 - halo), min(W, x1 + halo), min(H, y1 + halo)


def _encode_box(
    pim: nn.Module, lq: Tensor, box: tuple[int, int, int, int], halo: int, out: list[Tensor] | None
) -> list[Tensor]:
    """Run the PIM on ``box`` = ``(x0, y0, x1, y1)`` grown by ``halo`` and write its per-stage
    features inside ``box`` into ``out`` (full-size (B, c', H, W) tensors, zeros when None)."""
    x0, y0, x1, y1 = box
    B, _, H, W = lq.shape
    hx0, hy0, hx1, hy1 = _grown(box, halo, H, W)
    feats, _ = pim.encode(lq[:, :, hy0:hy1, hx0:hx1], False)
    if out is None:
        out = [f.new_zeros(B, f.shape[1], H, W) for f in feats]
    for o, f in zip(out, feats):
        o[:, :, y0:y1, x0:x1] = f[:, :, y0 - hy0 : y1 - hy0, x0 - hx0 : x1 - hx0]
    return out


@torch.no_grad()
def pim_features_region(
    pim: nn.Module, lq: Tensor, region: tuple[int, int, int, int], halo: int
) -> list[Tensor]:
    """Per-stage PIM features of ``lq`` exact inside ``region`` and zero elsewhere.

    The slim backbone runs on ``region`` = ``(x0, y0, x1, y1)`` grown by ``halo`` (clamped to
    the image): with ``halo`` at least the PIM's receptive field every feature inside the
    region equals the whole-image pass (up to float summation order).

    Returns:
        Per-stage features, each (B, c', H, W).
    """
    return _encode_box(pim, lq, region, halo, None)


@torch.no_grad()
def encode_context_for_rois(model: nn.Module, lq: Tensor, rois: Tensor) -> ContextCache:
    """``model.encode_context(lq)`` with only the PIM work that ``rois`` need, exactly.

    When the PIM is local and its receptive field bounded (convolutional backbones: SRResNet,
    EDSR, CARN)
    the PIM runs over the bounding box of the ROIs' base windows grown by that field, and
    every feature the decode reads equals the whole-image pass (up to float summation
    order); shared windows (:func:`clsr_plugin.inference.rois.shared_windows`) lie inside that
    box too. Otherwise (RCAN's global channel attention, SwinIR) and where the box is the
    image, it is the whole-image encode.

    Args:
        model: a CLSR in eval mode.
        lq: (1, in, H, W) image.
        rois: (n, 4) boxes ``(x, y, w, h)`` (any sizes).
    """
    H, W = int(lq.shape[-2]), int(lq.shape[-1])
    if model.pim is None or model.context != "image" or rois.shape[0] == 0:
        return model.encode_context(lq)
    # the gradient probe can miss a global operation (a dead ReLU before RCAN's channel
    # attention) and windowed attention is not exact on a crop: the adapter says which are local
    halo = cached_receptive_field(model.pim) if model.pim.local else RF_LIMIT
    if halo >= RF_LIMIT:
        return model.encode_context(lq)
    windows = padded_windows(rois.cpu().long(), int(model.roi_pad), H, W)
    x0, y0 = (int(v) for v in windows[:, :2].min(0).values)
    x1, y1 = (int(v) for v in (windows[:, :2] + windows[:, 2:]).max(0).values)
    region = (x0, y0, x1, y1)
    if _grown(region, halo, H, W) == (0, 0, W, H):
        return model.encode_context(lq)
    return model.encode_context(
        lq, pim_features=lambda pim, x: pim_features_region(pim, x, region, halo)
    )


@torch.no_grad()
def pim_features_tiled(pim: nn.Module, lq: Tensor, tile: int, halo: int) -> list[Tensor]:
    """Per-stage PIM features of ``lq`` computed in tiles.

    Args:
        pim: the model's ``ProximityIntegrationModule``.
        lq: (B, in, H, W) context.
        tile: tile side in LR pixels (rounded up to the backbone's ``pad_multiple``).
        halo: real context added around each tile (rounded up to ``pad_multiple``).

    Returns:
        Per-stage features, each (B, c', H, W), as ``pim.encode`` returns them cropped to H, W.
    """
    if tile < 1 or halo < 0:
        raise ValueError(f"tile must be >= 1 and halo >= 0, got tile={tile}, halo={halo}")
    m = int(pim.pad_multiple)
    tile, halo = -(-tile // m) * m, -(-halo // m) * m
    H, W = lq.shape[-2:]
    out: list[Tensor] | None = None
    for y0 in range(0, H, tile):
        for x0 in range(0, W, tile):
            out = _encode_box(pim, lq, (x0, y0, min(W, x0 + tile), min(H, y0 + tile)), halo, out)
    assert out is not None
    return out


@torch.no_grad()
def encode_context_tiled(
    model: nn.Module, lq: Tensor, tile: int, halo: int | None = None
) -> ContextCache:
    """``model.encode_context(lq)`` with the PIM features computed by :func:`pim_features_tiled`.

    Args:
        model: a CLSR.
        lq: (1, in, H, W) context.
        tile: PIM tile side in LR pixels.
        halo: context around each tile; ``None`` = the PIM's measured receptive field.
    """
    if model.pim is None:
        return model.encode_context(lq)
    if halo is None:
        halo = receptive_field(model.pim)
    return model.encode_context(
        lq, pim_features=lambda pim, x: pim_features_tiled(pim, x, tile, halo)
    )
