"""Paired differences between two methods: the one home of every claimed difference.

Two methods evaluated on the same images (or ROIs) give paired values ``a[i]``, ``b[i]``; the
claim "a beats b" is about the per-item differences ``d[i] = a[i] - b[i]``. Reported: their
mean, a percentile-bootstrap confidence interval of that mean (``n_boot`` resamples of the
items with replacement, fixed ``seed``, so the interval is reproducible), and how many items
gain (``d > 0``), lose (``d < 0``) or tie. Used by ``clsr-test`` (``paired`` in
``metrics_<dataset>.json``), ``clsr-bench``, ``clsr-adapt``, the demo and the adapter driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: default confidence level and bootstrap resamples
LEVEL = 0.95
N_BOOT = 10000
#: pairs reported wherever a method table has them: (method, reference)
DEFAULT_PAIRS = (("clsr", "post"), ("clsr", "pre_pad"), ("pre_pad", "post"))


def pair_key(a: str, b: str) -> str:
    """The key of the difference ``a - b`` in :func:`paired_table` (and every JSON)."""
    return f"{a} - {b}"


def split_pair(key: str) -> tuple[str, str]:
    """``(a, b)`` of a :func:`pair_key`."""
    a, b = key.split(" - ")
    return a, b


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``a - b`` over ``n`` paired items, its bootstrap CI ``[low, high]`` at
    ``level``, and the number of items that gain / lose / tie."""

    mean: float
    low: float
    high: float
    n: int
    gain: int
    lose: int
    tie: int
    level: float = LEVEL

    def as_dict(self) -> dict:
        return asdict(self)

    def excludes_zero(self) -> bool:
        """True when the whole interval is on one side of 0."""
        return self.low > 0 or self.high < 0

    @classmethod
    def from_dict(cls, d: Mapping) -> PairedDifference:
        """The inverse of :meth:`as_dict` (e.g. a ``paired`` entry read back from JSON)."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def format(self, unit: str = "dB", items: str = "images", nd: int = 3, sep: str = "; ") -> str:
        """One line, e.g. ``+0.012 dB [95% CI +0.004, +0.020]; 14 of 20 images gain, 6 lose``
        (``nd`` decimals; ``sep`` between the interval and the counts)."""
        return (
            f"{self.mean:+.{nd}f} {unit} [{self.level:.0%} CI {self.low:+.{nd}f}, "
            f"{self.high:+.{nd}f}]{sep}{self.gain} of {self.n} {items} gain, {self.lose} lose"
        )


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    level: float = LEVEL,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> PairedDifference:
    """Paired difference ``a - b`` with a percentile-bootstrap CI of its mean.

    Args:
        a, b: values of the two methods on the same items, in the same order (e.g. PSNR per
            image), shape ``(n,)``.
        level: confidence level in (0, 1).
        n_boot: bootstrap resamples (>= 1).
        seed: seed of the resampling (the same inputs give the same interval).

    Raises:
        ValueError: one line, for lists of different lengths, no items, non-finite values or
            a bad ``level`` / ``n_boot``.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.size} and {b.size}.")
    if a.size == 0:
        raise ValueError("paired values: no items.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired values must be finite.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}.")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}.")
    d = a - b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(int(n_boot), d.size))
    means = d[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return PairedDifference(
        mean=float(d.mean()),
        low=float(low),
        high=float(high),
        n=int(d.size),
        gain=int((d > 0).sum()),
        lose=int((d < 0).sum()),
        tie=int((d == 0).sum()),
        level=float(level),
    )


def paired_table(
    values: Mapping[str, Sequence[float]],
    pairs: Sequence[tuple[str, str]] = DEFAULT_PAIRS,
    **kwargs,
) -> dict[str, dict]:
    """``{"<a> - <b>": PairedDifference.as_dict()}`` for each pair whose two methods are in
    ``values`` (method -> paired values); other pairs are left out."""
    return {
        pair_key(m, ref): paired_difference(values[m], values[ref], **kwargs).as_dict()
        for m, ref in pairs
        if m in values and ref in values and m != ref
    }
