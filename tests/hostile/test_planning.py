"""Issue 11, item 6: context-window planning is near-linear and plans the same windows.

The reference below is the planner as it was (pairwise scan, merge the first pair worth
merging, start again: roughly cubic in the number of ROIs); the new one must agree with it
exactly. The 10,000-ROI timing is printed by ``scripts/bench_planning.py``, not asserted here.
"""

from __future__ import annotations

import random

import pytest

from clsr_plugin.archs.roi import padded_window
from clsr_plugin.inference.rois import _union, _worth_merging, context_windows, window_pad


def reference_context_windows(rois, height, width, k, min_pad=0, merge=True):
    """The planner before issue 11, verbatim in behaviour."""
    if k is None:
        return [((0, 0, width, height), list(range(len(rois))))]
    groups = []
    for i, box in enumerate(rois):
        pad = max(window_pad((box[3], box[2]), k), int(min_pad))
        groups.append((padded_window(box, pad, height, width), [i]))
    merged = merge
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if _worth_merging(groups[a][0], groups[b][0]):
                    groups[a] = (_union(groups[a][0], groups[b][0]), groups[a][1] + groups[b][1])
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    return [(win, sorted(idx)) for win, idx in groups]


def _random_case(rng: random.Random):
    height, width = rng.randint(8, 300), rng.randint(8, 300)
    n = rng.randint(1, 40)
    rois = []
    for _ in range(n):
        w, h = rng.randint(1, min(width, 40)), rng.randint(1, min(height, 40))
        rois.append((rng.randint(0, width - w), rng.randint(0, height - h), w, h))
    k = rng.choice([1, 1.5, 2, 3, 6, 8])
    return rois, height, width, k, rng.choice([0, 2, 8])


@pytest.mark.parametrize("seed", range(12))
def test_same_windows_as_the_reference_planner(seed):
    rng = random.Random(seed)
    for _ in range(40):
        rois, height, width, k, pad = _random_case(rng)
        new = context_windows(rois, height, width, k, pad)
        assert new == reference_context_windows(rois, height, width, k, pad), (rois, k, pad)


def test_clustered_rois_merge_like_the_reference():
    rng = random.Random(7)
    rois = [(rng.randint(100, 140), rng.randint(100, 140), 24, 24) for _ in range(60)]
    rois += [(rng.randint(0, 1000), rng.randint(0, 1000), 24, 24) for _ in range(60)]
    new = context_windows(rois, 1024, 1024, 6)
    assert new == reference_context_windows(rois, 1024, 1024, 6)
    assert len(new) < len(rois)  # the cluster did merge


def test_every_roi_in_exactly_one_window_inside_it():
    rng = random.Random(3)
    rois = [(rng.randint(0, 2000), rng.randint(0, 2000), 24, 24) for _ in range(2000)]
    groups = context_windows(rois, 2048, 2048, 6, 8)
    served = sorted(i for _, idx in groups for i in idx)
    assert served == list(range(len(rois)))
    for (x, y, w, h), idx in groups:
        for i in idx:
            rx, ry, rw, rh = rois[i]
            assert x <= rx and y <= ry and rx + rw <= x + w and ry + rh <= y + h
