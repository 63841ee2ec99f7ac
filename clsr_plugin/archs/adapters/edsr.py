"""Adapters for BasicSR's ``EDSR`` and ``RCAN`` (same head / global skip / tail layout)."""

from __future__ import annotations

from torch import Tensor, nn

from clsr_plugin.archs.adapters.base import register_adapter
from clsr_plugin.archs.adapters.body import BodyStagesAdapter


def pixel_shuffle_scale(module: nn.Module) -> int:
    """Upscale factor of an upsampler: the product of its PixelShuffle factors."""
    scale = 1
    for m in module.modules():
        if isinstance(m, nn.PixelShuffle):
            scale *= m.upscale_factor
    return scale


@register_adapter
class EDSRAdapter(BodyStagesAdapter):
    """EDSR: head = mean shift + ``conv_first``, stages = 4 chunks of the residual blocks,
    tail = ``conv_after_body`` + global skip + upsampler + ``conv_last`` + mean shift back.

    PIM copy: ``num_feat`` = c'.
    """

    types = ("EDSR",)
    max_stages = 4
    tail_modules = ("conv_after_body", "upsample", "conv_last")
    #: conv_after_body (1 LR px) + the upsampler's convs (1 at LR, 1/2 at 2x for x4) +
    #: conv_last at s x (1/s): 2.75 for x4, rounded up
    tail_margin = 3

    def crop_state(self, state: dict, crop) -> dict:
        return {"skip": crop(state["skip"]), "mean": state["mean"]}

    @property
    def scale(self) -> int:
        return pixel_shuffle_scale(self.net.upsample)

    def head(self, x: Tensor) -> tuple[Tensor, dict]:
        mean = self.net.mean.to(x)
        feat = self.net.conv_first((x - mean) * self.net.img_range)
        return feat, {"skip": feat, "mean": mean}

    def tail(self, feat: Tensor, state: dict) -> Tensor:
        net = self.net
        res = net.conv_after_body(feat) + state["skip"]
        return net.conv_last(net.upsample(res)) / net.img_range + state["mean"]


@register_adapter
class RCANAdapter(EDSRAdapter):
    """RCAN: like EDSR with one stage per residual group (10 for the paper's RCAN).

    PIM copy: ``num_feat`` = c' and ``squeeze_factor`` lowered to at most c' so the channel
    attention keeps at least one channel (c' // squeeze_factor >= 1).
    """

    types = ("RCAN",)
    local = False  # channel attention pools over the whole input
    max_stages = None

    @classmethod
    def slim_config(cls, cfg: dict, channels: int) -> dict:
        cfg = super().slim_config(cfg, channels)
        cfg["squeeze_factor"] = min(int(cfg.get("squeeze_factor", 16)), channels)
        return cfg
