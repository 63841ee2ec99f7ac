"""``clsr-demo`` / ``python -m clsr_plugin.demo``: the README's main job, end to end on CPU.

1. Real photographs bundled with scikit-image become an HR training set and a held-out HR
   validation set (``<out>/data``; LR is made on the fly with BasicSR's MATLAB bicubic).
2. A tiny CLSR is trained with BasicSR's own pipeline (``options/demo/clsr_demo_x4.yml``,
   ``clsr-train ... --auto_resume``): re-running resumes or, once finished, only re-tests.
3. It is tested ROI by ROI against pre-cropping (with and without padding) and post-cropping
   (``options/demo/test_clsr_demo_x4.yml``, ``clsr-test``); the table is printed and a
   side-by-side comparison PNG (bicubic | pre | post | CLSR | GT) is written.

Everything lands under ``--out`` (default ``./demo_output``).
"""

from __future__ import annotations

import argparse
import json
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
METHOD_LABELS = {
    "pre_nopad": "pre-cropping (no padding)",
    "pre_pad": "pre-cropping (padded ROI)",
    "post": "post-cropping (whole image)",
    "clsr": "CLSR",
}


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


def _write_options(src: str, dst: str, updates: dict) -> dict:
    """Copy a YAML options file with nested ``updates`` applied."""
    import yaml

    with open(src) as f:
        opt = yaml.safe_load(f)

    def merge(base: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value

    merge(opt, updates)
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


def format_table(metrics: dict) -> str:
    """Markdown table of the ROI-wise metrics written by LocalSRModel's validation."""
    rows = [
        "| method | PSNR per ROI | SSIM per ROI | PSNR per image | GFLOPs per ROI |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in METHOD_LABELS.items():
        if f"{key}/psnr_roi" not in metrics:
            continue
        flops = metrics.get(f"{key}/gflops")
        rows.append(
            f"| {label} | {metrics[f'{key}/psnr_roi']:.3f} | {metrics[f'{key}/ssim_roi']:.4f} | "
            f"{metrics[f'{key}/psnr_img']:.3f} | {'-' if flops is None else f'{flops:.3f}'} |"
        )
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``clsr-demo``."""
    parser = argparse.ArgumentParser(
        prog="clsr-demo",
        description=(
            "The README's main job, end to end on CPU, from any directory: train a tiny CLSR on\n"
            "five photographs bundled with scikit-image (BasicSR's own training pipeline), then\n"
            "test it ROI by ROI on two others against pre-cropping (with and without padding)\n"
            "and post-cropping; print the table, write results.md and comparison.png (bicubic |\n"
            "pre | post | CLSR | GT). Re-running resumes an interrupted training or, once it is\n"
            "finished, only re-tests."
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

    out = osp.abspath(args.out)
    train_yml, test_yml = demo_options(args.options)
    start = time.time()
    train_hr, val_hr = prepare_images(osp.join(out, "data"))
    print(f"[demo] HR images: {train_hr} ({len(TRAIN_IMAGES)}), {val_hr} ({len(VAL_IMAGES)})")

    train_updates: dict = {
        "datasets": {"train": {"dataroot_gt": train_hr}, "val": {"dataroot_gt": val_hr}}
    }
    if args.iters is not None:
        train_updates["train"] = {"total_iter": args.iters}
    train_opt = _write_options(train_yml, osp.join(out, "options", "train.yml"), train_updates)
    name = train_opt["name"]
    _run(
        [sys.executable, "-m", "clsr_plugin.train", "-opt", "options/train.yml", "--auto_resume"],
        out,
        args.threads,
    )

    weights = osp.join(out, "experiments", name, "models", "net_g_latest.pth")
    test_opt = _write_options(
        test_yml,
        osp.join(out, "options", "test.yml"),
        {
            "datasets": {"test_1": {"dataroot_gt": val_hr}},
            "path": {"pretrain_network_g": weights},
        },
    )
    results = osp.join(out, "results", test_opt["name"])
    if osp.isdir(results):  # BasicSR would rename it to *_archived_<time>; keep one copy
        shutil.rmtree(results)
    _run([sys.executable, "-m", "clsr_plugin.test", "-opt", "options/test.yml"], out, args.threads)

    dataset = test_opt["datasets"]["test_1"]["name"]
    with open(osp.join(results, f"metrics_{dataset}.json")) as f:
        metrics = json.load(f)
    table = format_table(metrics)
    sheets = sorted(
        osp.join(root, f)
        for root, _, files in os.walk(osp.join(results, "visualization"))
        for f in files
        if f.endswith(".png")
    )
    if not sheets:
        raise SystemExit(f"[demo] no comparison sheet was written under {results}")
    comparison = osp.join(out, "comparison.png")
    shutil.copyfile(sheets[0], comparison)
    with open(osp.join(out, "results.md"), "w") as f:
        f.write(table + "\n")
    print(f"\n[demo] ROI-wise results on {', '.join(VAL_IMAGES)} (x4, ROI 24, RGB):\n{table}")
    print(f"\n[demo] comparison sheet (bicubic | pre | post | CLSR | GT): {comparison}")
    print(f"[demo] all sheets: {osp.dirname(sheets[0])}; table: {osp.join(out, 'results.md')}")
    print(f"[demo] done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
