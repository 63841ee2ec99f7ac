"""The cost panel: time and peak memory of post-cropping, padded pre-cropping and CLSR on one
large image, for 1 and N ROIs (the ``synthetic`` rows of a ``clsr-bench`` report)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: methods shown, in order (post-cropping first: the reference)
PANEL_METHODS = ("post", "pre_pad", "clsr_infer")


def panel_rows(report: dict, image: str, methods: Sequence[str] = PANEL_METHODS) -> list[dict]:
    """The report's large-image rows of ``image`` for ``methods``, by ROI count then method."""
    rows = report.get("synthetic", [])
    rows = [r for r in rows if r["image"] == image and r["method"] in methods]
    return sorted(rows, key=lambda r: (r["n_rois"], methods.index(r["method"])))


def cost_figure(report: dict, image: str, label: Callable[[str], str] = str) -> Any:
    """matplotlib Figure (Agg): per ROI count, one bar per method of the wall-clock (log scale),
    annotated with the speed-up over post-cropping, the peak memory and the PSNR of the
    method's ROIs against post-cropping's own output.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the report has no rows for ``image``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    rows = panel_rows(report, image)
    if not rows:
        raise ValueError(f"the report has no large-image rows for {image!r}.")
    counts = sorted({r["n_rois"] for r in rows})
    fig = Figure(figsize=(7.2, 4.2), dpi=100)
    ax = fig.add_subplot()
    width = 0.8 / len(PANEL_METHODS)
    for j, m in enumerate(PANEL_METHODS):
        for i, n in enumerate(counts):
            r = next((r for r in rows if r["n_rois"] == n and r["method"] == m), None)
            if r is None or r["ms"] is None:
                continue
            post = next(p for p in rows if p["n_rois"] == n and p["method"] == "post")
            x = i + (j - (len(PANEL_METHODS) - 1) / 2) * width
            ax.bar(x, r["ms"], width * 0.9, color=f"C{j}", label=label(m) if i == 0 else None)
            notes = [f"{r['ms'] / 1e3:.2f} s" if r["ms"] >= 100 else f"{r['ms']:.0f} ms"]
            if m != "post" and post["ms"]:
                notes.append(f"{post['ms'] / r['ms']:.0f}x faster")
            if r.get("peak_mem_mb") is not None:
                notes.append(f"{r['peak_mem_mb']:.0f} MB")
            if m != "post" and r.get("psnr_vs_post") is not None:
                notes.append(f"{r['psnr_vs_post']:.1f} dB vs post")
            ax.annotate("\n".join(notes), (x, r["ms"]), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize=7)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xticks(range(len(counts)), [f"{n} ROI{'s' if n > 1 else ''}" for n in counts])
    ax.set_ylabel("wall-clock (ms, log scale)")
    ax.set_title(f"{image} ({rows[0]['lr_size']} LR): cost of the ROIs", fontsize=10)
    ax.margins(y=0.35)
    top = max(r["ms"] for r in rows if r["ms"])
    ax.set_ylim(top=top * 3000)  # room above the tallest bar's notes for the legend (log axis)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def write_cost_panel(
    report: dict, image: str, path: str, label: Callable[[str], str] = str
) -> bool:
    """Write :func:`cost_figure` as a PNG (atomically); without matplotlib print one warning
    line to stderr and return False."""
    import sys

    from clsr_plugin.utils.atomic import atomic_path

    try:
        fig = cost_figure(report, image, label)
    except ImportError:
        print("warning: matplotlib is not installed; cost panel not written", file=sys.stderr)
        return False
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return True
