"""What ``clsr-infer`` writes into ``--out``: the file names, in order, and ``results.json``.

* ``<out>/<stem>/roi<i>_x<x>_y<y>_<w>x<h>.png``: one per ROI (``i``: two digits, input order);
* ``<out>/<stem>/sheet.png``: the comparison sheet, unless ``--no-sheet``;
* ``<out>/results.json``: always, last.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from clsr_plugin.inference.jobs import Job
from clsr_plugin.inference.rois import Box
from clsr_plugin.utils.atomic import write_text

RESULTS_JSON = "results.json"
SHEET_PNG = "sheet.png"


def roi_file_name(index: int, box: Box) -> str:
    """File name of one ROI's output inside ``<out>/<stem>/``."""
    x, y, w, h = box
    return f"roi{index:02d}_x{x}_y{y}_{w}x{h}.png"


def output_files(jobs: Sequence[Job], no_sheet: bool) -> list[str]:
    """Every file a run of ``jobs`` writes, relative to ``--out`` (``results.json`` last)."""
    files = []
    for job in jobs:
        files += [f"{job.stem}/{roi_file_name(i, b)}" for i, b in enumerate(job.rois)]
        if not no_sheet:
            files.append(f"{job.stem}/{SHEET_PNG}")
    return files + [RESULTS_JSON]


def write_results(folder: str, opt: str | None, weights: str, images: list[dict]) -> None:
    """Write ``<folder>/results.json`` (atomically): the options, weights and image entries."""
    doc = dict(opt=opt, weights=weights, images=images)
    write_text(os.path.join(folder, RESULTS_JSON), json.dumps(doc, indent=1))
