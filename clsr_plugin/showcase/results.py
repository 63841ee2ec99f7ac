"""``results.md``: the demo's tables and what they mean, written once; a re-run keeps it (and
says whether its quality table is the same) unless asked to overwrite."""

from __future__ import annotations

import os.path as osp

from clsr_plugin.showcase.photos import VAL_IMAGES
from clsr_plugin.showcase.tables import format_cost, format_paired, format_table
from clsr_plugin.showcase.verdict import curve_line, verdict

RESULTS, QUALITY = "results.md", "quality_table.md"


def results_markdown(held: dict, big: dict, adapted: dict, roi: int, large_name: str) -> str:
    """The text of ``results.md`` from the held-out and the large-image ``clsr-bench`` reports
    and the ``clsr-adapt`` report."""
    table, paired = format_table(held), format_paired(held)
    cost = format_cost(big, large_name)
    said = verdict(held, bool(adapted.get("kept_untrained"))) + curve_line(adapted)
    return (
        f"## Held-out photos ({', '.join(VAL_IMAGES)}; x4, ROI {roi}, RGB)\n\n{table}\n\n"
        f"{paired}\n\n{said}\n\n## Cost on one large image ({large_name})\n\n"
        f"{cost}\n"
    )


def keep_results(out: str, stable: str, overwrite: bool) -> bool:
    """Whether an earlier ``results.md`` in ``out`` stays (not ``overwrite``); if so, print
    whether its quality table equals ``stable`` (the table without times)."""
    if not osp.isfile(osp.join(out, RESULTS)) or overwrite:
        return False
    with open(osp.join(out, QUALITY)) as f:
        same = f.read() == stable + "\n"
    said = "the same quality table" if same else "the new quality table differs"
    print(f"[demo] results.md kept ({said}; --overwrite replaces it)")
    return True


def write_results(out: str, text: str, stable: str) -> None:
    """Write ``quality_table.md`` (``stable``), then ``results.md`` (``text``), atomically."""
    from clsr_plugin.utils.atomic import write_text

    write_text(osp.join(out, QUALITY), stable + "\n")
    write_text(osp.join(out, RESULTS), text)
