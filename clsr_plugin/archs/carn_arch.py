"""CARN and CARN-M (Ahn et al., "Fast, Accurate, and Lightweight Super-Resolution with
Cascading Residual Network", ECCV 2018), as ordinary BasicSR architectures.

Follows the authors' reference code: a mean-shifted input, an entry conv, ``num_block``
cascading blocks with global cascading (the outputs of all previous blocks are concatenated and
fused by a 1x1 conv + ReLU), a pixel-shuffle upsampler (conv + ReLU + shuffle per factor 2) and
an exit conv. Inside a cascading block the same local cascading connects ``num_unit`` residual
units. CARN uses plain residual units; CARN-M uses efficient residual units (two grouped 3x3
convs and a 1x1 conv), grouped convs in the upsampler and, by default, one residual unit whose
weights are shared by the ``num_unit`` positions of a block (recursive, as in the reference).
CARN-M with ``groups=4`` is the model whose cost ClassSR and the CLSR paper report as "CARN".

Inputs and outputs are RGB in [0, 1], like BasicSR's architectures.
"""

from __future__ import annotations

import math

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn
from torch.nn import functional as F

_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class ResidualUnit(nn.Module):
    """CARN residual unit: ``relu(conv3x3(relu(conv3x3(x))) + x)``; (B, C, H, W) -> same."""

    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + x)


class EfficientResidualUnit(nn.Module):
    """CARN-M efficient residual unit: grouped 3x3, ReLU, grouped 3x3, ReLU, 1x1, + x, ReLU."""

    def __init__(self, num_feat: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, 1, 1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat, num_feat, 3, 1, 1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat, num_feat, 1, 1, 0),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + x)


