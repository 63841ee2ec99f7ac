"""Build the Markdown tables of docs/RESULTS.md and their JSON from the driver's collected files.

Reads every ``metrics__*.json``, ``timing__*.json``, ``breakdown__*.json``, ``train__*.json`` and
``probe.json`` under the given folders (the ``collect/`` folders of the device calls, unpacked),
merges the parts of a benchmark that were evaluated in separate calls (Urban100_dev travels in
parts), and writes

* ``--json``: ``{"metrics": {run: {benchmark: {roi: {...}}}}, "timing": ..., "training": ...}``;
* ``--md``: the tables alone; with ``--fill FILE`` they also replace the text between
  ``<!-- tables:begin -->`` and ``<!-- tables:end -->`` in FILE.

Merging parts: ``psnr_roi`` / ``ssim_roi`` and the per-ROI costs are means over ROIs (weighted by
``n_rois``), ``psnr_img`` / ``ssim_img`` means over images (weighted by ``n_images``); counts add.

    python scripts/experiment_real/make_results.py results/call1 results/call2 ... \\
        --json docs/results_experiment_real.json --md /tmp/tables.md --fill docs/RESULTS.md
"""

from __future__ import annotations

import argparse
import glob
import json
import os.path as osp
import sys

from exp_options import RUNS

BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"
METHOD_LABELS = {
    "pre_nopad": "pre-cropping, no padding",
    "pre_pad": "pre-cropping, padded (roi_pad)",
    "post": "post-cropping",
    "clsr": "CLSR",
    "clsr_amortized": "CLSR, all ROIs of the image together",
}
ROI_MEANS = ("psnr_roi", "ssim_roi", "gmacs", "gflops")
IMG_MEANS = ("psnr_img", "ssim_img")


def _load(folders: list[str], pattern: str) -> list[dict]:
    files = []
    for folder in folders:
        if not osp.isdir(folder):
            raise SystemExit(f"error: not a folder: {folder}")
        files += glob.glob(osp.join(folder, "**", pattern), recursive=True)
    out = []
    for path in sorted(files):
        with open(path) as f:
            out.append(json.load(f))
    return out


def merge_parts(records: list[dict]) -> dict:
    """Metrics of one (run, benchmark, ROI size) from its parts.

    Args:
        records: the driver's metrics records (``part``, ``n_images``, ``metrics``), one per part.

    Returns:
        ``{method/metric: value}`` plus ``n_images`` and ``parts``.
    """
    parts = {}
    for rec in records:
        parts[rec["part"]] = rec  # a part evaluated twice: the later file wins
    recs = list(parts.values())
    methods = sorted({k.split("/")[0] for r in recs for k in r["metrics"] if "/" in k})
    merged: dict = {"n_images": sum(r["n_images"] for r in recs), "parts": sorted(parts)}
    for m in methods:
        have = [r["metrics"] for r in recs if f"{m}/n_rois" in r["metrics"]]
        n_rois = [x[f"{m}/n_rois"] for x in have]
        n_img = [r["n_images"] for r in recs if f"{m}/n_rois" in r["metrics"]]
        if have:
            merged[f"{m}/n_rois"] = sum(n_rois)
            merged[f"{m}/n_inf_psnr"] = sum(x.get(f"{m}/n_inf_psnr", 0) for x in have)
        for key, weights in [(k, n_rois) for k in ROI_MEANS] + [(k, n_img) for k in IMG_MEANS]:
            vals = [x.get(f"{m}/{key}") for x in have]
            if have and all(v is not None for v in vals) and sum(weights):
                merged[f"{m}/{key}"] = sum(v * w for v, w in zip(vals, weights)) / sum(weights)
        if not have:  # cost-only methods (clsr_amortized): weighted by the ROIs of the image set
            ref = [r for r in recs if f"{m}/gmacs" in r["metrics"]]
            w = [r["metrics"].get("clsr/n_rois", 1) for r in ref]
            for key in ("gmacs", "gflops"):
                vals = [r["metrics"][f"{m}/{key}"] for r in ref]
                merged[f"{m}/{key}"] = sum(v * x for v, x in zip(vals, w)) / sum(w)
    return merged


