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


def merge_tables(new: dict, old: dict) -> dict:
    """A seed table recomputed from some runs (``new``) plus what an earlier one (``old``) holds
    of other seeds: runs and per-seed contrasts are united (``new`` wins on a seed both have);
    each row's mean and spread are recomputed over every seed of the united runs; the
    seed-averaged CIs over images need every seed's per-image values, so they stay ``new``'s,
    or ``old``'s where it covers more seeds, with the seeds they cover (``averaged_seeds``)."""
    out = dict(new, runs={**old.get("runs", {}), **new["runs"]})
    rows = {}
    for name in sorted(set(new.get("rows", {})) | set(old.get("rows", {}))):
        a, b = new.get("rows", {}).get(name), old.get("rows", {}).get(name)
        best = a if b is None or (a is not None and len(a["seeds"]) >= len(b["seeds"])) else b
        means = {r["seed"]: r["minus_ref"]["mean"] for r in out["runs"].values()
                 if r["row"] == name}  # fmt: skip
        rows[name] = dict(best, seeds=sorted(means), mean=statistics.fmean(means.values()),
                          spread=statistics.stdev(means.values()) if len(means) > 1 else None,
                          averaged_seeds=best.get("averaged_seeds", best["seeds"]))  # fmt: skip
    contrasts = {}
    for name in sorted(set(new.get("contrasts", {})) | set(old.get("contrasts", {}))):
        a, b = new.get("contrasts", {}).get(name), old.get("contrasts", {}).get(name)
        best = a if b is None or (a is not None and len(a["seeds"]) >= len(b["seeds"])) else b
        per_seed = {str(k): v for k, v in ((b or {}).get("per_seed") or {}).items()}
        per_seed.update({str(k): v for k, v in ((a or {}).get("per_seed") or {}).items()})
        contrasts[name] = dict(best, per_seed=dict(sorted(per_seed.items())),
                               seeds=sorted(int(k) for k in per_seed),
                               averaged_seeds=best.get("averaged_seeds", best["seeds"]),
                               )  # fmt: skip
    return dict(out, rows=rows, contrasts=contrasts)


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
        avg = r.get("averaged_seeds", r["seeds"])
        note = "" if list(avg) == list(r["seeds"]) else f" (seeds {', '.join(map(str, avg))})"
        lines.append(f"| {row} | {', '.join(map(str, r['seeds']))} | {r['mean']:+.4f} | "
                     f"{spread} | {fmt(r['seed_averaged'])}{note} |")  # fmt: skip
    for name, c in table["contrasts"].items():
        lines += ["", f"{name}, seed by seed (paired over images):", ""]
        for seed, d in c["per_seed"].items():
            lines.append(f"- seed {seed}: {fmt(d)}")
        avg = c.get("averaged_seeds", c["seeds"])
        lines.append(f"- seed-averaged (seeds {', '.join(map(str, avg))}): "
                     f"{fmt(c['seed_averaged'])}")  # fmt: skip
    return "\n".join(lines)