def _fusion(in_ch: int, out_ch: int) -> nn.Sequential:
    """Cascading fusion: 1x1 conv + ReLU."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, 1, 0), nn.ReLU(inplace=True))


class CascadingBlock(nn.Module):
    """Local cascading block: ``num_unit`` residual units, each followed by a 1x1 fusion of the
    concatenation of the block input and all unit outputs so far; (B, C, H, W) -> same.

    Args:
        num_feat: channels C.
        num_unit: residual units per block.
        groups: >1 selects efficient (grouped) units (CARN-M).
        shared: one unit whose weights serve all ``num_unit`` positions.
    """

    def __init__(self, num_feat: int, num_unit: int, groups: int = 1, shared: bool = False):
        super().__init__()
        self.num_unit = num_unit

        def unit() -> nn.Module:
            return EfficientResidualUnit(num_feat, groups) if groups > 1 else ResidualUnit(num_feat)

        self.units = nn.ModuleList([unit()] if shared else [unit() for _ in range(num_unit)])
        self.fusions = nn.ModuleList(
            [_fusion(num_feat * (i + 2), num_feat) for i in range(num_unit)]
        )

    def forward(self, x: Tensor) -> Tensor:
        cascade = out = x
        for i in range(self.num_unit):
            unit = self.units[i if len(self.units) > 1 else 0]
            cascade = torch.cat([cascade, unit(out)], 1)
            out = self.fusions[i](cascade)
        return out


class _CARNBase(nn.Module):
    """Shared body of CARN / CARN-M (see the module docstring); exposes the head / stage / tail
    decomposition CLSR's adapter uses, and ``forward`` is exactly those in sequence."""

    def __init__(
        self,
        num_in_ch: int,
        num_out_ch: int,
        num_feat: int,
        num_block: int,
        num_unit: int,
        upscale: int,
        groups: int,
        shared: bool,
        rgb_mean: tuple[float, float, float],
    ) -> None:
        super().__init__()
        if groups < 1 or num_feat % groups:
            raise ValueError(f"groups={groups} must divide num_feat={num_feat}.")
        if upscale not in (2, 3, 4, 8):
            raise ValueError(f"upscale={upscale} is not supported (2, 3, 4 or 8).")
        self.upscale = upscale
        mean = torch.tensor(rgb_mean) if num_in_ch == 3 else torch.zeros(num_in_ch)
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.blocks = nn.ModuleList(
            [CascadingBlock(num_feat, num_unit, groups, shared) for _ in range(num_block)]
        )
        self.fusions = nn.ModuleList(
            [_fusion(num_feat * (i + 2), num_feat) for i in range(num_block)]
        )
        up = []
        for factor in [3] if upscale == 3 else [2] * int(math.log2(upscale)):
            up += [
                nn.Conv2d(num_feat, factor * factor * num_feat, 3, 1, 1, groups=groups),
                nn.ReLU(inplace=True),
                nn.PixelShuffle(factor),
            ]
        self.upsample = nn.Sequential(*up)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward_head(self, x: Tensor) -> tuple[Tensor, dict]:
        """(B, in, H, W) in [0, 1] -> entry features (B, C, H, W) and the cascade state."""
        feat = self.conv_first(x - self.mean.to(x))
        return feat, {"cascade": feat}

    def forward_stage(self, i: int, feat: Tensor, state: dict) -> Tensor:
        """Cascading block ``i`` and its global 1x1 fusion; updates ``state['cascade']``."""
        state["cascade"] = torch.cat([state["cascade"], self.blocks[i](feat)], 1)
        return self.fusions[i](state["cascade"])

    def forward_tail(self, feat: Tensor, state: dict | None = None) -> Tensor:
        """(B, C, H, W) -> (B, out, s*H, s*W) in [0, 1]."""
        return self.conv_last(self.upsample(feat)) + self.mean.to(feat)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, s*H, s*W)."""
        feat, state = self.forward_head(x)
        for i in range(len(self.blocks)):
            feat = self.forward_stage(i, feat, state)
        return self.forward_tail(feat, state)


@ARCH_REGISTRY.register()
class CARN(_CARNBase):
    """CARN: cascading residual network with plain residual units (about 1.59 M parameters).

    Args:
        num_in_ch: input channels. Default: 3.
        num_out_ch: output channels. Default: 3.
        num_feat: feature channels. Default: 64.
        num_block: cascading blocks. Default: 3.
        num_unit: residual units per cascading block. Default: 3.
        upscale: 2, 3, 4 or 8. Default: 4.
        rgb_mean: mean subtracted from the input and added to the output.
    """

    # the constructors of CARN and CARN_M spell their keyword arguments out: they are the YAML
    # keys of ``network_g`` (BasicSR builds ``type(**opt)``), so each documents its own
    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 3,
        num_unit: int = 3,
        upscale: int = 4,
        rgb_mean: tuple[float, float, float] = _RGB_MEAN,
    ) -> None:
        super().__init__(
            num_in_ch, num_out_ch, num_feat, num_block, num_unit, upscale, 1, False, rgb_mean
        )


@ARCH_REGISTRY.register()
class CARN_M(_CARNBase):  # noqa: N801  (YAML type name)
    """CARN-M: the mobile CARN with efficient grouped residual units (about 0.41 M parameters).

    Args:
        num_in_ch: input channels. Default: 3.
        num_out_ch: output channels. Default: 3.
        num_feat: feature channels. Default: 64.
        num_block: cascading blocks. Default: 3.
        num_unit: residual unit positions per cascading block. Default: 3.
        groups: groups of the grouped convs (must divide ``num_feat``). Default: 4.
        shared: share one residual unit's weights across a block's positions. Default: True.
        upscale: 2, 3, 4 or 8. Default: 4.
        rgb_mean: mean subtracted from the input and added to the output.
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 3,
        num_unit: int = 3,
        groups: int = 4,
        shared: bool = True,
        upscale: int = 4,
        rgb_mean: tuple[float, float, float] = _RGB_MEAN,
    ) -> None:
        if groups < 2:
            raise ValueError(f"CARN_M needs groups >= 2 (efficient units), got groups={groups}.")
        super().__init__(
            num_in_ch, num_out_ch, num_feat, num_block, num_unit, upscale, groups, shared, rgb_mean
        )
