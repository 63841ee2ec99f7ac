"""Adapter for BasicSR's ``SwinIR`` (light: ``pixelshuffledirect``; classical: ``pixelshuffle``)."""

from __future__ import annotations

import copy
import functools
from types import SimpleNamespace

import torch
from basicsr.archs.swinir_arch import (
    SwinTransformerBlock,
    Upsample,
    window_partition,
    window_reverse,
)
from torch import Tensor, nn

from clsr_plugin.archs.adapters.base import (
    BackboneAdapter,
    largest_divisor_at_most,
    register_adapter,
)

_UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect")


@register_adapter
class SwinIRAdapter(BackboneAdapter):
    """SwinIR: head = mean shift + ``conv_first`` + ``patch_embed`` (its LayerNorm), stages =
    the RSTBs (4 light, 6 classical), tail = ``norm`` + ``conv_after_body`` + global skip +
    upsampler + mean shift back.

    RSTBs work on tokens (B, H*W, C); between stages the adapter keeps (B, C, H, W) maps (a pure
    reshape, so fusion happens in image layout and results are bit-identical). Inputs are padded
    bottom/right to the attention window (``pad_multiple``) by :meth:`BackboneAdapter.run`.
    BasicSR's ``SwinTransformerBlock`` uses its stored shifted-window mask only when the input
    equals ``img_size`` and recomputes it for any other size, so a checkpoint trained at
    ``img_size=48`` (masks of that size in the state dict) serves every padded size.

    The adapter runs each RSTB's blocks itself (:func:`run_block`: BasicSR's block forward,
    op for op) with the shifted-window mask of :func:`shift_mask`, computed once per size and
    reused by every block, branch and call (BasicSR recomputes it in every block of every
    forward at a size other than ``img_size``: a quarter of the slim PIM's time over a whole
    image); blocks without a shift get no mask (BasicSR adds an all-zero one).

    PIM copy: ``embed_dim`` = c', each layer keeps the backbone's head width (c / heads) and
    so gets ``c' / (c / heads)`` heads (at least 1; a divisor of c'): the attention's cost per
    token grows with the head count and not with c', so the slim copy with the original head
    count spent most of its time on 4 heads of width 2 (light: c' = 8). For
    ``pixelshuffle`` the tail's hard-coded 64-channel upsampler is rebuilt with c' channels
    (otherwise it would dominate the slim branch's cost).
    """

    types = ("SwinIR",)
    width_key = "embed_dim"
    local = False  # attention windows move with a crop's origin; the cyclic shift wraps

    def __init__(self, net: nn.Module) -> None:
        if net.upsampler not in _UPSAMPLERS:
            raise ValueError(
                f"SwinIR upsampler {net.upsampler!r} is not supported by CLSR; use one of "
                f"{_UPSAMPLERS}."
            )
        if net.ape:
            raise ValueError(
                "SwinIR with ape=True (absolute position embedding) is fixed to "
                "img_size and is not supported by CLSR."
            )
        super().__init__(net)

    def _count_stages(self) -> int:
        return len(self.net.layers)

    @property
    def pad_multiple(self) -> int:
        return int(self.net.layers[0].residual_group.blocks[0].window_size)

    def head(self, x: Tensor) -> tuple[Tensor, dict]:
        net = self.net
        mean = net.mean.to(x)
        x0 = net.conv_first((x - mean) * net.img_range)
        b, c, h, w = x0.shape
        tokens = net.pos_drop(net.patch_embed(x0))
        return tokens.transpose(1, 2).reshape(b, c, h, w), {"skip": x0, "mean": mean}

    def stage(self, i: int, feat: Tensor, state: dict) -> Tensor:
        b, c, h, w = feat.shape
        rstb = self.net.layers[i]
        tokens = x = feat.flatten(2).transpose(1, 2)
        for blk in rstb.residual_group.blocks:
            x = run_block(blk, x, (h, w))
        if rstb.residual_group.downsample is not None:
            x = rstb.residual_group.downsample(x)
        x = rstb.patch_embed(rstb.conv(rstb.patch_unembed(x, (h, w)))) + tokens
        return x.transpose(1, 2).reshape(b, c, h, w)

    def tail(self, feat: Tensor, state: dict) -> Tensor:
        net = self.net
        b, c, h, w = feat.shape
        tokens = net.norm(feat.flatten(2).transpose(1, 2))
        x = net.conv_after_body(net.patch_unembed(tokens, (h, w))) + state["skip"]
        if net.upsampler == "pixelshuffle":
            x = net.conv_last(net.upsample(net.conv_before_upsample(x)))
        else:
            x = net.upsample(x)
        return x / net.img_range + state["mean"]

    def _drop_after(self, k: int) -> None:
        self.net.layers = self.net.layers[:k]
        for name in ("norm", "conv_after_body", "conv_before_upsample", "upsample", "conv_last"):
            if hasattr(self.net, name):
                delattr(self.net, name)

    @classmethod
    def slim_config(cls, cfg: dict, channels: int) -> dict:
        cfg = copy.deepcopy(dict(cfg))
        width = int(cfg.get("embed_dim", 96))
        cfg["embed_dim"] = channels
        heads = cfg.get("num_heads", (6, 6, 6, 6))
        cfg["num_heads"] = [
            largest_divisor_at_most(channels, max(1, channels * int(h) // width)) for h in heads
        ]
        return cfg

    @classmethod
    def build_slim(cls, cfg: dict, channels: int) -> nn.Module:
        net = cls.build(cls.slim_config(cfg, channels))
        if net.upsampler == "pixelshuffle":
            num_out = net.conv_last.out_channels
            net.conv_before_upsample = nn.Sequential(
                nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(inplace=True)
            )
            net.upsample = Upsample(net.upscale, channels)
            net.conv_last = nn.Conv2d(channels, num_out, 3, 1, 1)
        return net


@functools.lru_cache(maxsize=32)
def _shift_mask(h: int, w: int, window: int, shift: int, device: str) -> Tensor:
    """BasicSR's own ``SwinTransformerBlock.calculate_mask`` (it reads only the window and the
    shift), (nW, window^2, window^2) of 0 / -100, on ``device``."""
    geometry = SimpleNamespace(window_size=window, shift_size=shift)
    return SwinTransformerBlock.calculate_mask(geometry, (h, w)).to(device)


def shift_mask(blk: nn.Module, size: tuple[int, int], device: torch.device) -> Tensor | None:
    """The attention mask of a SwinIR block at ``size`` (H, W): None without a shift (BasicSR
    adds zeros there), else the shifted-window mask, computed once per (size, window, shift,
    device) and shared by every block (LRU of 32 sizes)."""
    if blk.shift_size == 0:
        return None
    return _shift_mask(int(size[0]), int(size[1]), blk.window_size, blk.shift_size, str(device))


def run_block(blk: nn.Module, x: Tensor, size: tuple[int, int]) -> Tensor:
    """BasicSR's ``SwinTransformerBlock.forward`` with the mask of :func:`shift_mask`.

    Shapes: (B, H*W, C) -> (B, H*W, C).
    """
    h, w = size
    b, _, c = x.shape
    ws, shift = blk.window_size, blk.shift_size
    shortcut = x
    x = blk.norm1(x).view(b, h, w, c)
    if shift > 0:
        x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
    windows = window_partition(x, ws).view(-1, ws * ws, c)
    windows = blk.attn(windows, mask=shift_mask(blk, size, x.device))
    x = window_reverse(windows.view(-1, ws, ws, c), ws, h, w)
    if shift > 0:
        x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
    x = shortcut + blk.drop_path(x.view(b, h * w, c))
    return x + blk.drop_path(blk.mlp(blk.norm2(x)))
