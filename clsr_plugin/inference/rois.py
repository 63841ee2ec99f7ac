"""ROI input for inference: parsing (CLI strings, JSON), validation and context windows.

Boxes are ``(x, y, w, h)`` in LR pixels (``clsr_plugin.archs.roi``'s convention); validation and
the clamp-by-shifting window maths are that module's (:func:`check_box`,
:func:`padded_window`), reused here, not re-implemented.

Context window: a huge image does not need to be context in full. The paper's Fig. 9 shows the
gain of context saturating near 6x the ROI size; :func:`context_windows` gives each ROI a window
of ``k`` times its longer side (the ROI grown by ``(k - 1) / 2`` of that side on every side,
shifted inside the image), then merges windows whose bounding box is no larger than the
windows themselves, so ROIs close together share one context (and one ``encode_context``).
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections.abc import Sequence

from clsr_plugin.archs.roi import check_box, padded_window

Box = tuple[int, int, int, int]


def parse_roi(text: str) -> Box:
    """Parse ``"x,y,w,h"`` (integers, LR pixels).

    Raises:
        ValueError: not four integers, or a zero/negative size (naming the text).
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 4:
            raise ValueError
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"ROI must be 'x,y,w,h' (four integers), got {text!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"ROI {text!r} has zero or negative size (w={w}, h={h})")
    return x, y, w, h


def _box_from_json(item: object, where: str) -> Box:
    if isinstance(item, dict):
        try:
            item = [item["x"], item["y"], item["w"], item["h"]]
        except KeyError:
            raise ValueError(f"{where}: ROI object needs keys x, y, w, h, got {item!r}") from None
    if not isinstance(item, (list, tuple)) or len(item) != 4:
        raise ValueError(f"{where}: ROI must be [x, y, w, h], got {item!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in item):
        raise ValueError(f"{where}: ROI must hold four integers, got {item!r}")
    x, y, w, h = item
    if w <= 0 or h <= 0:
        raise ValueError(f"{where}: ROI {list(item)} has zero or negative size")
    return x, y, w, h


def load_rois_json(path: str, image_path: str) -> list[Box]:
    """ROIs of one image from a JSON file or a folder of per-image JSON files.

    Accepted layouts:
      * folder: ``<folder>/<image stem>.json`` holding a list of ROIs;
      * file with a list of ROIs: the same ROIs for every image;
      * file with an object ``{image name or stem: [ROIs]}``.
    A ROI is ``[x, y, w, h]`` or ``{"x": .., "y": .., "w": .., "h": ..}``.

    Raises:
        ValueError: missing/unparsable file, no entry for the image, or a malformed ROI.
    """
    name = os.path.basename(image_path)
    stem = os.path.splitext(name)[0]
    if os.path.isdir(path):
        path = os.path.join(path, stem + ".json")
    if not os.path.isfile(path):
        raise ValueError(f"ROI JSON not found: {path!r}")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"Cannot parse ROI JSON {path!r}: {err}") from None
    if isinstance(data, dict):
        for key in (name, stem, image_path):
            if key in data:
                data = data[key]
                break
        else:
            raise ValueError(f"ROI JSON {path!r} has no entry for image {name!r}")
    if not isinstance(data, list) or not data:
        raise ValueError(f"ROI JSON {path!r}: expected a non-empty list of ROIs for {name!r}")
    return [_box_from_json(item, f"{path}[{i}]") for i, item in enumerate(data)]


def validate_rois(rois: Sequence[Sequence[int]], height: int, width: int) -> list[Box]:
    """Check every ROI lies inside a ``height x width`` image (``ValueError`` names the ROI)."""
    if len(rois) == 0:
        raise ValueError("No ROI given")
    return [check_box(r, height, width) for r in rois]


def check_context_window(k: float) -> float:
    """A context-window factor: finite and >= 1 (``ValueError`` says what is allowed)."""
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k < 1:
        raise ValueError(
            f"context window factor must be a finite number >= 1 (or 0 / None for the whole "
            f"image), got {k!r}"
        )
    return float(k)


