"""The runs of the real-data experiment and the BasicSR options each one gets.

Every run is derived from one base recipe per backbone (``options/experiment/clsr_<bb>_291.yml``
for training, ``test_clsr_<bb>_291.yml`` for testing), so runs differ only in what
:data:`RUNS` says: the model kind, the context branches and the ROI placement. Seed, data,
iterations, batch, optimiser, schedule and EMA are shared.

Kinds:

* ``backbone``: no training; the pretrained backbone evaluated as pre/post-cropping.
* ``srmodel``: the plain backbone fine-tuned with BasicSR's ``SRModel`` on the same LMDB
  (``PairedImageDataset``, LR patch = the CLSR ROI size, so the loss sees as many pixels), then
  evaluated as pre/post-cropping: its weights go into a CLSR without context branches
  (``pretrain_network_backbone_g``), whose ``base_only`` is exactly the backbone.
* ``clsr``: CLSR fine-tuned from the pretrained backbone with ``LocalSRModel``.
"""

from __future__ import annotations

import copy
import os.path as osp
from dataclasses import dataclass

import yaml

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OPTIONS = osp.join(REPO, "options", "experiment")
#: where pack_inputs.py writes, relative to the repo root (the base YAMLs' paths start with it)
PACK_PREFIX = "datasets/exp_real"
#: where the prep stage writes by default (the base YAMLs' data paths start with it)
PREP_PREFIX = "datasets/exp_real/prep"
BENCHMARKS = ("Set5", "Set14", "Urban100_dev")
ROI_SIZES = (24, 48)


@dataclass(frozen=True)
class Run:
    """One run: backbone recipe, kind, and CLSR variations."""

    backbone: str  # "msrresnet" | "edsr": picks options/experiment/*clsr_<backbone>_291.yml
    kind: str  # "backbone" | "srmodel" | "clsr"
    pim: bool = True
    gcm: bool = True
    placement: str = "center"
    label: str = ""

    @property
    def trains(self) -> bool:
        """Whether the run has a training stage."""
        return self.kind != "backbone"


RUNS: dict[str, Run] = {
    "pretrained_msrresnet": Run("msrresnet", "backbone", label="pretrained MSRResNet"),
    "srmodel_msrresnet": Run("msrresnet", "srmodel", label="MSRResNet fine-tuned (SRModel)"),
    "clsr_msrresnet": Run("msrresnet", "clsr", label="CLSR (base+PIM+GCM)"),
    "clsr_msrresnet_pim": Run("msrresnet", "clsr", gcm=False, label="CLSR base+PIM"),
    "clsr_msrresnet_gcm": Run("msrresnet", "clsr", pim=False, label="CLSR base+GCM"),
    "clsr_msrresnet_random": Run(
        "msrresnet", "clsr", placement="random", label="CLSR (random ROI placement)"
    ),
    "pretrained_edsr": Run("edsr", "backbone", label="pretrained EDSR"),
    "srmodel_edsr": Run("edsr", "srmodel", label="EDSR fine-tuned (SRModel)"),
    "clsr_edsr": Run("edsr", "clsr", label="CLSR(EDSR) (base+PIM+GCM)"),
}


def get_run(name: str) -> Run:
    """The run called ``name``."""
    if name not in RUNS:
        raise ValueError(f"Unknown run {name!r}; choose from {sorted(RUNS)}.")
    return RUNS[name]


def experiment_name(name: str, iters: int) -> str:
    """BasicSR experiment name of a trained run (the iteration count is part of it, so a run
    trained for another count is never taken for this one)."""
    return f"exp_{name}_it{iters}"


def load_yaml(path: str) -> dict:
    """A BasicSR options file as plain dicts."""
    with open(path) as f:
        return yaml.safe_load(f)


def write_yaml(opt: dict, path: str) -> None:
    """Write options as YAML (keys in order)."""
    with open(path, "w") as f:
        yaml.safe_dump(opt, f, sort_keys=False)


def _relocate(path: str | None, pack_root: str, prep_root: str) -> str | None:
    """Map a repo-relative ``datasets/exp_real[/prep]/...`` path onto the given roots."""
    if path is None:
        return None
    for prefix, root in ((PREP_PREFIX, prep_root), (PACK_PREFIX, pack_root)):
        if path == prefix or path.startswith(prefix + "/"):
            return osp.join(root, path[len(prefix) + 1 :]) if path != prefix else root
    return path


def _network(run: Run, base_net: dict) -> dict:
    net = copy.deepcopy(base_net)
    if run.kind != "clsr":  # evaluated as pre/post-cropping: a CLSR with no context branches
        net["pim"], net["gcm"] = False, False
    else:
        if not run.pim:
            net["pim"] = False
        if not run.gcm:
            net["gcm"] = False
    return net


