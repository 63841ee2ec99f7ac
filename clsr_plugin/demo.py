"""``clsr-demo`` / ``python -m clsr_plugin.demo``: the README's main job, end to end on CPU.

1. Real photographs bundled with scikit-image become an HR training set and a held-out HR
   validation set (``<out>/data``; LR is made on the fly with BasicSR's MATLAB bicubic).
2. Two models are trained with BasicSR's own pipeline (``clsr-train``,
   ``options/demo/clsr_demo_x4.yml``) on the same data, iterations, batch and seed: the tiny
   CLSR, and its backbone alone (the same options with ``pim: false, gcm: false``: the base
   branch trained on the padded ROI crops, i.e. padded pre-cropping training, with no context
   branch to co-train it). The dataset enlargement ratio is chosen so that every epoch is
   whole batches, so BasicSR runs exactly the requested iterations.
3. Both are tested ROI by ROI (``clsr-test``, ``options/demo/test_clsr_demo_x4.yml``): the
   backbone alone as pre-cropping (with and without padding) and post-cropping, against the
   CLSR; the table is printed and written to ``results.md``, and ``comparison.png`` shows the
   first validation image with its most textured ROIs (bicubic | pre | post | CLSR | GT).

Re-running is idempotent: a finished training (its marker ``demo_finished.json``) is not
repeated, an interrupted one resumes (``--auto_resume``); the tests run again and
``results.md`` / ``comparison.png`` are kept (the new table is compared with them) unless
``--overwrite``. Same seed, machine and ``--threads``: the same table. Everything lands under
``--out`` (default ``./demo_output``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

import numpy as np

#: scikit-image's bundled colour photographs: name -> loader attribute
TRAIN_IMAGES = ("rocket", "coffee", "hubble_deep_field", "immunohistochemistry", "retina")
VAL_IMAGES = ("astronaut", "chelsea")
#: table rows: (label, which model's metrics, method key in them)
TABLE_ROWS = (
    ("pre-cropping (no padding), backbone alone", "backbone", "pre_nopad"),
    ("pre-cropping (padded ROI), backbone alone", "backbone", "pre_pad"),
    ("post-cropping (whole image), backbone alone", "backbone", "post"),
    ("CLSR", "clsr", "clsr"),
)
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


def _merge(base: dict, new: dict) -> dict:
    """Nested update of ``base`` by ``new`` (in place); returns ``base``."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _write_options(src: str, dst: str, updates: dict) -> dict:
    """Copy a YAML options file with nested ``updates`` applied."""
    import yaml

    with open(src) as f:
        opt = yaml.safe_load(f)
    _merge(opt, updates)
    os.makedirs(osp.dirname(dst), exist_ok=True)
    with open(dst, "w") as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return opt


def _run(cmd: list[str], cwd: str, threads: int) -> None:
    print("[demo] $ " + " ".join(cmd), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"[demo] command failed with exit code {proc.returncode}: {cmd[2:4]}")


