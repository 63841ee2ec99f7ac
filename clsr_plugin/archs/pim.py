"""Proximity integration module (PIM, paper section 3.3): a slim backbone over the context.

A copy of the backbone with ``c' = max(min_channels, round(c * channel_ratio))`` channels (capped
at c; family guards: RCAN's channel-attention reduction, SwinIR's head counts, CARN-M's groups,
see the adapters) runs over the whole context. After every stage its features are cropped at
exactly the base window (ROI plus clamped padding, so both are pixel-aligned) and added into the
first c' channels of the base features. The paper sums directly; here each stage's crop goes
through a zero-initialised 1x1 conv first, so a fresh CLSR returns the backbone's own output
(pretrained quality from the first iteration) while every path still gets gradients. Its own
tail gives the HR context output used by the context loss.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from clsr_plugin.archs.adapters import BackboneAdapter
from clsr_plugin.archs.crop import crop_windows
from clsr_plugin.archs.gcm import zero_module


class ProximityIntegrationModule(nn.Module):
    """Slim backbone over the context plus zero-initialised per-stage fusions.

    Args:
        adapter_cls: the backbone's adapter class.
        backbone_cfg: the backbone config (``type`` + kwargs).
        width: base width c.
        num_stages: stages of the base branch (the slim copy has the same).
        channel_ratio: c' / c before the floor. Default: 0.1 (the paper's c/10).
        min_channels: floor of c'. Default: 8.
    """

    def __init__(
        self,
        adapter_cls: type[BackboneAdapter],
        backbone_cfg: dict,
        width: int,
        num_stages: int,
        channel_ratio: float = 0.1,
        min_channels: int = 8,
    ) -> None:
        super().__init__()
        if not 0 < float(channel_ratio) <= 1:
            raise ValueError(f"pim channel_ratio must be in (0, 1], got {channel_ratio}.")
        if int(min_channels) < 1:
            raise ValueError(f"pim min_channels must be >= 1, got {min_channels}.")
        self.channels = adapter_cls.slim_width(backbone_cfg, width, channel_ratio, min_channels)
        self.net = adapter_cls.build_slim(backbone_cfg, self.channels)
        self._adapter = adapter_cls(self.net)
        if self._adapter.num_stages != num_stages:
            raise ValueError(
                f"PIM copy has {self._adapter.num_stages} stages, base has {num_stages}."
            )
        self.fuse = nn.ModuleList(
            zero_module(nn.Conv2d(self.channels, self.channels, 1)) for _ in range(num_stages)
        )

    @property
    def pad_multiple(self) -> int:
        """Inputs are padded to multiples of this (the backbone's, e.g. SwinIR's window)."""
        return self._adapter.pad_multiple

    @property
    def local(self) -> bool:
        """Whether a crop with a halo of the receptive field gives the same features (the
        adapter's :attr:`~clsr_plugin.archs.adapters.BackboneAdapter.local`)."""
        return bool(self._adapter.local)

    @property
    def in_channels(self) -> int:
        """Input image channels."""
        return self._adapter.in_channels

    def features(self, lq: Tensor) -> Tensor:
        """Last-stage features of the slim backbone, (B, in, H, W) -> (B, c', H, W)."""
        return self._adapter.features(lq)

    def encode(self, lq: Tensor, with_output: bool) -> tuple[list[Tensor], Tensor | None]:
        """Run the slim backbone over the contexts.

        Args:
            lq: (B, in, H, W) contexts.
            with_output: also run the tail.

        Returns:
            The per-stage features, each (B, c', H', W') with H' >= H (SwinIR pads bottom /
            right), and the HR context output (B, out, s*H, s*W) or None.
        """
        feats: list[Tensor] = []

        def keep(i: int, feat: Tensor) -> Tensor:
            feats.append(feat)
            return feat

        out = self._adapter.run(lq, keep, with_tail=with_output)
        return feats, (out if with_output else None)

    def forward(
        self, i: int, z: Tensor, feat: Tensor, windows: Tensor, batch_index: Tensor
    ) -> Tensor:
        """Add stage ``i``'s PIM features, cropped at the windows, into the base features.

        Args:
            i: stage index.
            z: (n, C, h', w') base features (window at the top-left, h' >= wh).
            feat: (B, c', H', W') PIM features of stage ``i``.
            windows: (n, 4) ``(wx, wy, ww, wh)``.
            batch_index: (n,) context of each window.

        Returns:
            (n, C, h', w') with ``fuse_i(crop)`` added to the first c' channels.
        """
        ww, wh = int(windows[0, 2]), int(windows[0, 3])
        crop = crop_windows(feat, batch_index, windows[:, 0], windows[:, 1], ww, wh)
        term = self.fuse[i](crop)
        pad = (0, z.shape[-1] - ww, 0, z.shape[-2] - wh, 0, z.shape[1] - self.channels)
        return z + F.pad(term, pad)
