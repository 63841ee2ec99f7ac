"""Adapters whose stages are contiguous chunks of an ``nn.Sequential`` body (MSRResNet, EDSR,
RCAN)."""

from __future__ import annotations

from torch import Tensor

from clsr_plugin.archs.adapters.base import BackboneAdapter, split_evenly


class BodyStagesAdapter(BackboneAdapter):
    """Stages are ``max_stages`` near-equal contiguous chunks of ``net.body``.

    Subclasses set ``max_stages`` (``None``: one stage per body element) and ``tail_modules``
    (attribute names deleted by :meth:`truncate`).
    """

    max_stages: int | None = 4
    tail_modules: tuple[str, ...] = ()

    def _count_stages(self) -> int:
        n = len(self.net.body)
        self.bounds = split_evenly(n, n if self.max_stages is None else self.max_stages)
        return len(self.bounds)

    def stage(self, i: int, feat: Tensor, state: dict) -> Tensor:
        a, b = self.bounds[i]
        for j in range(a, b):
            feat = self.net.body[j](feat)
        return feat

    def _drop_after(self, k: int) -> None:
        self.net.body = self.net.body[: self.bounds[k - 1][1]]
        for name in self.tail_modules:
            if hasattr(self.net, name):
                delattr(self.net, name)