def format_table(metrics: dict[str, dict]) -> str:
    """Markdown table of the ROI-wise metrics written by LocalSRModel's validation, for
    ``metrics = {"backbone": ..., "clsr": ...}`` (missing rows are left out)."""
    rows = [
        "| method | PSNR per ROI | SSIM per ROI | PSNR per image | GFLOPs per ROI |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, model, key in TABLE_ROWS:
        res = metrics.get(model, {})
        if f"{key}/psnr_roi" not in res:
            continue
        flops = res.get(f"{key}/gflops")
        rows.append(
            f"| {label} | {res[f'{key}/psnr_roi']:.3f} | {res[f'{key}/ssim_roi']:.4f} | "
            f"{res[f'{key}/psnr_img']:.3f} | {'-' if flops is None else f'{flops:.3f}'} |"
        )
    return "\n".join(rows)


def exact_enlarge_ratio(n_images: int, batch: int, ratio: int) -> int:
    """The smallest dataset enlargement ratio >= ``ratio`` making ``n_images * ratio`` a
    multiple of ``batch``: BasicSR's loader drops the last partial batch while its epoch count
    assumes it, so otherwise fewer than ``total_iter`` iterations run."""
    step = batch // math.gcd(n_images, batch)
    return max(1, math.ceil(ratio / step)) * step


def basicsr_iterations(n_samples: int, batch: int, total_iter: int) -> int:
    """Iterations BasicSR 1.4.2's ``train_pipeline`` really runs: its epoch count uses
    ``ceil(n_samples / batch)`` iterations per epoch, its loader ``drop_last`` yields
    ``n_samples // batch``, over epochs ``0 .. total_epochs``."""
    per_epoch = math.ceil(n_samples / batch)
    epochs = math.ceil(total_iter / per_epoch) + 1
    return min(total_iter, epochs * (n_samples // batch))


def train_once(out: str, opt_path: str, name: str, total_iter: int, threads: int) -> str:
    """Train ``options/<opt_path>`` under ``out`` unless its marker says it finished with
    ``total_iter`` iterations; returns the final weights."""
    exp = osp.join(out, "experiments", name)
    weights = osp.join(exp, "models", "net_g_latest.pth")
    marker = osp.join(exp, MARKER)
    if osp.isfile(marker) and osp.isfile(weights):
        with open(marker) as f:
            done = json.load(f).get("total_iter")
        if done != total_iter:
            raise SystemExit(
                f"[demo] {exp} finished with {done} iterations, not {total_iter}: "
                "choose another --out"
            )
        print(f"[demo] {name}: training finished earlier ({done} iterations), not repeated")
        return weights
    _run([sys.executable, "-m", "clsr_plugin.train", "-opt", opt_path, "--auto_resume"], out,
         threads)  # fmt: skip
    with open(marker, "w") as f:
        json.dump({"total_iter": total_iter}, f)
    return weights


def test_model(out: str, test_yml: str, tag: str, updates: dict, threads: int) -> dict:
    """Run ``clsr-test`` on the options ``test_yml`` + ``updates`` (written to
    ``options/test_<tag>.yml``); returns the metrics JSON."""
    opt = _write_options(test_yml, osp.join(out, "options", f"test_{tag}.yml"), updates)
    results = osp.join(out, "results", opt["name"])
    if osp.isdir(results):  # BasicSR would rename it to *_archived_<time>; keep one copy
        shutil.rmtree(results)
    _run([sys.executable, "-m", "clsr_plugin.test", "-opt", f"options/test_{tag}.yml"], out,
         threads)  # fmt: skip
    dataset = opt["datasets"]["test_1"]["name"]
    with open(osp.join(results, f"metrics_{dataset}.json")) as f:
        return json.load(f)


def demo_sheet(hr_path: str, clsr_net, backbone_net, roi: int, n_rois: int) -> np.ndarray:
    """The demo's comparison sheet (RGB): the image with its ``n_rois`` most textured ROIs of
    the grid, each as bicubic | pre (backbone alone, padded) | post (backbone alone) | CLSR |
    GT with its PSNR."""
    import torch
    from torch.nn import functional as F

    from clsr_plugin.evaluation.benchmark import prepare_image
    from clsr_plugin.evaluation.engine import restore_rois
    from clsr_plugin.evaluation.methods import METHODS
    from clsr_plugin.utils.comparison_sheet import comparison_sheet, textured_rois, tile_psnr
    from clsr_plugin.utils.image_io import from_float01, tensor_to_image

    scale = int(clsr_net.scale)
    shown = ("pre_pad", "post", "clsr")
    lq, hr, boxes = prepare_image(hr_path, scale, roi)
    picks = textured_rois(from_float01(tensor_to_image(lq)), boxes.tolist(), n_rois)
    rois = boxes[picks]
    with torch.no_grad():
        outs = restore_rois(backbone_net.eval(), lq, rois, ("pre_pad", "post"))
        outs.update(restore_rois(clsr_net.eval(), lq, rois, ("clsr",)))
        up = F.interpolate(lq, scale_factor=scale, mode="bicubic", align_corners=False)
    rows, psnrs = [], []
    for i, (x, y, w, h) in enumerate(rois.tolist()):
        s = scale
        gt = from_float01(hr[y * s : (y + h) * s, x * s : (x + w) * s])
        tiles = [from_float01(tensor_to_image(up[..., y * s : (y + h) * s, x * s : (x + w) * s]))]
        tiles += [from_float01(tensor_to_image(outs[m][i])) for m in shown]
        rows.append(tiles + [gt])
        psnrs.append([tile_psnr(t, gt) for t in tiles] + [None])
    return comparison_sheet(
        rows,
        ["bicubic", *(METHODS[m].short for m in shown), "GT"],
        overview=from_float01(hr),
        boxes=[[v * scale for v in b] for b in rois.tolist()],
        psnrs=psnrs,
        title=f"{osp.splitext(osp.basename(hr_path))[0]} (x{scale}; pre/post: backbone alone)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``clsr-demo``."""
    parser = argparse.ArgumentParser(
        prog="clsr-demo",
        description=(
            "The README's main job, end to end on CPU, from any directory: train a tiny CLSR and,\n"
            "on the same budget, its backbone alone on five photographs bundled with\n"
            "scikit-image (BasicSR's own training pipeline); test both ROI by ROI on two others:\n"
            "pre-cropping (with and without padding) and post-cropping of the backbone against\n"
            "the CLSR; print the table, write results.md and comparison.png (bicubic | pre |\n"
            "post | CLSR | GT on the most textured ROIs). Re-running resumes an interrupted\n"
            "training or, once it is finished, only re-tests (results.md and comparison.png are\n"
            "kept unless --overwrite). Same seed, machine and --threads: the same table."
        ),
        epilog="example:\n  clsr-demo --out demo_output\n  clsr-demo --iters 100 --out /tmp/quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    parser.add_argument("--options", default=None,
                        help="folder holding clsr_demo_x4.yml and test_clsr_demo_x4.yml (default: "
                             "the demo options shipped with the package)")  # fmt: skip
    parser.add_argument("--iters", type=int, default=None,
                        help="training iterations (default: the options' 500)")  # fmt: skip
    parser.add_argument("--max-side", type=int, default=512,
                        help="longest side of the HR photographs (default 512)")  # fmt: skip
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier results.md and comparison.png")  # fmt: skip
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: the demo's tiny network gains little from more, "
        "and on a busy machine extra OpenMP threads spin and slow it down many times over)",
    )
    return parser


def demo_options(folder: str | None = None) -> tuple[str, str]:
    """(training YAML, test YAML) of the demo: in ``folder``, or the shipped ones."""
    from clsr_plugin.option_files import resolve_options

    if folder is None:
        return resolve_options("demo", "train"), resolve_options("demo", "test")
    paths = (osp.join(folder, "clsr_demo_x4.yml"), osp.join(folder, "test_clsr_demo_x4.yml"))
    for path in paths:
        if not osp.isfile(path):
            raise SystemExit(f"[demo] options file not found: {path}")
    return paths


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from clsr_plugin.utils.image_io import write_png

    out = osp.abspath(args.out)
    train_yml, test_yml = demo_options(args.options)
    start = time.time()
    train_hr, val_hr = prepare_images(osp.join(out, "data"), args.max_side)
    print(f"[demo] HR images: {train_hr} ({len(TRAIN_IMAGES)}), {val_hr} ({len(VAL_IMAGES)})")

    import yaml

    with open(train_yml) as f:
        base = yaml.safe_load(f)
    total_iter = int(args.iters if args.iters is not None else base["train"]["total_iter"])
    tset = base["datasets"]["train"]
    ratio = exact_enlarge_ratio(
        len(TRAIN_IMAGES),
        int(tset["batch_size_per_gpu"]),
        int(tset.get("dataset_enlarge_ratio", 1)),
    )
    common: dict = {
        "datasets": {
            "train": {"dataroot_gt": train_hr, "dataset_enlarge_ratio": ratio},
            "val": {"dataroot_gt": val_hr},
        },
        "train": {"total_iter": total_iter},
        "val": {"val_freq": total_iter + 1},  # the tests below are the validation
    }
    name = base["name"]
    variants = {  # tag -> (experiment name, extra updates); same data, iterations, batch, seed
        "clsr": (name, {}),
        "backbone": (f"{name}_backbone", {"network_g": {"pim": False, "gcm": False},
                                          "train": {"context_opt": None}}),
    }  # fmt: skip
    weights = {}
    for tag, (exp, extra) in variants.items():
        opt_path = f"options/train_{tag}.yml"
        updates = _merge(_merge({}, common), {"name": exp, **extra})
        _write_options(train_yml, osp.join(out, opt_path), updates)
        weights[tag] = train_once(out, opt_path, exp, total_iter, args.threads)

    metrics = {}
    for tag, (exp, extra) in variants.items():
        updates = {
            "name": f"test_{exp}",
            "datasets": {"test_1": {"dataroot_gt": val_hr}},
            "path": {"pretrain_network_g": weights[tag]},
            "val": {"save_img": False, "baselines": tag == "backbone"},
        }
        if "network_g" in extra:
            updates["network_g"] = extra["network_g"]
        metrics[tag] = test_model(out, test_yml, tag, updates, args.threads)
    table = format_table(metrics)

    from clsr_plugin.inference.api import load_clsr

    nets = {
        tag: load_clsr(weights[tag], osp.join(out, "options", f"test_{tag}.yml"))
        for tag in variants
    }
    with open(osp.join(out, "options", "test_clsr.yml")) as f:
        test_opt = yaml.safe_load(f)
    first = osp.join(val_hr, f"{VAL_IMAGES[0]}.png")
    sheet = demo_sheet(
        first,
        nets["clsr"],
        nets["backbone"],
        int(test_opt["datasets"]["test_1"]["roi_size"]),
        int(test_opt["val"].get("sheet_rois", 4)),
    )
    results_md, comparison = osp.join(out, "results.md"), osp.join(out, "comparison.png")
    keep = osp.isfile(results_md) and not args.overwrite
    if keep:
        with open(results_md) as f:
            same = f.read() == table + "\n"
        print(f"[demo] results.md kept ({'the same table' if same else 'the new table differs'}; "
              "--overwrite replaces it)")  # fmt: skip
    else:
        with open(results_md, "w") as f:
            f.write(table + "\n")
        write_png(comparison, sheet)
    print(
        f"\n[demo] ROI-wise results on {', '.join(VAL_IMAGES)} (x4, ROI 24, RGB; {total_iter} "
        f"iterations each):\n{table}"
    )
    print(f"\n[demo] comparison sheet (bicubic | pre | post | CLSR | GT): {comparison}")
    print(f"[demo] table: {results_md}")
    print(f"[demo] done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
