"""Adapter for the plugin's ``CARN`` and ``CARN_M`` (see ``clsr_plugin/archs/carn_arch.py``)."""

from __future__ import annotations

from torch import Tensor

from clsr_plugin.archs.adapters.base import BackboneAdapter, register_adapter


@register_adapter
class CARNAdapter(BackboneAdapter):
    """CARN / CARN-M: head = mean shift + entry conv, stages = the cascading blocks with their
    global 1x1 fusions (3), tail = upsampler + exit conv + mean shift back. The arch itself
    exposes this decomposition (``forward_head`` / ``forward_stage`` / ``forward_tail``).

    PIM copy: ``num_feat`` = c', rounded up to a multiple of CARN-M's ``groups``.
    """

    types = ("CARN", "CARN_M")

    def _count_stages(self) -> int:
        return len(self.net.blocks)

    def head(self, x: Tensor) -> tuple[Tensor, dict]:
        return self.net.forward_head(x)

    def stage(self, i: int, feat: Tensor, state: dict) -> Tensor:
        return self.net.forward_stage(i, feat, state)

    def tail(self, feat: Tensor, state: dict) -> Tensor:
        return self.net.forward_tail(feat, state)

    def _drop_after(self, k: int) -> None:
        self.net.blocks = self.net.blocks[:k]
        self.net.fusions = self.net.fusions[:k]
        del self.net.upsample
        del self.net.conv_last

    @classmethod
    def slim_width(cls, cfg: dict, width: int, ratio: float, floor: int) -> int:
        channels = super().slim_width(cfg, width, ratio, floor)
        if cfg["type"] == "CARN_M":
            groups = int(cfg.get("groups", 4))
            channels = min(width, -(-channels // groups) * groups)
        return channels
