"""The backbone adapter interface: a backbone seen as head -> ordered stages -> tail.

CLSR needs three things from every backbone (see ``DESIGN.md``): run the base branch stage by
stage with a hook after each stage (fusion of PIM / GCM features), build a slim copy with fewer
channels (the PIM) and build the GCM extractor G from the head and first stage(s). An adapter
wraps one backbone *instance* (the module itself stays untouched and owns all parameters, so its
state-dict keys are the backbone's own) and re-expresses its ``forward`` as::

    feat, state = head(x)                 # feat (B, C, H, W); state: what the tail needs
    for i in range(num_stages):
        feat = stage(i, feat, state)      # feat (B, C, H, W) between stages, always
    out = tail(feat, state)               # (B, out_ch, s*H, s*W)

``run`` adds the size handling: inputs are padded bottom/right to ``pad_multiple`` (SwinIR's
window) with symmetric (mirror) padding, which works for any size, even 1x1, and the output is
cropped back, so any ROI size and position works with every backbone.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn

from clsr_plugin.archs.crop import crop_windows

StageHook = Callable[[int, Tensor], Tensor]


def mirror_pad(x: Tensor, multiple: int) -> Tensor:
    """Pad ``x`` (B, C, H, W) bottom/right up to multiples of ``multiple`` by mirroring.

    Symmetric padding (the edge pixel repeated, then the image mirrored; periodic for pads
    larger than the image), as SwinIR's reference test code does, valid for any size.
    """
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x

    def index(n: int, pad: int) -> Tensor:
        i = torch.arange(n + pad, device=x.device) % (2 * n)
        return torch.where(i < n, i, 2 * n - 1 - i)

    if ph:
        x = x.index_select(-2, index(h, ph))
    if pw:
        x = x.index_select(-1, index(w, pw))
    return x


def split_evenly(total: int, parts: int) -> list[tuple[int, int]]:
    """Split ``range(total)`` into ``parts`` contiguous chunks of near-equal length."""
    parts = max(1, min(parts, total))
    bounds = [round(i * total / parts) for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def largest_divisor_at_most(n: int, limit: int) -> int:
    """Largest divisor of ``n`` that is <= ``limit`` (at least 1)."""
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


class BackboneAdapter(ABC):
    """Head / stages / tail view of one backbone instance (base class).

    Args:
        net: the backbone module (a BasicSR architecture instance).

    Attributes:
        net: the wrapped module.
        num_stages: number of stages that can be run (fewer after :meth:`truncate`).
    """

    #: YAML ``type`` names this adapter serves.
    types: tuple[str, ...] = ()
    #: constructor key of the channel width.
    width_key: str = "num_feat"
    #: every feature depends only on a bounded neighbourhood at fixed positions (convolutions
    #: only), so a crop with a halo of the receptive field computes the same features; False
    #: for global operations (RCAN's channel attention) and moving windows (SwinIR)
    local: bool = True
    #: LR pixels of last-stage features the tail needs around an output pixel (its receptive
    #: field, rounded up), or None (unknown: the tail always runs on the whole input). With
    #: it, :meth:`run` crops features and the state to the wanted boxes plus this margin
    #: before the tail, which changes no output pixel inside the boxes. A subclass that sets
    #: it defines ``crop_state(state, crop) -> dict``: the tail's state with ``crop`` applied
    #: to every tensor the tail reads per pixel.
    tail_margin: int | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.tail_margin is not None and not callable(getattr(cls, "crop_state", None)):
            raise TypeError(f"{cls.__name__} sets tail_margin but defines no crop_state.")

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.num_stages = self._count_stages()
        self.truncated = False

    # ---- facts about the backbone -------------------------------------------------------
    @property
    def in_channels(self) -> int:
        """Input image channels."""
        return self.net.conv_first.in_channels

    @property
    def width(self) -> int:
        """Feature channels c between stages."""
        return self.net.conv_first.out_channels

    @property
    def scale(self) -> int:
        """Upscale factor s."""
        return int(self.net.upscale)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the backbone's parameters."""
        return next(self.net.parameters()).dtype

    @property
    def pad_multiple(self) -> int:
        """Inputs are padded to multiples of this (1: any size)."""
        return 1

    # ---- the decomposition (subclasses) -------------------------------------------------
    @abstractmethod
    def _count_stages(self) -> int:
        """Number of stages of the full backbone."""

    @abstractmethod
    def head(self, x: Tensor) -> tuple[Tensor, dict]:
        """x (B, in, H, W) -> features (B, C, H, W) and the state the tail needs."""

    @abstractmethod
    def stage(self, i: int, feat: Tensor, state: dict) -> Tensor:
        """Run stage ``i``: (B, C, H, W) -> (B, C, H, W)."""

    @abstractmethod
    def tail(self, feat: Tensor, state: dict) -> Tensor:
        """Features after the last stage -> image (B, out, s*H, s*W)."""

    @abstractmethod
    def _drop_after(self, k: int) -> None:
        """Delete the modules of stages >= k and of the tail (see :meth:`truncate`)."""

    # ---- shared machinery ---------------------------------------------------------------
    def truncate(self, k: int) -> None:
        """Keep only the head and the first ``k`` stages (the GCM extractor G).

        The remaining parameters keep their backbone state-dict names, so a backbone checkpoint
        loads into the truncated module by name. The net's own ``forward`` is unusable after.
        """
        if not 1 <= k <= self.num_stages:
            raise ValueError(f"Cannot keep {k} stages of a backbone with {self.num_stages}.")
        self._drop_after(k)
        self.num_stages = k
        self.truncated = True

    def run(
        self,
        x: Tensor,
        after_stage: StageHook | None = None,
        with_tail: bool = True,
        boxes: Tensor | None = None,
    ) -> Tensor:
        """Pad, run head / stages (calling ``after_stage(i, feat)`` after each) / tail, crop.

        Args:
            x: (B, in, H, W) images.
            after_stage: optional hook returning the (possibly fused) features of stage i; the
                features it sees are padded to ``pad_multiple`` (real pixels top-left).
            with_tail: run the tail; if False return the padded last-stage features instead.
            boxes: (B, 4) integer ``(x, y, w, h)``, one per image, all of one size: return
                only the HR of these boxes (the tail then runs on them plus ``tail_margin``).

        Returns:
            (B, out, s*H, s*W) (with ``boxes``: (B, out, s*h, s*w)), or the last-stage
            features when ``with_tail`` is False.
        """
        h, w = x.shape[-2:]
        feat, state = self.head(mirror_pad(x, self.pad_multiple))
        for i in range(self.num_stages):
            feat = self.stage(i, feat, state)
            if after_stage is not None:
                feat = after_stage(i, feat)
        if not with_tail:
            return feat
        if self.truncated:
            raise RuntimeError("A truncated backbone has no tail.")
        s = self.scale
        if boxes is None:
            return self.tail(feat, state)[..., : s * h, : s * w]
        return self._tail_boxes(feat, state, boxes, h, w)

    def _tail_boxes(self, feat: Tensor, state: dict, boxes: Tensor, h: int, w: int) -> Tensor:
        """The tail's HR output at ``boxes`` (see :meth:`run`), from the smallest crop that
        gives exactly those pixels: the boxes plus ``tail_margin``, shifted inside the image."""
        s, n = self.scale, boxes.shape[0]
        boxes = boxes.to(feat.device).long()
        bw, bh = int(boxes[0, 2]), int(boxes[0, 3])
        index = torch.arange(n, device=feat.device)
        m = self.tail_margin
        if m is not None and (bw + 2 * m < w or bh + 2 * m < h):
            rw, rh = min(w, bw + 2 * m), min(h, bh + 2 * m)
            rx = (boxes[:, 0] - m).clamp(0, w - rw)
            ry = (boxes[:, 1] - m).clamp(0, h - rh)

            def crop(t: Tensor) -> Tensor:
                return crop_windows(t, index, rx, ry, rw, rh)

            out = self.tail(crop(feat), self.crop_state(state, crop))
            offset = boxes[:, :2] - torch.stack([rx, ry], 1)
        else:
            out = self.tail(feat, state)[..., : s * h, : s * w]
            offset = boxes[:, :2]
        return crop_windows(out, index, offset[:, 0] * s, offset[:, 1] * s, s * bw, s * bh)

    def features(self, x: Tensor) -> Tensor:
        """Head + all remaining stages on ``x`` (B, in, H, W) -> (B, C, H, W), cropped back."""
        h, w = x.shape[-2:]
        return self.run(x, with_tail=False)[..., :h, :w]

    # ---- building -----------------------------------------------------------------------
    @staticmethod
    def build(cfg: dict) -> nn.Module:
        """Instantiate ``cfg`` (``{'type': ..., **kwargs}``) from BasicSR's ARCH_REGISTRY."""
        kwargs = copy.deepcopy(dict(cfg))
        return ARCH_REGISTRY.get(kwargs.pop("type"))(**kwargs)

    @classmethod
    def slim_width(cls, cfg: dict, width: int, ratio: float, floor: int) -> int:
        """PIM width c' = max(floor, round(c * ratio)), capped at c; families may round it."""
        return min(width, max(int(floor), round(width * float(ratio))))

    @classmethod
    def slim_config(cls, cfg: dict, channels: int) -> dict:
        """The backbone config with its width set to ``channels`` (families add guards)."""
        cfg = copy.deepcopy(dict(cfg))
        cfg[cls.width_key] = channels
        return cfg

    @classmethod
    def build_slim(cls, cfg: dict, channels: int) -> nn.Module:
        """The slim copy of the backbone used by the PIM."""
        return cls.build(cls.slim_config(cfg, channels))


#: Backbone YAML ``type`` -> adapter class; filled by :func:`register_adapter`.
ADAPTERS: dict[str, type[BackboneAdapter]] = {}

_Adapter = TypeVar("_Adapter", bound=type[BackboneAdapter])


def register_adapter(cls: _Adapter) -> _Adapter:
    """Class decorator: ``cls`` serves the YAML types in ``cls.types`` (BasicSR-registry style).

    Raises:
        ValueError: ``cls.types`` is empty, or a type already has another adapter.
    """
    if not cls.types:
        raise ValueError(f"{cls.__name__}.types is empty: name the YAML types it serves.")
    for name in cls.types:
        other = ADAPTERS.get(name)
        if other is not None and other is not cls:
            raise ValueError(
                f"Backbone type {name!r} already has the adapter {other.__name__}; "
                f"{cls.__name__} cannot also serve it."
            )
    for name in cls.types:
        ADAPTERS[name] = cls
    return cls
