"""The benchmark report: ``bench.json``, ``bench.md`` and ``bench.png`` (the one place that
renders it); labels come from the method registry."""

from __future__ import annotations

import json
import os
from typing import Any

from clsr_plugin.archs.clsr_arch import UNTRAINED_WARNING
from clsr_plugin.evaluation.methods import METHODS
from clsr_plugin.evaluation.paired import split_pair

#: rows of methods that are not registry entries (ways of running one)
EXTRA_LABELS = {"clsr_infer": "CLSR, clsr-infer defaults (context window, PIM tiles)"}
#: the ``clsr`` row's label when the context branches are untrained (its output is pre_pad's)
UNTRAINED_LABEL = "Pre-cropping (model pad; untrained CLSR)"


def method_label(method: str, report: dict) -> str:
    """Row label of ``method``: an untrained CLSR is reported as padded pre-cropping."""
    if method == "clsr" and report["config"].get("context_untrained"):
        return UNTRAINED_LABEL
    return METHODS[method].label if method in METHODS else EXTRA_LABELS[method]


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _paired_cells(d: dict | None, nd: int = 3) -> list[str]:
    """``mean [low, high]`` and ``gain/lose of n`` of one ``paired_table`` entry ("-" if none)."""
    if d is None:
        return ["-", "-"]
    return [f"{d['mean']:+.{nd}f} [{d['low']:+.{nd}f}, {d['high']:+.{nd}f}]",
            f"{d['gain']}/{d['lose']} of {d['n']}"]  # fmt: skip


def paired_lines(res: dict, report: dict) -> list[str]:
    """The paired-difference table of one result (``res["paired"]``; none without it)."""
    paired = res.get("paired") or {}
    image, roi = paired.get("image", {}), paired.get("roi", {})
    pairs = list(dict.fromkeys([*image, *roi]))
    if not pairs:
        return []
    level = (image.get(pairs[0]) or roi[pairs[0]])["level"]
    lines = ["", f"Paired PSNR differences (dB; {level:.0%} percentile-bootstrap CI of the mean; "
             "per image: PSNR (b) of each image, per ROI: PSNR of each ROI; gain/lose: items "
             "where the first method is better/worse):", "",
             f"| pair | per image: mean [{level:.0%} CI] | gain/lose | "
             f"per ROI: mean [{level:.0%} CI] | gain/lose |", "|---|---|---|---|---|"]  # fmt: skip
    for pair in pairs:
        a, b = split_pair(pair)
        cells = [*_paired_cells(image.get(pair)), *_paired_cells(roi.get(pair))]
        lines.append(
            f"| {method_label(a, report)} - {method_label(b, report)} | {' | '.join(cells)} |"
        )
    return lines


