"""Where a gain is made or lost: per-ROI results of clsr-test grouped by ROI position and image.

Reads the ``rois_<dataset>.json`` files that clsr-test writes with ``val.per_roi: true`` (per
image: size, ROI boxes, per-ROI MSE of each method). ROIs are grouped by their distance to the
nearest image border in LR pixels (``border`` = touching it, then 1-23, 24-47, 48+): near the
border the base window is shifted inside and the context is one-sided. For each group and each
image, the PSNR of the pooled MSE of a method is compared with post-cropping's. Per group,
the difference is also paired over images (the PSNR of each image's pooled MSE over the
group's ROIs, images without ROIs in the group left out) with a bootstrap CI
(:mod:`clsr_plugin.evaluation.paired`): whether a group's gain holds across images or comes
from a few.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from clsr_plugin.evaluation.methods import POST
from clsr_plugin.evaluation.paired import PairedDifference, paired_difference
from clsr_plugin.evaluation.roi_metrics import psnr_from_mse

#: distance-to-border bins in LR pixels: (label, low, high) with low <= d < high
BINS = (("border", 0, 1), ("1-23", 1, 24), ("24-47", 24, 48), ("48+", 48, 10**9))


def border_distance(box: list[int], height: int, width: int) -> int:
    """LR pixels between the box ``(x, y, w, h)`` and the nearest image border."""
    x, y, w, h = box
    return min(x, y, width - (x + w), height - (y + h))


def bin_of(distance: int) -> str:
    """The label of the bin holding ``distance``."""
    return next(label for label, lo, hi in BINS if lo <= distance < hi)


def load_rois(path: str) -> dict:
    """A ``rois_<dataset>.json`` file."""
    with open(path) as f:
        return json.load(f)


def breakdown(per_roi: Mapping[str, dict], reference: str = POST) -> dict:
    """Pooled-MSE PSNR per position bin and per image, minus the reference method's.

    Args:
        per_roi: label -> ``rois_<dataset>.json`` content; every file must cover the same images
            and ROIs. A method is named ``<label>:<method>`` (e.g. ``r1:clsr``).
        reference: ``<label>:<method>`` of the reference; default: the first file's ``post``.

    Returns:
        ``{"reference", "bins": {bin: {"n", method: dB minus reference}},
        "images": {image: {"n", method: ...}}}``; the reference's own PSNR is given in dB.
    """
    labels = list(per_roi)
    if ":" not in reference:
        reference = f"{labels[0]}:{reference}"
    first = per_roi[labels[0]]["images"]
    sums: dict[str, dict[str, dict[str, float]]] = {"bins": {}, "images": {}}
    counts: dict[str, dict[str, int]] = {"bins": {}, "images": {}}
    #: bin -> image -> method -> (sum of MSE, ROIs): the per-image values of the paired CI
    per_image: dict[str, dict[str, dict[str, list[float]]]] = {}
    for i, image in enumerate(first):
        h, w = image["lq_hw"]
        methods = {}
        for label in labels:
            other = per_roi[label]["images"][i]
            if other["image"] != image["image"] or other["rois"] != image["rois"]:
                raise ValueError(
                    f"{label}: image {i} differs ({other['image']} vs {image['image']})."
                )
            for meth, mses in other["mse"].items():
                methods[f"{label}:{meth}"] = mses
        if reference not in methods:
            raise ValueError(f"reference {reference!r} not among {sorted(methods)}")
        for j, box in enumerate(image["rois"]):
            for kind, key in (
                ("bins", bin_of(border_distance(box, h, w))),
                ("images", image["image"]),
            ):
                acc = sums[kind].setdefault(key, {})
                counts[kind][key] = counts[kind].get(key, 0) + 1
                for meth, mses in methods.items():
                    acc[meth] = acc.get(meth, 0.0) + mses[j]
            cell = per_image.setdefault(bin_of(border_distance(box, h, w)), {})
            cell = cell.setdefault(image["image"], {})
            for meth, mses in methods.items():
                total = cell.setdefault(meth, [0.0, 0])
                total[0] += mses[j]
                total[1] += 1
    out: dict = {"reference": reference, "bins": {}, "images": {}}
    for kind in ("bins", "images"):
        order = [b[0] for b in BINS if b[0] in sums[kind]] if kind == "bins" else sorted(sums[kind])
        for key in order:
            n = counts[kind][key]
            ref_db = psnr_from_mse(sums[kind][key][reference] / n)
            row = {"n": n, reference: ref_db}
            for meth, total in sums[kind][key].items():
                if meth != reference:
                    row[meth] = psnr_from_mse(total / n) - ref_db
            out[kind][key] = row
    for key, row in out["bins"].items():
        images = sorted(per_image[key])
        if len(images) < 2:
            continue
        db = {m: [psnr_from_mse(per_image[key][i][m][0] / per_image[key][i][m][1])
                  for i in images] for m in per_image[key][images[0]]}  # fmt: skip
        row["paired"] = {m: paired_difference(v, db[reference]).as_dict()
                         for m, v in db.items() if m != reference}  # fmt: skip
    return out


def to_markdown(result: dict, top: int = 5) -> str:
    """The position bins, then the ``top`` images with the largest and smallest gains."""
    ref = result["reference"]
    bins = result["bins"]
    methods = [m for m in next(iter(bins.values())) if m not in ("n", ref, "paired")]
    head = f"| ROIs | n | {ref} dB | " + " | ".join(f"{m} - {ref}" for m in methods) + " |"
    sep = "|---|---:|---:|" + "---:|" * len(methods)
    lines = [head, sep]
    for key, row in bins.items():
        cells = " | ".join(f"{row[m]:+.4f}" for m in methods)
        lines.append(f"| {key} | {row['n']} | {row[ref]:.3f} | {cells} |")
    if all("paired" in row for row in bins.values()):
        lines += ["", "Per image (pooled over the group's ROIs), paired over images "
                  "[95% CI]; images that gain / lose:", "",
                  "| ROIs | images | " + " | ".join(f"{m} - {ref}" for m in methods) + " |",
                  "|---|---:|" + "---|" * len(methods)]  # fmt: skip
        for key, row in bins.items():
            ds = [PairedDifference.from_dict(row["paired"][m]) for m in methods]
            cells = " | ".join(f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]; {d.gain}/{d.lose}"
                               for d in ds)  # fmt: skip
            lines.append(f"| {key} | {ds[0].n} | {cells} |")
    images = result["images"]
    if methods:
        rank = sorted(images, key=lambda k: images[k][methods[0]])
        picks = rank[-top:][::-1] + [k for k in rank[:top] if k not in rank[-top:]]
        lines += ["", head.replace("| ROIs |", "| image |"), sep]
        for key in picks:
            row = images[key]
            cells = " | ".join(f"{row[m]:+.4f}" for m in methods)
            lines.append(f"| {key} | {row['n']} | {row[ref]:.3f} | {cells} |")
    return "\n".join(lines)
