"""The Markdown tables of the demo's ``clsr-bench`` reports: the held-out quality table, its
paired differences, and the large image's cost table."""

from __future__ import annotations

from clsr_plugin.evaluation.methods import METHODS, POST

#: quality-table rows: every registered method, in the registry's order
TABLE_METHODS = tuple(METHODS)


def label(method: str, report: dict) -> str:
    """The row label of ``method`` in ``report`` (an untrained CLSR: padded pre-cropping)."""
    from clsr_plugin.evaluation.report import method_label

    return method_label(method, report)


def format_table(report: dict, times: bool = True) -> str:
    """The held-out table (Markdown) of a ``clsr-bench`` report; ``times`` adds ms per ROI (the
    only column that changes from run to run)."""
    res = report["results"][0]
    head = "| method | PSNR per ROI | SSIM per ROI | PSNR per image | GFLOPs per ROI |"
    rows = [head + (" ms per ROI |" if times else ""), "|---|---:|---:|---:|---:|"
            + ("---:|" if times else "")]  # fmt: skip
    for m in TABLE_METHODS:
        r = res["methods"][m]
        cells = [label(m, report), f"{r['psnr_roi_mean']:.3f}", f"{r['ssim_roi_mean']:.4f}",
                 f"{r['psnr_image_pooled']:.3f}", f"{r['gflops_per_roi']:.3f}"]  # fmt: skip
        if times:
            cells.append(f"{r['ms_single_roi']:.1f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def format_paired(report: dict) -> str:
    """The paired differences of the held-out table, one line each (per ROI and per image)."""
    from clsr_plugin.evaluation.paired import DEFAULT_PAIRS, PairedDifference, pair_key

    res = report["results"][0]
    lines = []
    for a, b in DEFAULT_PAIRS:
        pair = pair_key(a, b)
        cells = []
        for unit, items in (("ROI", "ROIs"), ("image", "images")):
            d = res["paired"][unit.lower()].get(pair)
            if d is not None:
                diff = PairedDifference.from_dict(d).format(items=items, sep=", ")
                cells.append(f"per {unit}: {diff}")
        if cells:
            lines.append(f"- {label(a, report)} minus {label(b, report)}: " + "; ".join(cells))
    return "\n".join(lines)


def format_cost(report: dict, image: str) -> str:
    """The large-image cost table (Markdown) of a ``clsr-bench`` report."""
    from clsr_plugin.evaluation.cost_panel import panel_rows

    rows = ["| ROIs | method | time | x faster than post | peak MB | PSNR vs post's output |",
            "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    prow = panel_rows(report, image)
    for r in prow:
        post = next(p for p in prow if p["n_rois"] == r["n_rois"] and p["method"] == POST)
        speed = post["ms"] / r["ms"] if r["ms"] and post["ms"] else None
        mem = "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
        psnr = "-" if r.get("psnr_vs_post") is None else f"{r['psnr_vs_post']:.2f} dB"
        rows.append(f"| {r['n_rois']} | {label(r['method'], report)} | {r['ms'] / 1e3:.3f} s | "
                    f"{'-' if speed is None else f'{speed:.1f}x'} | {mem} | {psnr} |")  # fmt: skip
    return "\n".join(rows)
