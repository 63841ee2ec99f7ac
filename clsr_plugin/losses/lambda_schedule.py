"""The weight schedule lambda(iter) of the PIM context loss (paper Eq. 7: 0.5 decayed to 0)."""

from __future__ import annotations

import math

MODES = ("constant", "linear", "cosine", "step")


class LambdaSchedule:
    """A weight that moves from ``start`` to ``end`` between ``start_iter`` and ``end_iter``.

    ``t = clamp((iter - start_iter) / (end_iter - start_iter), 0, 1)`` and
    ``lambda = start + (end - start) * f(t)`` with ``f``:

    * ``constant``: 0 (``start`` throughout; ``end`` and the iterations are ignored);
    * ``linear``: ``t``;
    * ``cosine``: ``(1 - cos(pi t)) / 2`` (flat at both ends);
    * ``step``: ``floor(t * num_steps) / num_steps``: ``num_steps`` equal drops, the last one at
      ``end_iter`` (``num_steps: 1`` keeps ``start`` until ``end_iter``, then ``end``).

    A pure function of the iteration, so it resumes exactly with BasicSR's restored iteration.

    Args:
        start: value up to ``start_iter``.
        end: value from ``end_iter`` on.
        start_iter: iteration where the change begins.
        end_iter: iteration where it is complete (> ``start_iter`` unless ``constant``).
        mode: ``constant`` | ``linear`` | ``cosine`` | ``step``.
        num_steps: number of drops in ``step`` mode.
    """

    def __init__(
        self,
        start: float = 0.5,
        end: float = 0.0,
        start_iter: int = 0,
        end_iter: int = 0,
        mode: str = "constant",
        num_steps: int = 1,
    ):
        if mode not in MODES:
            raise ValueError(f"lambda schedule mode must be one of {MODES}, got {mode!r}.")
        for name, value in (("start", start), ("end", end)):
            if not math.isfinite(float(value)) or float(value) < 0:
                raise ValueError(
                    f"lambda schedule {name} must be a finite value >= 0, got {value!r}."
                )
        if int(start_iter) < 0:
            raise ValueError(f"lambda schedule start_iter must be >= 0, got {start_iter!r}.")
        if mode != "constant" and int(end_iter) <= int(start_iter):
            raise ValueError(
                f"lambda schedule end_iter ({end_iter!r}) must be greater than start_iter "
                f"({start_iter!r}) in {mode} mode."
            )
        if int(num_steps) < 1:
            raise ValueError(f"lambda schedule num_steps must be >= 1, got {num_steps!r}.")
        self.start, self.end = float(start), float(end)
        self.start_iter, self.end_iter = int(start_iter), int(end_iter)
        self.mode, self.num_steps = mode, int(num_steps)

    def __call__(self, current_iter: int) -> float:
        """lambda at ``current_iter``."""
        if self.mode == "constant":
            return self.start
        t = (current_iter - self.start_iter) / (self.end_iter - self.start_iter)
        t = min(max(t, 0.0), 1.0)
        if self.mode == "linear":
            f = t
        elif self.mode == "cosine":
            f = (1.0 - math.cos(math.pi * t)) / 2.0
        else:
            f = math.floor(t * self.num_steps) / self.num_steps
        return self.start + (self.end - self.start) * f

    def __repr__(self) -> str:
        return (
            f"LambdaSchedule(start={self.start}, end={self.end}, start_iter={self.start_iter}, "
            f"end_iter={self.end_iter}, mode={self.mode!r}, num_steps={self.num_steps})"
        )
