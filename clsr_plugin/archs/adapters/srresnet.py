"""Adapter for BasicSR's ``MSRResNet`` (the paper's SRResNet)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from clsr_plugin.archs.adapters.base import register_adapter
from clsr_plugin.archs.adapters.body import BodyStagesAdapter


@register_adapter
class MSRResNetAdapter(BodyStagesAdapter):
    """MSRResNet: head = ``lrelu(conv_first)``, stages = 4 chunks of the residual blocks
    (e.g. 4 x 4 for 16 blocks; one per block when fewer than 4), tail = pixel-shuffle
    upsampler + ``conv_hr`` + ``conv_last`` + bilinear residual of the input.

    PIM copy: ``num_feat`` = c'.
    """

    types = ("MSRResNet",)
    max_stages = 4
    tail_modules = ("upconv1", "upconv2", "pixel_shuffle", "conv_hr", "conv_last")
    #: x4: upconv1 (1 LR px) + upconv2 at 2x (1/2) + conv_hr, conv_last at 4x (1/4 each);
    #: x2 / x3: at most 1 + 2/s; the bilinear residual needs 1
    tail_margin = 2

    def crop_state(self, state: dict, crop) -> dict:
        return {"x": crop(state["x"])}

    def head(self, x: Tensor) -> tuple[Tensor, dict]:
        return self.net.lrelu(self.net.conv_first(x)), {"x": x}

    def tail(self, feat: Tensor, state: dict) -> Tensor:
        net = self.net
        if net.upscale == 4:
            out = net.lrelu(net.pixel_shuffle(net.upconv1(feat)))
            out = net.lrelu(net.pixel_shuffle(net.upconv2(out)))
        else:
            out = net.lrelu(net.pixel_shuffle(net.upconv1(feat)))
        out = net.conv_last(net.lrelu(net.conv_hr(out)))
        base = F.interpolate(
            state["x"], scale_factor=net.upscale, mode="bilinear", align_corners=False
        )
        return out + base