def merge_breakdown(parts: list[dict]) -> dict:
    """Per-bin means of ROI-position breakdowns over data parts (weighted by ROI counts)."""
    out: dict = {}
    for datasets in parts:
        for name, bins in datasets.items():
            for label, res in bins.items():
                acc = out.setdefault(name, {}).setdefault(label, {"n": 0})
                n0, n1 = acc["n"], res["n"]
                for key, value in res.items():
                    if key != "n":
                        acc[key] = (acc.get(key, 0.0) * n0 + value * n1) / (n0 + n1)
                acc["n"] = n0 + n1
    return out


def collect(folders: list[str]) -> dict:
    """Everything the tables need, keyed by run, benchmark and ROI size."""
    groups: dict = {}
    for rec in _load(folders, "metrics__*.json"):
        groups.setdefault((rec["run"], rec["benchmark"], rec["roi"]), []).append(rec)
    metrics: dict = {}
    for (run, bench, roi), recs in sorted(groups.items()):
        merged = merge_parts(recs)
        merged["device"] = recs[0].get("device")
        metrics.setdefault(run, {}).setdefault(bench, {})[str(roi)] = merged
    timing = {}
    unique = {(r["run"], r.get("part")): r for r in _load(folders, "timing__*.json")}
    for rec in unique.values():  # a part returned by two calls counts once
        run = rec.get("run", "?")
        entry = timing.setdefault(run, {"device": rec["device"], "datasets": {}})
        for name, res in rec["datasets"].items():  # parts of one dataset: image-weighted mean
            old = entry["datasets"].get(name)
            if old is None:
                entry["datasets"][name] = res
                continue
            n0, n1 = old["images"], res["images"]
            methods = {
                m: (old["methods"][m] * n0 + v * n1) / (n0 + n1)
                for m, v in res["methods"].items()
                if m in old["methods"]
            }
            entry["datasets"][name] = {"images": n0 + n1, "methods": methods}
    training = {rec["run"]: rec for rec in _load(folders, "train__*.json")}
    parts: dict = {}
    for rec in _load(folders, "breakdown__*.json"):
        parts.setdefault((rec["run"], rec["ref"]), {})[rec["part"]] = rec["datasets"]
    breakdowns = {
        f"{run} vs {ref}": merge_breakdown(list(by_part.values()))
        for (run, ref), by_part in parts.items()
    }
    probes = _load(folders, "probe.json")
    return {
        "metrics": metrics,
        "timing": timing,
        "training": training,
        "breakdown": breakdowns,
        "probe": probes[-1] if probes else None,
    }


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _benches_rois(metrics: dict) -> tuple[list[str], list[str]]:
    benches = sorted({b for run in metrics.values() for b in run}, key=_bench_order)
    rois = sorted({r for run in metrics.values() for b in run.values() for r in b}, key=int)
    return benches, rois


def _bench_order(name: str) -> tuple:
    order = ("Set5", "Set14", "Urban100_dev")
    return (order.index(name) if name in order else len(order), name)


def _rows_for(run: str) -> list[str]:
    return ["pre_nopad", "pre_pad", "post"] if RUNS[run].kind != "clsr" else ["clsr"]


