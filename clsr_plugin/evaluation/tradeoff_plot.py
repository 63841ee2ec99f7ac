"""PSNR-vs-GFLOPs plot of a ``clsr-bench`` report (the paper's Table 1 as a picture)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from clsr_plugin.utils.atomic import atomic_path

MARKERS = {"pre_nopad": "v", "pre_pad": "s", "post": "D", "clsr": "*"}


def tradeoff_figure(report: dict, label: Callable[[str], str] = str) -> Any:
    """matplotlib Figure (Agg): per ROI PSNR (mean over ROIs) against GFLOPs per ROI, log x
    axis; one marker per method, one colour per (dataset, ROI size) of ``report["results"]``.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    ax = fig.add_subplot()
    colours = [f"C{i}" for i in range(10)]
    for i, res in enumerate(report["results"]):
        colour = colours[i % len(colours)]
        pts = [
            (m, r["gflops_per_roi"], r["psnr_roi_mean"])
            for m, r in res["methods"].items()
            if r.get("gflops_per_roi") and r.get("psnr_roi_mean") is not None
        ]
        for m, x, y in pts:
            ax.scatter(x, y, s=110 if m == "clsr" else 55, marker=MARKERS.get(m, "o"), c=colour,
                       label=f"{res['dataset']}, ROI {res['roi']}" if m == pts[0][0] else None,
                       zorder=3)  # fmt: skip
            ax.annotate(label(m), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.25, y=0.12)
    ax.set_xlabel("GFLOPs per ROI (log scale)")
    ax.set_ylabel("PSNR per ROI (dB, RGB)")
    c = report.get("config", {})
    ax.set_title(f"LocalSR trade-off (x{c.get('scale', '?')}, roi_pad {c.get('roi_pad', '?')})")
    ax.grid(True, which="both", alpha=0.3)
    if ax.collections:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def write_tradeoff_plot(report: dict, path: str, label: Callable[[str], str] = str) -> bool:
    """Write :func:`tradeoff_figure` as a PNG (atomically; the format of ``path``'s extension,
    as ``savefig`` picks it); without matplotlib print one warning line to stderr and return
    False."""
    try:
        fig = tradeoff_figure(report, label)
    except ImportError:
        print("clsr-bench: warning: matplotlib is not installed; no plot written", file=sys.stderr)
        return False
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1][1:]
    if not fmt:  # as savefig does: the default format, appended to the name
        fmt = fig.canvas.get_default_filetype()
        path = f"{path.rstrip('.')}.{fmt}"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt.lower())
    return True
