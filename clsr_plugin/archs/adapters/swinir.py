"""Adapter for BasicSR's ``SwinIR`` (light: ``pixelshuffledirect``; classical: ``pixelshuffle``)."""

from __future__ import annotations

import copy

from basicsr.archs.swinir_arch import Upsample
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

    PIM copy: ``embed_dim`` = c', each layer's heads lowered to the largest divisor of c' not
    above the original count; for ``pixelshuffle`` the tail's hard-coded 64-channel upsampler
    is rebuilt with c' channels (otherwise it would dominate the slim branch's cost).
    """

    types = ("SwinIR",)
    width_key = "embed_dim"

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
        tokens = self.net.layers[i](feat.flatten(2).transpose(1, 2), (h, w))
        return tokens.transpose(1, 2).reshape(b, c, h, w)

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
        cfg["embed_dim"] = channels
        heads = cfg.get("num_heads", (6, 6, 6, 6))
        cfg["num_heads"] = [largest_divisor_at_most(channels, int(h)) for h in heads]
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
