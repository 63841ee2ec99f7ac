"""``clsr-demo`` / ``python -m clsr_plugin.demo``: the README's main job, end to end on CPU.

1. Real photographs bundled with scikit-image become an HR training set and a held-out HR test
   set (``<out>/data``; LR made on the fly with BasicSR's MATLAB bicubic), and one of them,
   upscaled, a large LR image (``<out>/data/large_LR.png``).
2. A tiny backbone (16-feature, 4-block MSRResNet) is trained alone with BasicSR's own
   ``SRModel`` (``clsr-train``, ``options/demo/backbone_demo_x4.yml``): a plain BasicSR
   checkpoint, as a user has.
3. ``clsr-adapt`` trains CLSR context adapters around that frozen backbone
   (``options/demo/clsr_demo_x4.yml``; the last training photo kept apart as its validation
   split, the best checkpoint kept).
4. ``clsr-bench`` compares, ROI by ROI on the held-out photos, pre-cropping without and with
   padding, post-cropping (all three: the same frozen backbone) and the CLSR, with GFLOPs and
   ms per ROI and the paired 95% CI of CLSR - post; and, on the large image, the time and peak
   memory of post-cropping, padded pre-cropping and CLSR (as ``clsr-infer`` runs it) for 1 and
   10 ROIs, with the PSNR of their ROIs against post-cropping's own output.

Writes ``results.md`` (the tables and what they mean), ``comparison.png`` (bicubic | pre | post
| CLSR | GT on the most textured ROIs of the first test photo) and ``cost_panel.png``.
Re-running is idempotent: finished trainings are not repeated (markers), interrupted ones
resume; the benchmark runs again and ``results.md`` / the pictures are kept unless
``--overwrite``. Same seed and machine: the same quality table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import sys
import time

import numpy as np

from clsr_plugin.adaptation import exact_enlarge_ratio  # noqa: F401  (re-exported)
from clsr_plugin.evaluation.methods import METHODS

#: scikit-image's bundled colour photographs
TRAIN_IMAGES = ("rocket", "coffee", "hubble_deep_field", "immunohistochemistry", "retina")
VAL_IMAGES = ("astronaut", "chelsea")
#: the photo upscaled into the large LR image of the cost panel, and its default size (W, H)
LARGE_IMAGE, LARGE_SIZE = "coffee", (2000, 1333)
#: quality-table rows: every registered method, in the registry's order
TABLE_METHODS = tuple(METHODS)
MARKER = "demo_finished.json"


def _load_skimage(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def prepare_images(data_dir: str, max_side: int = 512) -> tuple[str, str]:
    """Write the bundled photographs as HR PNGs (mod-4, longest side <= max_side).

    Returns:
        (train_HR folder, val_HR folder).
    """
    import cv2

    from clsr_plugin.utils.image_io import write_png

    folders = {}
    for split, names in (("train_HR", TRAIN_IMAGES), ("val_HR", VAL_IMAGES)):
        folder = osp.join(data_dir, split)
        os.makedirs(folder, exist_ok=True)
        for name in names:
            path = osp.join(folder, f"{name}.png")
            if osp.isfile(path):
                continue
            img = _load_skimage(name)
            scale = max_side / max(img.shape[:2])
            if scale < 1:
                size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
            write_png(path, np.ascontiguousarray(img[:h, :w]))
        folders[split] = folder
    return folders["train_HR"], folders["val_HR"]


def prepare_large(data_dir: str, size: tuple[int, int]) -> str:
    """The cost panel's large LR image: :data:`LARGE_IMAGE` upscaled (bicubic) to ``size``."""
    import cv2

    from clsr_plugin.utils.image_io import write_png

    path = osp.join(data_dir, f"large_LR_{size[0]}x{size[1]}.png")
    if not osp.isfile(path):
        img = cv2.resize(_load_skimage(LARGE_IMAGE), size, interpolation=cv2.INTER_CUBIC)
        write_png(path, img)
    return path


