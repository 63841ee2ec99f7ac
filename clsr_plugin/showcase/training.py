"""The demo's trainings: its two option files, and the backbone trained alone (BasicSR's
``SRModel`` via ``clsr-train``), exactly the iterations asked for, once (a marker file)."""

from __future__ import annotations

import json
import math
import os
import os.path as osp
import sys

from clsr_plugin.adaptation import exact_enlarge_ratio
from clsr_plugin.showcase.photos import TRAIN_IMAGES

#: written beside a finished backbone training: its iteration count
MARKER = "demo_finished.json"


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