def context_window_arg(text: str) -> float:
    """argparse ``type`` of ``--context-window(s)``: a finite number >= 1, or 0 (whole image)."""
    import argparse

    try:
        value = float(text)
        return 0.0 if value == 0 else check_context_window(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err} ({text!r})") from None


def window_pad(roi_hw: tuple[int, int], k: float) -> int:
    """LR pixels added on every side of a ROI for a context window of ``k`` x its longer side."""
    return math.ceil((check_context_window(k) - 1) / 2 * max(roi_hw))


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0


def _worth_merging(a: Box, b: Box) -> bool:
    """Merge two windows when their bounding box is no larger than the two together (so a
    chain of overlapping windows never grows into a huge box of unused pixels)."""
    u = _union(a, b)
    return u[2] * u[3] <= a[2] * a[3] + b[2] * b[3]


def _cells(box: Box, cell: int) -> tuple[int, int, int, int]:
    """The inclusive cell range ``(cx0, cy0, cx1, cy1)`` a closed rectangle touches."""
    return (box[0] // cell, box[1] // cell, (box[0] + box[2]) // cell, (box[1] + box[3]) // cell)


class _Planner:
    """Merges windows exactly as the plain rule "merge the first pair (a, b), a < b in list
    order, worth merging, into a; start again" does, in near-linear time.

    Two windows worth merging touch or overlap (a gap makes the bounding box larger than both
    together), so a uniform grid of cells finds every candidate pair. Invariant: no window
    before the current one, ``a``, has a partner after it. Merging ``b`` into ``a`` only grows
    ``a``, so afterwards the only possible partner of an earlier window is ``a``: the earliest
    such window takes ``a`` and becomes the current one; otherwise ``a`` takes its next
    partner, until it has none. The current window's candidates are collected once, and then
    only from the cells it grows into.
    """

    def __init__(self, groups: list[tuple[Box, list[int]]]):
        self.wins = [win for win, _ in groups]
        self.members = [list(idx) for _, idx in groups]
        self.alive = [True] * len(self.wins)
        sides = sorted(max(w, h) for _, _, w, h in self.wins)
        self.cell = max(1, sides[len(sides) // 2]) if sides else 1
        self.grid: dict[tuple[int, int], set[int]] = {}
        for gid, win in enumerate(self.wins):
            self._visit(gid, _cells(win, self.cell), None)

    def _visit(self, gid: int, rect: tuple, old: tuple | None) -> list[int]:
        """Register ``gid`` in the cells of ``rect`` outside ``old``; return the ids there."""
        found: list[int] = []
        for cx in range(rect[0], rect[2] + 1):
            for cy in range(rect[1], rect[3] + 1):
                if old is not None and old[0] <= cx <= old[2] and old[1] <= cy <= old[3]:
                    continue
                ids = self.grid.setdefault((cx, cy), set())
                found.extend(ids)
                ids.add(gid)
        return found

    def _merge(self, into: int, other: int) -> None:
        self.wins[into] = _union(self.wins[into], self.wins[other])
        self.members[into] += self.members[other]
        self.alive[other] = False

    def settle(self, a: int, grown: bool = False) -> int | None:
        """Merge partners into ``a`` until it has none; returns the earlier window that took
        ``a`` instead (to be settled next, with ``grown``), or ``None``.

        ``grown``: ``a`` has just taken a later window, so an earlier one may take ``a``.
        """
        wins, alive = self.wins, self.alive
        later: list[int] = []  # candidate ids after a (a heap: smallest first)
        earlier: set[int] = set()
        seen = {a}

        def collect(ids: list[int]) -> None:
            for g in ids:
                if g not in seen and alive[g]:
                    seen.add(g)
                    if g > a:
                        heapq.heappush(later, g)
                    else:
                        earlier.add(g)

        def taken_by_earlier() -> int | None:
            partners = [e for e in earlier if alive[e] and _worth_merging(wins[e], wins[a])]
            if not partners:
                return None
            e = min(partners)
            self._merge(e, a)
            self._visit(e, _cells(wins[e], self.cell), None)
            return e

        rect = _cells(wins[a], self.cell)
        collect(self._visit(a, rect, None))
        if grown:
            e = taken_by_earlier()
            if e is not None:
                return e
        rejected: list[int] = []
        pop = heapq.heappop
        while True:
            b = None
            ax0, ay0, aw, ah = wins[a]  # _worth_merging inlined: the hot loop
            ax1, ay1, area = ax0 + aw, ay0 + ah, aw * ah
            while later:
                c = pop(later)
                if not alive[c]:
                    continue
                cx0, cy0, cw, ch = wins[c]
                ux = max(ax1, cx0 + cw) - min(ax0, cx0)
                uy = max(ay1, cy0 + ch) - min(ay0, cy0)
                if ux * uy <= area + cw * ch:
                    b = c
                    break
                rejected.append(c)
            if b is None:
                return None
            self._merge(a, b)
            new_rect = _cells(wins[a], self.cell)
            collect(self._visit(a, new_rect, rect))
            rect = new_rect
            for c in rejected:  # a changed: what it refused may be worth merging now
                heapq.heappush(later, c)
            rejected = []
            e = taken_by_earlier()
            if e is not None:
                return e

    def run(self) -> list[tuple[Box, list[int]]]:
        """The merged ``(window, members)`` in list order."""
        a, grown = 0, False
        while a < len(self.wins):
            if not self.alive[a]:
                a += 1
                continue
            earlier = self.settle(a, grown)
            a, grown = (a + 1, False) if earlier is None else (earlier, True)
        return [(w, m) for w, m, ok in zip(self.wins, self.members, self.alive) if ok]


def context_windows(
    rois: Sequence[Box],
    height: int,
    width: int,
    k: float | None,
    min_pad: int = 0,
    merge: bool = True,
) -> list[tuple[Box, list[int]]]:
    """Group ROIs into context windows.

    Args:
        rois: validated boxes.
        height, width: image size.
        k: window size as a multiple of the ROI's longer side; ``None`` = the whole image.
        min_pad: at least this many pixels around each ROI (e.g. the model's ``roi_pad`` so
            the base window is unchanged by the context crop).
        merge: merge windows whose bounding box is no larger than the two windows together
            (one context for nearby ROIs); without it every ROI gets its own window (used to
            measure the window's quality cost).

    Returns:
        ``[(window (x, y, w, h), [indices of the ROIs it serves]), ...]``; each ROI is in
        exactly one. Merged windows never exceed the pixels of the windows they replace, so
        memory stays bounded by (number of ROIs) x (window size).
    """
    if k is None:
        return [((0, 0, width, height), list(range(len(rois))))]
    pads = [max(window_pad((box[3], box[2]), k), int(min_pad)) for box in rois]
    return _grouped(rois, pads, height, width, merge)


def shared_windows(
    rois: Sequence[Box], pad: int, height: int, width: int
) -> list[tuple[Box, list[int]]]:
    """Group ROIs whose base windows (each ROI plus ``pad``, shifted inside the image) are
    worth sharing: merged by :func:`context_windows`' rule (a bounding box no larger than the
    windows it replaces), so one base-branch pass over the shared window serves every ROI in
    it and never costs more pixels than the windows apart.

    Returns:
        ``[(window (x, y, w, h), [indices of its ROIs]), ...]``; each ROI is in exactly one.
    """
    return _grouped(rois, [pad] * len(rois), height, width, merge=True)


def _grouped(
    rois: Sequence[Box], pads: Sequence[int], height: int, width: int, merge: bool
) -> list[tuple[Box, list[int]]]:
    """Each ROI padded by its pad (shifted inside the image), merged by :class:`_Planner`."""
    groups = []
    for i, (box, pad) in enumerate(zip(rois, pads, strict=True)):
        groups.append((padded_window(box, pad, height, width), [i]))
    if merge:
        groups = _Planner(groups).run()
    return [(win, sorted(idx)) for win, idx in groups]