def train_options(
    name: str,
    iters: int,
    pack_root: str,
    prep_root: str,
    num_gpu: int = 1,
    batch: int | None = None,
    workers: int | None = None,
) -> dict:
    """BasicSR training options of run ``name`` (``iters`` iterations).

    Args:
        name: a key of :data:`RUNS` whose kind trains.
        iters: total iterations (also the cosine period and the end of the context-loss decay).
        pack_root, prep_root: where ``datasets/exp_real`` and ``datasets/exp_real/prep`` are.
        num_gpu: 0 for CPU.
        batch, workers: overrides of the batch size and loader workers (smoke runs).
    """
    run = get_run(name)
    if not run.trains:
        raise ValueError(f"Run {name!r} has no training stage (kind {run.kind!r}).")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}.")
    opt = load_yaml(osp.join(OPTIONS, f"clsr_{run.backbone}_291.yml"))
    opt["name"] = experiment_name(name, iters)
    opt["num_gpu"] = num_gpu
    train_ds = opt["datasets"]["train"]
    for key in ("dataroot_gt", "dataroot_lq"):
        train_ds[key] = _relocate(train_ds[key], pack_root, prep_root)
    if batch is not None:
        train_ds["batch_size_per_gpu"] = batch
    if workers is not None:
        train_ds["num_worker_per_gpu"] = workers
    if int(train_ds["num_worker_per_gpu"]) == 0:
        train_ds["persistent_workers"] = False  # torch refuses it without workers
    tr = opt["train"]
    tr["total_iter"] = iters
    tr["scheduler"]["periods"] = [iters]
    tr["context_opt"]["end_iter"] = iters
    opt["logger"]["save_checkpoint_freq"] = iters
    opt["logger"]["print_freq"] = min(100, iters)
    backbone_path = _relocate(opt["path"]["pretrain_network_backbone_g"], pack_root, prep_root)
    if run.kind == "srmodel":
        opt["model_type"] = "SRModel"
        opt["network_g"] = copy.deepcopy(opt["network_g"]["backbone"])
        roi = int(train_ds["roi_size"])
        opt["datasets"]["train"] = {
            "name": train_ds["name"],
            "type": "PairedImageDataset",
            **{k: train_ds[k] for k in ("dataroot_gt", "dataroot_lq", "filename_tmpl")},
            "io_backend": train_ds["io_backend"],
            "gt_size": roi * opt["scale"],
            **{
                k: train_ds[k]
                for k in (
                    "use_hflip",
                    "use_rot",
                    "num_worker_per_gpu",
                    "batch_size_per_gpu",
                    "dataset_enlarge_ratio",
                    "prefetch_mode",
                    "pin_memory",
                    "persistent_workers",
                )
            },
        }
        opt["path"] = {
            "pretrain_network_g": backbone_path,
            "param_key_g": "params_ema",
            "strict_load_g": True,
            "resume_state": None,
        }
        del tr["context_opt"]
        return opt
    opt["network_g"] = _network(run, opt["network_g"])
    train_ds["roi_placement"] = run.placement
    opt["path"]["pretrain_network_backbone_g"] = backbone_path
    if not run.pim:
        del tr["context_opt"]  # the context loss supervises the PIM's output
    return opt


def test_options(
    name: str,
    weights: str,
    datasets: dict[str, str],
    roi_sizes: tuple[int, ...] = ROI_SIZES,
    num_gpu: int = 1,
    flops: bool = True,
) -> dict:
    """BasicSR test options of run ``name``.

    Args:
        name: a key of :data:`RUNS`.
        weights: the run's checkpoint (a CLSR for ``clsr`` runs, else a backbone).
        datasets: benchmark name -> its prepared root (holding ``HR`` and ``LR_bicubic/X4``).
        roi_sizes: ROI sizes to test (entries of the base test YAML).
        num_gpu: 0 for CPU.
        flops: count MACs per ROI (costs depend only on shapes: one run per architecture does).
    """
    run = get_run(name)
    opt = load_yaml(osp.join(OPTIONS, f"test_clsr_{run.backbone}_291.yml"))
    opt["name"] = f"test_exp_{name}"
    opt["num_gpu"] = num_gpu
    unknown = sorted(set(datasets) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"Unknown benchmark(s) {unknown}; choose from {BENCHMARKS}.")
    entries = {}
    for ds in opt["datasets"].values():
        bench, roi = ds["name"].rsplit("_r", 1)
        if bench in datasets and int(roi) in roi_sizes:
            ds = dict(ds)
            ds["dataroot_gt"] = osp.join(datasets[bench], "HR")
            ds["dataroot_lq"] = osp.join(datasets[bench], "LR_bicubic", "X4")
            entries[f"test_{len(entries) + 1}"] = ds
    if not entries:
        raise ValueError(f"No test dataset left for {sorted(datasets)} at ROI sizes {roi_sizes}.")
    opt["datasets"] = entries
    opt["network_g"] = _network(run, opt["network_g"])
    if run.kind == "clsr":
        opt["path"] = {"pretrain_network_g": weights, "param_key_g": "params_ema"}
        opt["path"]["strict_load_g"] = True
    else:
        opt["path"] = {
            "pretrain_network_backbone_g": weights,
            "param_key_backbone_g": "params_ema",
            "strict_load_backbone_g": True,
            "pretrain_network_g": None,
        }
    opt["val"]["baselines"] = True
    opt["val"]["flops"] = bool(flops)
    return opt