def quality_tables(metrics: dict) -> list[str]:
    """One table per ROI size: rows = run x method, columns = benchmark x (PSNR a, PSNR b, SSIM)."""
    benches, rois = _benches_rois(metrics)
    all_parts = {
        b: sorted(
            {p for run in metrics.values() for r in run.get(b, {}).values() for p in r["parts"]}
        )
        for b in benches
    }
    lines = []
    for roi in rois:
        lines += [
            f"### ROI {roi}x{roi} (LR px), x4: PSNR (a) per ROI / PSNR (b) per image / SSIM (a)",
            "",
        ]
        head = "| run | method | " + " | ".join(benches) + " |"
        lines += [head, "|---|---|" + "---:|" * len(benches)]
        for run in [r for r in RUNS if r in metrics]:
            for m in _rows_for(run):
                cells = []
                for b in benches:
                    res = metrics[run].get(b, {}).get(roi, {})
                    if f"{m}/psnr_roi" not in res:
                        cells.append("-")
                        continue
                    partial = res["parts"] != all_parts[b]
                    cells.append(
                        f"{res[f'{m}/psnr_roi']:.3f} / {res[f'{m}/psnr_img']:.3f} / "
                        f"{res[f'{m}/ssim_roi']:.4f}"
                        + (f" (only {', '.join(res['parts'])})" if partial else "")
                    )
                lines.append(f"| {run} | {METHOD_LABELS[m]} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def delta_tables(metrics: dict) -> list[str]:
    """CLSR runs minus the fine-tuned backbone's post- and pre-cropping (same backbone)."""
    benches, rois = _benches_rois(metrics)
    lines = [
        "### CLSR minus the SRModel-fine-tuned backbone "
        "(dB; PSNR (a) per ROI / PSNR (b) per image)",
        "",
        "| run | vs | ROI | " + " | ".join(benches) + " |",
        "|---|---|---:|" + "---:|" * len(benches),
    ]
    for run in [r for r in RUNS if r in metrics and RUNS[r].kind == "clsr"]:
        ref = f"srmodel_{RUNS[run].backbone}"
        if ref not in metrics:
            continue
        for base in ("post", "pre_nopad", "pre_pad"):
            for roi in rois:
                cells = []
                for b in benches:
                    mine = metrics[run].get(b, {}).get(roi, {})
                    other = metrics[ref].get(b, {}).get(roi, {})
                    if "clsr/psnr_roi" not in mine or f"{base}/psnr_roi" not in other:
                        cells.append("-")
                        continue
                    if mine["parts"] != other["parts"]:  # not the same images
                        cells.append("n/a (parts differ)")
                        continue
                    da = mine["clsr/psnr_roi"] - other[f"{base}/psnr_roi"]
                    db = mine["clsr/psnr_img"] - other[f"{base}/psnr_img"]
                    cells.append(f"{da:+.3f} / {db:+.3f}")
                lines.append(f"| {run} | {base} | {roi} | " + " | ".join(cells) + " |")
    return lines + [""]


def base_branch_table(metrics: dict) -> list[str]:
    """Each CLSR run's own base branch as pre/post-cropping (what fine-tuning did to it)."""
    benches, rois = _benches_rois(metrics)
    lines = [
        "### Base branch of each CLSR run alone (PSNR (a) per ROI: pre padded / post)",
        "",
        "| run | ROI | " + " | ".join(benches) + " |",
        "|---|---:|" + "---:|" * len(benches),
    ]
    for run in [r for r in RUNS if r in metrics and RUNS[r].kind == "clsr"]:
        for roi in rois:
            cells = []
            for b in benches:
                res = metrics[run].get(b, {}).get(roi, {})
                cells.append(
                    f"{_fmt(res.get('pre_pad/psnr_roi'), '.3f')} / "
                    f"{_fmt(res.get('post/psnr_roi'), '.3f')}"
                )
            lines.append(f"| {run} | {roi} | " + " | ".join(cells) + " |")
    return lines + [""]


def cost_table(metrics: dict) -> list[str]:
    """GFLOPs (2 x MACs) per ROI of each method, per benchmark and ROI size."""
    benches, rois = _benches_rois(metrics)
    lines = [
        "### GFLOPs per ROI (2 x multiply-accumulates, mmengine; GMACs = half)",
        "",
        "| run | method | ROI | " + " | ".join(benches) + " |",
        "|---|---|---:|" + "---:|" * len(benches),
    ]
    for run in [r for r in RUNS if r in metrics]:
        methods = (
            ["pre_nopad", "pre_pad", "post"]
            if RUNS[run].kind != "clsr"
            else ["clsr", "clsr_amortized"]
        )
        for m in methods:
            for roi in rois:
                cells = [
                    _fmt(metrics[run].get(b, {}).get(roi, {}).get(f"{m}/gflops"), ".3f")
                    for b in benches
                ]
                if all(c == "-" for c in cells):
                    continue
                lines.append(f"| {run} | {METHOD_LABELS[m]} | {roi} | " + " | ".join(cells) + " |")
    return lines + [""]


def exact_roi_table(metrics: dict) -> list[str]:
    """ROIs counted and ROIs restored exactly (PSNR capped) per run and benchmark."""
    lines = [
        "### ROIs and exactly restored ROIs (per-ROI PSNR capped at 100 dB)",
        "",
        "| run | benchmark | ROI | images | ROIs | exact ROIs per method |",
        "|---|---|---:|---:|---:|---|",
    ]
    for run in [r for r in RUNS if r in metrics]:
        for bench in sorted(metrics[run], key=_bench_order):
            for roi, res in sorted(metrics[run][bench].items(), key=lambda kv: int(kv[0])):
                methods = [k.split("/")[0] for k in res if k.endswith("/n_inf_psnr")]
                exact = ", ".join(f"{m} {int(res[f'{m}/n_inf_psnr'])}" for m in methods)
                n = int(res[f"{methods[0]}/n_rois"]) if methods else "-"
                lines.append(f"| {run} | {bench} | {roi} | {res['n_images']} | {n} | {exact} |")
    return lines + [""]


def timing_table(timing: dict) -> list[str]:
    """Milliseconds per ROI (median per image, mean over the timed images)."""
    if not timing:
        return []
    lines = [
        "### Latency per ROI "
        "(ms; eager PyTorch, fp32; median of repeats per image, mean over images)",
        "",
        "| run | dataset | images | device | " + " | ".join(METHOD_LABELS) + " |",
        "|---|---|---:|---|" + "---:|" * len(METHOD_LABELS),
    ]
    for run, rec in timing.items():
        for name, res in rec["datasets"].items():
            cells = [_fmt(res["methods"].get(m), ".2f") for m in METHOD_LABELS]
            lines.append(
                f"| {run} | {name} | {res['images']} | {rec['device']} | "
                + " | ".join(cells)
                + " |"
            )
    return lines + [""]


def breakdown_table(breakdowns: dict) -> list[str]:
    """Mean per-ROI PSNR by distance of the ROI to the image border (LR px)."""
    if not breakdowns:
        return []
    lines = [
        "### By ROI position: mean per-ROI PSNR (a) by distance to the image border (LR px)",
        "",
        "| CLSR run vs backbone | dataset | distance | ROIs | CLSR | post | pre, no pad | "
        "CLSR - post |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for pair, datasets in breakdowns.items():
        for name, bins in datasets.items():
            for label, r in bins.items():
                lines.append(
                    f"| {pair} | {name} | {label} | {r['n']} | {r['clsr']:.3f} | "
                    f"{r['ref_post']:.3f} | {r['ref_pre_nopad']:.3f} | "
                    f"{r['clsr'] - r['ref_post']:+.3f} |"
                )
    return lines + [""]


def training_table(training: dict, probe: dict | None) -> list[str]:
    """Iterations, batch and wall time of each training run."""
    if not training:
        return []
    lines = [
        "### Training runs",
        "",
        "| run | iterations | batch | seconds |",
        "|---|---:|---:|---:|",
    ]
    for run in [r for r in RUNS if r in training]:
        rec = training[run]
        lines.append(f"| {run} | {rec['iters']} | {rec['batch']} | {rec['seconds']:.0f} |")
    if probe:
        lines += [
            "",
            f"Iterations chosen by the probe: {probe['run']} at "
            f"{probe['seconds_per_iter'] * 1000:.1f} ms/iteration for a {probe['budget_s']:.0f} s "
            f"budget per run -> {probe['iters']}.",
        ]
    return lines + [""]


def build_markdown(data: dict) -> str:
    """All tables as one Markdown fragment."""
    metrics = data["metrics"]
    lines = ["## Tables (generated by scripts/experiment_real/make_results.py)", ""]
    lines += training_table(data["training"], data.get("probe"))
    if metrics:
        lines += quality_tables(metrics) + delta_tables(metrics) + base_branch_table(metrics)
        lines += cost_table(metrics) + exact_roi_table(metrics)
    lines += breakdown_table(data.get("breakdown", {}))
    lines += timing_table(data["timing"])
    return "\n".join(lines).rstrip() + "\n"


def fill(path: str, tables: str) -> None:
    """Replace the text between the table markers of ``path`` with ``tables``."""
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"error: {path} has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{tables}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", help="folders holding the collected JSON files")
    p.add_argument("--json", required=True, help="output JSON")
    p.add_argument("--md", required=True, help="output Markdown (tables only)")
    p.add_argument("--fill", default=None, help="also put the tables into this Markdown file")
    args = p.parse_args(argv)
    data = collect(args.folders)
    if not data["metrics"] and not data["timing"]:
        raise SystemExit(f"error: no metrics__*.json or timing__*.json under {args.folders}")
    with open(args.json, "w") as f:
        json.dump(data, f, indent=1)
    tables = build_markdown(data)
    with open(args.md, "w") as f:
        f.write(tables)
    if args.fill:
        fill(args.fill, tables)
    print(tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