def to_markdown(report: dict) -> str:
    """The benchmark report as Markdown tables."""
    c = report["config"]
    lines = [
        f"# CLSR benchmark (x{c['scale']}, roi_pad {c['roi_pad']}, {c['device']}, {c['dtype']})",
        "",
        f"options `{c['opt']}`, weights `{c['weights']}`; PSNR/SSIM on 8-bit RGB, no border "
        f"crop; (a) mean of per-ROI values (PSNR capped at 100 dB; 'exact' = ROIs with infinite "
        f"PSNR), (b) "
        f"PSNR of the MSE pooled per image, then mean. GFLOPs = 2 x mmengine MACs. Times: "
        f"median of {c['repeats']} after {c['warmup']} warm-up.",
    ]
    if c.get("context_untrained"):
        lines += ["", f"Note: {UNTRAINED_WARNING} (timings are still the CLSR's)."]
    for res in report["results"]:
        lines += [
            "",
            f"## {res['dataset']}, ROI {res['roi']}x{res['roi']} ({res['images']} images, "
            f"{res['rois']} ROIs; timings on {res['timing_images']} images)",
            "",
            "| method | PSNR (a) | SSIM (a) | PSNR (b) | exact | GFLOPs/ROI | GFLOPs/ROI amort. "
            "| ms/ROI (1 ROI) | ms/image | ms/ROI amort. | peak MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for m, r in res["methods"].items():
            lines.append(
                f"| {method_label(m, report)} | {_fmt(r['psnr_roi_mean'], 3)} | "
                f"{_fmt(r['ssim_roi_mean'], 4)} | "
                f"{_fmt(r['psnr_image_pooled'], 3)} | {r['capped_rois']} | "
                f"{_fmt(r['gflops_per_roi'])} | {_fmt(r['gflops_per_roi_amortised'])} | "
                f"{_fmt(r['ms_single_roi'])} | {_fmt(r['ms_per_image'])} | "
                f"{_fmt(r['ms_per_roi_amortised'])} | {_fmt(r['peak_mem_mb'], 1)} |"
            )
        lines += paired_lines(res, report)
        if "clsr_gflops_split" in res:
            s = res["clsr_gflops_split"]
            lines += ["", "CLSR GFLOPs split (mean per image): " + ", ".join(
                f"{k.replace('clsr_', '')} {v:.3f}" for k, v in s.items())]  # fmt: skip
        if "clsr_shared_windows" in res:
            sh = res["clsr_shared_windows"]
            lines += ["", f"CLSR as timed (shared base windows over all ROIs of the grid): PSNR "
                      f"(a) {_fmt(sh['psnr_roi_mean'], 3)}, (b) {_fmt(sh['psnr_image_pooled'], 3)}"
                      f" (ROI by ROI above)."]  # fmt: skip
        lines += ["", "Multi-ROI scaling (random ROIs in one image; CLSR "
                  f"{'with shared base windows' if c.get('share_windows') else 'ROI by ROI'}; "
                  "PSNR (b) of those ROIs):", "",
                  "| ROIs | method | ms total | ms/ROI | peak MB | GFLOPs/ROI amort. | PSNR (b) "
                  "| PSNR (b) ROI by ROI |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in res["multi_roi"]:
            lines.append(
                f"| {r['n_rois']} | {method_label(r['method'], report)} | {_fmt(r['ms_total'])} | "
                f"{_fmt(r['ms_per_roi'])} | {_fmt(r['peak_mem_mb'], 1)} | "
                f"{_fmt(r['gflops_per_roi_amortised'])} | {_fmt(r.get('psnr_image_pooled'), 4)} | "
                f"{_fmt(r.get('psnr_roi_by_roi'), 4)} |"
            )
        lines += ["", "Context window (each ROI its own window of K x ROI; base window clipped "
                  "by it):", "", "| K | context px | PSNR (a) | SSIM (a) | PSNR (b) | ms/ROI |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for r in res["context_window"]:
            k = "whole" if r["k"] is None else _fmt(float(r["k"]), 2)
            lines.append(
                f"| {k} | {r['context_pixels_mean']:.0f} | {_fmt(r['psnr_roi_mean'], 3)} | "
                f"{_fmt(r['ssim_roi_mean'], 4)} | {_fmt(r['psnr_image_pooled'], 3)} | "
                f"{_fmt(r['ms_per_roi'])} |"
            )
    if report.get("synthetic"):
        lines += [
            "",
            "## Large LR images (random pixels, or real photos used as the LR input)",
            "",
            "| image | LR size | ROIs | method | ms | x faster than post | peak MB | "
            "PSNR vs post's output | error |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        post = {(r["image"], r["n_rois"]): r["ms"] for r in report["synthetic"]
                if r["method"] == "post"}  # fmt: skip
        for r in report["synthetic"]:
            ref = post.get((r["image"], r["n_rois"]))
            speedup = ref / r["ms"] if ref and r["ms"] else None
            lines.append(
                f"| {r['image']} | {r['lr_size']} | {r['n_rois']} | "
                f"{method_label(r['method'], report)} | {_fmt(r['ms'])} | {_fmt(speedup, 1)} | "
                f"{_fmt(r['peak_mem_mb'], 1)} | {_fmt(r.get('psnr_vs_post'), 2)} | "
                f"{r['error'] or ''} |"
            )
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: str) -> str:
    """Write ``out/bench.json``, ``out/bench.md`` and ``out/bench.png``; returns the Markdown."""
    from clsr_plugin.evaluation.tradeoff_plot import write_tradeoff_plot
    from clsr_plugin.utils.atomic import write_text

    os.makedirs(out, exist_ok=True)
    write_text(os.path.join(out, "bench.json"), json.dumps(report, indent=1))
    md = to_markdown(report)
    write_text(os.path.join(out, "bench.md"), md)
    write_tradeoff_plot(report, os.path.join(out, "bench.png"), lambda m: method_label(m, report))
    return md
