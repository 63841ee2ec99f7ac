"""Seed spread: each row of the adapter table over several seeds, with paired CIs over images.

From the ``rois_<dataset>.json`` files of clsr-test (``val.per_roi``) of run ids such as
``r1``, ``r1s1``, ``r1s2`` (:func:`driver.parse_run`): per run, the PSNR of the pooled MSE per
image of its CLSR minus the reference (post-cropping of the frozen backbone, from the run that
carries the baselines), with the bootstrap 95% CI over images
(:mod:`clsr_plugin.evaluation.paired`); per row, the mean and spread (sample standard
deviation) of those means over seeds, and the CI over images of the seed-averaged difference;
and, per seed, one row minus another (e.g. R1 - R2: context minus its no-context control).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping

from clsr_plugin.evaluation.methods import CLSR_METHOD, POST
from clsr_plugin.evaluation.paired import PairedDifference, paired_difference
from clsr_plugin.evaluation.roi_metrics import psnr_from_mse


def pooled_psnr(rois: Mapping, method: str) -> dict[str, float]:
    """Image -> PSNR of the mean MSE of ``method`` over the image's ROIs."""
    return {
        im["image"]: psnr_from_mse(sum(im["mse"][method]) / len(im["mse"][method]))
        for im in rois["images"]
    }


def _paired(a: Mapping[str, float], b: Mapping[str, float]) -> PairedDifference:
    if set(a) != set(b):
        raise ValueError(f"the runs cover other images ({sorted(set(a) ^ set(b))[:4]})")
    names = sorted(a)
    return paired_difference([a[n] for n in names], [b[n] for n in names])


def seed_table(
    files: Mapping[str, Mapping],
    parse,
    reference: tuple[str, str] = ("r1", POST),
    contrasts: tuple[tuple[str, str], ...] = (("r1", "r2"),),
) -> dict:
    """The seed table of one dataset.

    Args:
        files: run id -> its ``rois_<dataset>.json`` content (the same images and ROIs).
        parse: run id -> ``(row, seed)``.
        reference: ``(run id, method)`` every CLSR is compared with.
        contrasts: ``(row a, row b)`` compared seed by seed (only seeds both have).

    Returns:
        ``{"reference", "runs": {run: {"row", "seed", "psnr_img_mean", "minus_ref"}},
        "rows": {row: {"seeds", "mean", "spread", "seed_averaged"}},
        "contrasts": {"a - b": {"seeds", "per_seed": {seed: ...}, "seed_averaged"}}}``, each
        difference a :meth:`PairedDifference.as_dict`.
    """
    ref = pooled_psnr(files[reference[0]], reference[1])
    clsr = {run: pooled_psnr(f, CLSR_METHOD) for run, f in files.items() if CLSR_METHOD in
            f["images"][0]["mse"]}  # fmt: skip
    runs, by_row = {}, {}
    for run, values in sorted(clsr.items()):
        row, seed = parse(run)
        d = _paired(values, ref)
        runs[run] = dict(row=row, seed=seed, psnr_img_mean=statistics.fmean(values.values()),
                         minus_ref=d.as_dict())  # fmt: skip
        by_row.setdefault(row, {})[seed] = values
    rows = {}
    for row, seeds in sorted(by_row.items()):
        means = [runs[r]["minus_ref"]["mean"] for r in runs if runs[r]["row"] == row]
        avg = {n: statistics.fmean(v[n] for v in seeds.values()) for n in ref}
        rows[row] = dict(seeds=sorted(seeds), mean=statistics.fmean(means),
                         spread=statistics.stdev(means) if len(means) > 1 else None,
                         seed_averaged=_paired(avg, ref).as_dict())  # fmt: skip
    out_contrasts = {}
    for a, b in contrasts:
        common = sorted(set(by_row.get(a, {})) & set(by_row.get(b, {})))
        if not common:
            continue
        per_seed = {s: _paired(by_row[a][s], by_row[b][s]).as_dict() for s in common}
        avg_a = {n: statistics.fmean(by_row[a][s][n] for s in common) for n in ref}
        avg_b = {n: statistics.fmean(by_row[b][s][n] for s in common) for n in ref}
        averaged = _paired(avg_a, avg_b).as_dict()
        out_contrasts[f"{a} - {b}"] = dict(seeds=common, per_seed=per_seed,
                                           seed_averaged=averaged)  # fmt: skip
    return dict(reference=f"{reference[0]}:{reference[1]}", runs=runs, rows=rows,
                contrasts=out_contrasts)  # fmt: skip


def to_markdown(table: dict) -> str:
    """The seed table as Markdown: runs, rows over seeds, contrasts."""

    def fmt(d):
        return PairedDifference.from_dict(d).format(nd=4, sep="; ")

    ref = table["reference"]
    lines = [f"| run | seed | CLSR PSNR per image (mean) | minus {ref} per image [95% CI] |",
             "|---|---:|---:|---|"]  # fmt: skip
    for run, r in table["runs"].items():
        lines.append(f"| {run} | {r['seed']} | {r['psnr_img_mean']:.4f} | {fmt(r['minus_ref'])} |")
    lines += ["", f"| row | seeds | mean over seeds | spread (sd) | seed-averaged minus {ref} |",
              "|---|---|---:|---:|---|"]  # fmt: skip
    for row, r in table["rows"].items():
        spread = "-" if r["spread"] is None else f"{r['spread']:.4f}"
        lines.append(f"| {row} | {', '.join(map(str, r['seeds']))} | {r['mean']:+.4f} | "
                     f"{spread} | {fmt(r['seed_averaged'])} |")  # fmt: skip
    for name, c in table["contrasts"].items():
        lines += ["", f"{name}, seed by seed (paired over images):", ""]
        for seed, d in c["per_seed"].items():
            lines.append(f"- seed {seed}: {fmt(d)}")
        lines.append(f"- seed-averaged ({len(c['seeds'])} seeds): {fmt(c['seed_averaged'])}")
    return "\n".join(lines)