def basicsr_iterations(n_samples: int, batch: int, total_iter: int) -> int:
    """Iterations BasicSR 1.4.2's ``train_pipeline`` really runs: its epoch count uses
    ``ceil(n_samples / batch)`` iterations per epoch, its loader ``drop_last`` yields
    ``n_samples // batch``, over epochs ``0 .. total_epochs``."""
    per_epoch = math.ceil(n_samples / batch)
    epochs = math.ceil(total_iter / per_epoch) + 1
    return min(total_iter, epochs * (n_samples // batch))


def train_backbone(out: str, src_yml: str, train_hr: str, iters: int | None, threads: int) -> str:
    """Train the backbone alone (BasicSR's SRModel) unless its marker says it finished with the
    same iterations; returns ``net_g_latest.pth``."""
    from clsr_plugin.adaptation import run_with_progress
    from clsr_plugin.utils.atomic import write_text
    from clsr_plugin.utils.options import dump_yaml, load_yaml

    opt = load_yaml(src_yml)
    total = int(iters if iters is not None else opt["train"]["total_iter"])
    tset = opt["datasets"]["train"]
    n_train = len(TRAIN_IMAGES)
    ratio = exact_enlarge_ratio(n_train, int(tset["batch_size_per_gpu"]),
                                int(tset.get("dataset_enlarge_ratio", 1)))  # fmt: skip
    tset.update(dataroot_gt=train_hr, dataset_enlarge_ratio=ratio)
    opt["train"]["total_iter"] = total
    opt["train"]["scheduler"]["periods"] = [total]
    opt["logger"]["save_checkpoint_freq"] = min(int(opt["logger"]["save_checkpoint_freq"]), total)
    exp = osp.join(out, "experiments", opt["name"])
    weights, marker = osp.join(exp, "models", "net_g_latest.pth"), osp.join(exp, MARKER)
    if osp.isfile(marker) and osp.isfile(weights):
        with open(marker) as f:
            done = json.load(f).get("total_iter")
        if done != total:
            raise ValueError(
                f"{exp} finished with {done} iterations, not {total}: choose another --out "
                "or --overwrite"
            )
        print(f"[demo] backbone: trained earlier ({done} iterations), not repeated", flush=True)
        return weights
    yml = osp.join(out, "options", "backbone.yml")
    os.makedirs(osp.dirname(yml), exist_ok=True)
    write_text(yml, dump_yaml(opt))
    print(f"[demo] (a) training the backbone alone: {total} iterations (BasicSR SRModel)",
          flush=True)  # fmt: skip
    run_with_progress([sys.executable, "-m", "clsr_plugin.train", "-opt", yml, "--auto_resume"],
                      out, threads, total, "backbone")  # fmt: skip
    write_text(marker, json.dumps({"total_iter": total}))
    return weights


def run_bench(out: str, argv: list[str]) -> dict:
    """``clsr-bench`` with ``argv`` into ``out``; returns its report."""
    import contextlib

    from clsr_plugin.bench import main as bench_main

    os.makedirs(out, exist_ok=True)
    with open(osp.join(out, "bench_stdout.txt"), "w") as log, contextlib.redirect_stdout(log):
        rc = bench_main([*argv, "--out", out])  # its tables: bench.md beside the log
    if rc != 0:
        raise ValueError(f"clsr-bench failed (see above): {' '.join(argv)}")
    with open(osp.join(out, "bench.json")) as f:
        return json.load(f)


def _label(method: str, report: dict) -> str:
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
        cells = [_label(m, report), f"{r['psnr_roi_mean']:.3f}", f"{r['ssim_roi_mean']:.4f}",
                 f"{r['psnr_image_pooled']:.3f}", f"{r['gflops_per_roi']:.3f}"]  # fmt: skip
        if times:
            cells.append(f"{r['ms_single_roi']:.1f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def format_paired(report: dict) -> str:
    """The paired differences of the held-out table, one line each (per ROI and per image)."""
    from clsr_plugin.evaluation.paired import PairedDifference

    res = report["results"][0]
    lines = []
    for pair in ("clsr - post", "clsr - pre_pad", "pre_pad - post"):
        a, b = pair.split(" - ")
        cells = []
        for unit, items in (("ROI", "ROIs"), ("image", "images")):
            d = res["paired"][unit.lower()].get(pair)
            if d is not None:
                diff = PairedDifference.from_dict(d).format(items=items, sep=", ")
                cells.append(f"per {unit}: {diff}")
        if cells:
            lines.append(f"- {_label(a, report)} minus {_label(b, report)}: " + "; ".join(cells))
    return "\n".join(lines)


def verdict(report: dict, kept_untrained: bool = False) -> str:
    """What the held-out numbers say, in words: does the CLSR beat post-cropping?
    ``kept_untrained``: clsr-adapt kept the untrained adapter (its output is pre_pad's)."""
    res = report["results"][0]
    d = res["paired"]["roi"].get("clsr - post")
    m = res["methods"]
    share = m["pre_pad"]["gflops_per_roi"] / m["post"]["gflops_per_roi"]
    same = abs(m["pre_pad"]["psnr_roi_mean"] - m["post"]["psnr_roi_mean"])
    lines = [
        f"Padded pre-cropping costs {share:.1%} of post-cropping's GFLOPs per ROI and is "
        f"{same:.3f} dB from it per ROI."
    ]
    if kept_untrained:
        lines.append("clsr-adapt kept the untrained adapter: no checkpoint beat padded "
                     "pre-cropping on its validation photo with a 95% CI above zero, so the "
                     "CLSR row is padded pre-cropping, and context adds nothing measurable for "
                     "this backbone and data.")  # fmt: skip
    elif d is None:
        lines.append("The CLSR's context branches are untrained: it is padded pre-cropping.")
    elif d["low"] > 0:
        lines.append(f"The context adapters beat post-cropping on these ROIs by {d['mean']:+.3f} "
                     "dB per ROI, with a 95% CI above zero.")  # fmt: skip
    elif d["high"] < 0:
        lines.append(f"The context adapters are worse than post-cropping on these ROIs "
                     f"({d['mean']:+.3f} dB per ROI, 95% CI below zero).")  # fmt: skip
    else:
        lines.append(f"The context adapters add nothing measurable over post-cropping here: "
                     f"{d['mean']:+.3f} dB per ROI, 95% CI [{d['low']:+.3f}, {d['high']:+.3f}] "
                     "includes zero.")  # fmt: skip
    return " ".join(lines)


def curve_line(adapted: dict) -> str:
    """clsr-adapt's learning curve on its validation split, in one sentence (or ``''``)."""
    rows = [r for r in adapted.get("curve", []) if r.get("gain")]
    if not rows:
        return ""
    cells = ", ".join(
        f"{r['iter']}: {r['gain']['mean']:+.3f} [{r['gain']['low']:+.3f}, {r['gain']['high']:+.3f}]"
        for r in rows
    )
    names = ", ".join(adapted.get("val_images", []))
    return (f" clsr-adapt's learning curve on {names} (iteration: CLSR - untrained adapter per "
            f"ROI, dB [95% CI]): {cells}.")  # fmt: skip


def format_cost(report: dict, image: str) -> str:
    """The large-image cost table (Markdown) of a ``clsr-bench`` report."""
    from clsr_plugin.evaluation.cost_panel import panel_rows

    rows = ["| ROIs | method | time | x faster than post | peak MB | PSNR vs post's output |",
            "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    prow = panel_rows(report, image)
    for r in prow:
        post = next(p for p in prow if p["n_rois"] == r["n_rois"] and p["method"] == "post")
        speed = post["ms"] / r["ms"] if r["ms"] and post["ms"] else None
        mem = "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
        psnr = "-" if r.get("psnr_vs_post") is None else f"{r['psnr_vs_post']:.2f} dB"
        rows.append(f"| {r['n_rois']} | {_label(r['method'], report)} | {r['ms'] / 1e3:.3f} s | "
                    f"{'-' if speed is None else f'{speed:.1f}x'} | {mem} | {psnr} |")  # fmt: skip
    return "\n".join(rows)


def demo_sheet(hr_path: str, model, roi: int, n_rois: int) -> np.ndarray:
    """The demo's comparison sheet (RGB): the image with its ``n_rois`` most textured ROIs of
    the grid, each as bicubic | pre (padded) | post | CLSR | GT with its PSNR."""
    import torch

    from clsr_plugin.data.bicubic_lr import bicubic_up
    from clsr_plugin.evaluation.benchmark import prepare_image
    from clsr_plugin.evaluation.engine import restore_rois
    from clsr_plugin.evaluation.methods import METHODS
    from clsr_plugin.utils.comparison_sheet import comparison_sheet, textured_rois, tile_psnr
    from clsr_plugin.utils.image_io import from_float01, tensor_to_image

    s = int(model.scale)
    shown = ("pre_pad", "post", "clsr")
    lq, hr, boxes = prepare_image(hr_path, s, roi)
    rois = boxes[textured_rois(from_float01(tensor_to_image(lq)), boxes.tolist(), n_rois)]
    with torch.no_grad():
        outs = restore_rois(model.eval(), lq, rois, shown)
        up = bicubic_up(lq, s)
    rows, psnrs = [], []
    for i, (x, y, w, h) in enumerate(rois.tolist()):
        gt = from_float01(hr[y * s : (y + h) * s, x * s : (x + w) * s])
        tiles = [from_float01(tensor_to_image(up[..., y * s : (y + h) * s, x * s : (x + w) * s]))]
        tiles += [from_float01(tensor_to_image(outs[m][i])) for m in shown]
        rows.append(tiles + [gt])
        psnrs.append([tile_psnr(t, gt) for t in tiles] + [None])
    name = osp.splitext(osp.basename(hr_path))[0]
    title = f"{name} (x{s}; one frozen backbone; CLSR = its adapters)"
    labels = ["bicubic", *(METHODS[m].short for m in shown), "GT"]
    return comparison_sheet(rows, labels, overview=from_float01(hr), psnrs=psnrs, title=title,
                            boxes=[[v * s for v in b] for b in rois.tolist()])  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``clsr-demo``."""
    parser = argparse.ArgumentParser(
        prog="clsr-demo",
        description=(
            "The README's main job, end to end on CPU, from any directory: train a tiny backbone\n"
            "alone on five photographs bundled with scikit-image (BasicSR's SRModel), train CLSR\n"
            "context adapters around it with clsr-adapt, then compare ROI by ROI on two held-out\n"
            "photos pre-cropping (without and with padding), post-cropping and the CLSR (paired\n"
            "95% CI), and show the cost of post-cropping, padded pre-cropping and CLSR on one\n"
            "large image. Writes results.md, comparison.png and cost_panel.png. Re-running\n"
            "resumes or, once trained, only re-benchmarks (results.md and the pictures are kept\n"
            "unless --overwrite). Same seed and machine: the same quality table."
        ),
        epilog="example:\n  clsr-demo --out demo_output\n  clsr-demo --iters 100 --adapt-iters "
        "60 --out /tmp/quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    parser.add_argument(
        "--options",
        default=None,
        help="folder holding backbone_demo_x4.yml, clsr_demo_x4.yml (default: the "
        "demo options shipped with the package)",
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=None,
        help="backbone training iterations (default: the options' 500)",
    )
    parser.add_argument(
        "--adapt-iters", type=int, default=200, help="clsr-adapt iterations (default 200)"
    )
    parser.add_argument("--roi", type=int, default=24, help="ROI size in LR pixels (default 24)")
    parser.add_argument(
        "--max-side", type=int, default=512, help="longest side of the HR photographs (default 512)"
    )
    parser.add_argument(
        "--large-size",
        default=f"{LARGE_SIZE[0]}x{LARGE_SIZE[1]}",
        help="WxH of the cost panel's large LR image (default 2000x1333)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier results.md and pictures"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: the tiny networks gain little "
        "from more, and the training then does not depend on the count)",
    )
    return parser  # fmt: skip


def demo_options(folder: str | None = None) -> tuple[str, str]:
    """(backbone training YAML, CLSR adapter YAML) of the demo: in ``folder``, or shipped."""
    from clsr_plugin.option_files import resolve_options

    if folder is None:
        return resolve_options("demo/backbone_demo_x4.yml"), resolve_options("demo", "train")
    paths = (osp.join(folder, "backbone_demo_x4.yml"), osp.join(folder, "clsr_demo_x4.yml"))
    for path in paths:
        if not osp.isfile(path):
            raise ValueError(f"options file not found: {path}")
    return paths


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if min(w, h) < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"--large-size: expected WxH, got {text!r}") from None
    return w, h


def run(args: argparse.Namespace) -> int:
    """The demo's steps (see the module docstring)."""
    from clsr_plugin.adaptation import AdaptSettings, adapt
    from clsr_plugin.evaluation.cost_panel import write_cost_panel
    from clsr_plugin.inference.api import load_clsr
    from clsr_plugin.utils.atomic import write_text
    from clsr_plugin.utils.image_io import write_png

    out, start = osp.abspath(args.out), time.time()
    backbone_yml, clsr_yml = demo_options(args.options)
    train_hr, val_hr = prepare_images(osp.join(out, "data"), args.max_side)
    large = prepare_large(osp.join(out, "data"), _size(args.large_size))
    print(f"[demo] HR photos: {len(TRAIN_IMAGES)} to train in {train_hr}, {len(VAL_IMAGES)} "
          f"held out in {val_hr}; large LR image {large}", flush=True)  # fmt: skip
    weights = train_backbone(out, backbone_yml, train_hr, args.iters, args.threads)
    print("[demo] (b) clsr-adapt: context adapters around the frozen backbone", flush=True)
    settings = AdaptSettings(
        weights=weights,
        data=train_hr,
        out=osp.join(out, "adapt"),
        opt=clsr_yml,
        iters=args.adapt_iters,
        roi=args.roi,
        val_freq=max(1, args.adapt_iters // 5),
        threads=args.threads,
    )
    adapted = adapt(settings)
    common = ["--weights", weights, "--adapter", adapted["adapter"], "--roi", str(args.roi),
              "--device", "cpu", "--threads", str(args.threads)]  # fmt: skip
    print("[demo] (c) held-out photos, ROI by ROI (clsr-bench)", flush=True)
    held = run_bench(osp.join(out, "bench_heldout"), [*common, "--data", val_hr,
                     "--timing-images", str(len(VAL_IMAGES)), "--warmup", "1", "--repeats", "3",
                     "--multi-roi", "1", "--context-windows", "6"])  # fmt: skip
    print("[demo] (d) cost on the large image (clsr-bench --lr-photos)", flush=True)
    big = run_bench(osp.join(out, "bench_large"), [*common, "--lr-photos", large, "--warmup", "0",
                    "--repeats", "1", "--multi-roi", "1", "10", "--no-flops"])  # fmt: skip
    table, paired = format_table(held), format_paired(held)
    stable = format_table(held, times=False)
    cost = format_cost(big, osp.basename(large))
    said = verdict(held, bool(adapted.get("kept_untrained"))) + curve_line(adapted)
    text = (
        f"## Held-out photos ({', '.join(VAL_IMAGES)}; x4, ROI {args.roi}, RGB)\n\n{table}\n\n"
        f"{paired}\n\n{said}\n\n## Cost on one large image ({osp.basename(large)})\n\n"
        f"{cost}\n"
    )
    results_md = osp.join(out, "results.md")
    quality = osp.join(out, "quality_table.md")
    keep = osp.isfile(results_md) and not args.overwrite
    if keep:
        with open(quality) as f:
            same = f.read() == stable + "\n"
        said = "the same quality table" if same else "the new quality table differs"
        print(f"[demo] results.md kept ({said}; --overwrite replaces it)")
    else:
        model = load_clsr(weights, adapter=adapted["adapter"])
        write_png(
            osp.join(out, "comparison.png"),
            demo_sheet(osp.join(val_hr, f"{VAL_IMAGES[0]}.png"), model, args.roi, 4),
        )
        write_cost_panel(big, osp.basename(large), osp.join(out, "cost_panel.png"),
                         lambda m: _label(m, big))  # fmt: skip
        write_text(quality, stable + "\n")
        write_text(results_md, text)
    print(f"\n[demo] {text}")
    print(f"[demo] comparison sheet: {osp.join(out, 'comparison.png')}; cost panel: "
          f"{osp.join(out, 'cost_panel.png')}; results: {results_md}")  # fmt: skip
    print(f"[demo] done in {time.time() - start:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from clsr_plugin.utils.cli import run_cli

    return run_cli("clsr-demo", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
