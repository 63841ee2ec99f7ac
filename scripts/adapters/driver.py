"""Adapter experiment driver: a table of runs turned into clsr-train / clsr-test / clsr-bench calls.

Every run trains CLSR context adapters on one frozen pretrained backbone
(``options/adapters/clsr_msrresnet_adapters_x4.yml``) with the same seed, iterations, batch and
optimiser; runs differ only in what :data:`RUNS` says. The frozen backbone's pre-/post-cropping
are the exact equal-budget baselines (evaluated once, with R1). Every stage is resumable:
training continues with ``--auto_resume``, a test or bench whose output exists is skipped.

    python scripts/adapters/driver.py train r1           # clsr-train, resumable
    python scripts/adapters/driver.py test r1 r2         # clsr-test on the benchmark sets
    python scripts/adapters/driver.py bench r1           # clsr-bench: context windows, ms per ROI
    python scripts/adapters/driver.py train r1s1 r2s1    # seed 1 of R1, R2 (RUN + s<seed>)
    python scripts/adapters/driver.py save-state r1s1    # small state -> docs/results/state/
    python scripts/adapters/driver.py export r1 r2       # adapters -> docs/results/
    python scripts/adapters/driver.py table              # docs/results/adapters.json + Markdown
    python scripts/adapters/driver.py all                # every stage of every run, in order

Rows E1/E2 and W1/W2 are R1 and its control on a frozen EDSR and SwinIR-light
(:data:`ARCHS`; each compared with its own backbone's post-cropping, evaluated with E1 / W1).

A run id is a row of :data:`RUNS`, optionally with a seed: ``r1s2`` is R1 with
``manual_seed: 2`` (the seed changes the random contexts, ROI placements and flips, and the
initialisation of the trained branches; the frozen backbone and the epoch order, which BasicSR
seeds by epoch, stay). Training continues across machines: ``save-state`` writes a run's latest
state (trainable weights, EMA, optimizer, scheduler, iteration, RNG; about 1.5 MB) to
``docs/results/state/<run>/``, and ``train`` on a fresh clone rebuilds the checkpoint from it
and resumes, exactly (the loader has a fixed epoch length of ``ckpt`` iterations, so every
checkpoint is an epoch end, and reads in the main process: see
:mod:`clsr_plugin.models.training_state`).

``--budget gpu`` runs the same rows at a larger budget (more iterations, batch 16, CUDA).
Paths: ``--data`` (folder holding ``train291`` and ``benchmark/``), ``--backbone`` (the
BasicSR checkpoint), ``--work`` (where experiments, results and the options written land).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import breakdown  # noqa: E402
import seeds  # noqa: E402

from clsr_plugin.evaluation.methods import CLSR_METHOD, METHODS, POST  # noqa: E402
from clsr_plugin.evaluation.paired import LEVEL, pair_key  # noqa: E402
from clsr_plugin.models.metrics_files import history_name, is_history, metrics_name  # noqa: E402
from clsr_plugin.utils.atomic import write_bytes, write_text  # noqa: E402
from clsr_plugin.utils.options import dump_yaml, load_yaml  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE_OPT = osp.join(REPO, "options", "adapters", "clsr_msrresnet_adapters_x4.yml")
RESULTS = osp.join(REPO, "docs", "results")
STATES = osp.join(RESULTS, "state")
#: each evaluated run's metrics and per-ROI values (gzip), committed so that the tables and
#: paired CIs survive a fresh clone (the work folder does not)
ARCHIVE = osp.join(RESULTS, "runs")


@dataclass(frozen=True)
class Run:
    """One row: how its training differs from the base options."""

    label: str
    context: str = "image"  # CLSR ``context``: image | window (the no-context control)
    lq_size: int | tuple[int, int] = 80  # LR context patch in training ((h, w) or a square)
    roi_size: int = 24  # training ROI
    placement: str = "random"  # ROI placement in training
    baselines: bool = False  # also evaluate pre-/post-cropping of the frozen backbone
    gcm: dict = field(default_factory=dict)  # CLSR ``gcm`` options over the base options'
    network: dict = field(default_factory=dict)  # other ``network_g`` keys (e.g. ``roi_pad``)
    #: evaluate this run's trained adapter instead of training (for rows whose training
    #: would compute exactly what that run's did)
    adapter_of: str | None = None
    freeze: tuple[str, ...] | None = None  # train.freeze (None: the base options')
    lr_multipliers: dict = field(default_factory=dict)  # train.lr_multipliers
    #: the committed adapter's name under docs/results (None: ``<arch>_<run>``)
    export_as: str | None = None
    #: the name under docs/results of its long run (``--budget cpu_long``, seed 0)
    export_long: str | None = None
    arch: str = "msrresnet"  # the frozen backbone: a key of ARCHS


@dataclass(frozen=True)
class Arch:
    """A frozen backbone the adapters are trained on."""

    backbone: dict | None  # network_g.backbone (None: the base options' MSRResNet)
    weights: str  # file under ../shared/pretrained
    reference: str  # the run (seed 0) that evaluates its pre-/post-cropping baselines


#: the backbones of the adapter rows (issue 21: EDSR and SwinIR-light, one run and its control)
ARCHS: dict[str, Arch] = {
    "msrresnet": Arch(None, "MSRResNet_x4_291set.pth", "r1"),
    "edsr": Arch(dict(type="EDSR", num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16,
                      upscale=4, res_scale=1, img_range=255.0,
                      rgb_mean=[0.4488, 0.4371, 0.4040]), "EDSR_x4_291set.pth", "e1"),
    "swinir_light": Arch(dict(type="SwinIR", upscale=4, in_chans=3, img_size=48, window_size=8,
                              img_range=1.0, depths=[6, 6, 6, 6], embed_dim=60,
                              num_heads=[6, 6, 6, 6], mlp_ratio=2,
                              upsampler="pixelshuffledirect", resi_connection="1conv"),
                         "SwinIR_light_x4_291set.pth", "w1"),
}  # fmt: skip
PRETRAINED = osp.join(REPO, "..", "shared", "pretrained")


RUNS: dict[str, Run] = {
    "r1": Run("R1: adapters, ROI 24 at random in 80x80 contexts", baselines=True),
    "r2": Run("R2: no-context control of R1 (context = ROI + roi_pad)", context="window"),
    "r3": Run("R3: R1 with the paper's recipe (ROI 48 centred in 54x54)", lq_size=54,
              roi_size=48, placement="center"),
    # GCM selection (issue 15). An 80x80 training context has 14x14 = 196 patches <= 256, so
    # with k = 256 both selections use every patch and training is R1's computation exactly
    # (tests/archs/test_patch_select.py): R4 evaluates R1's adapter with topk selection.
    "r4": Run("R4: R1's adapter, GCM topk selection (k 256, 64 nearest)",
              gcm={"selection": "topk"}, adapter_of="r1"),
    # with k = 64 < 196 the selection acts in training as well
    "r5": Run("R5: R1 with GCM k = 64 strided patches", gcm={"num_patches": 64}),
    "r6": Run("R6: R1 with GCM k = 64 topk patches (16 nearest)",
              gcm={"num_patches": 64, "selection": "topk"}),
    # cost (issue 14): a smaller base window; with baselines, so pre-cropping is padded alike
    "r7": Run("R7: R5 with roi_pad 4 (the default CLSR configuration)",
              gcm={"num_patches": 64}, network={"roi_pad": 4}, baselines=True,
              export_as="msrresnet_default"),
    "r8": Run("R8: R5 with roi_pad 0 (the bare ROI, the paper's pre-cropping window)",
              gcm={"num_patches": 64}, network={"roi_pad": 0}, baselines=True),
    "r9": Run("R9: roi_pad 2 with GCM k = 32 (at or below the paper's GFLOPs on BSD100)",
              gcm={"num_patches": 32}, network={"roi_pad": 2}, baselines=True),
    # recipes (issue 21), each beside its own control at equal budget
    "r10": Run("R10: R1 with the GCM fused after stage 2 of 0-3 (was 0)", gcm={"stage": 2}),
    "r11": Run("R11: no-context control of R10", context="window", gcm={"stage": 2}),
    "r12": Run("R12: R1 with G (the GCM's extractor) trained", freeze=("base",)),
    "r13": Run("R13: no-context control of R12", context="window", freeze=("base",)),
    "r14": Run("R14: R1 with 80x120 LR contexts (a whole landscape BSD200 image)",
               lq_size=(80, 120), export_long="msrresnet_best"),
    "r15": Run("R15: no-context control of R14", context="window", lq_size=(80, 120),
               export_long="msrresnet_best_control"),
    "r16": Run("R16: R1 with the base branch trained too, at lr x 0.01",
               freeze=("gcm.extractor",), lr_multipliers={"base": 0.01}),
    # the backbone alone (no GCM, no PIM: reported as pre_pad / post of the fine-tuned
    # backbone) fine-tuned exactly as R16's base branch: R16's moving baseline
    "r17": Run("R17: control of R16: the backbone alone fine-tuned at lr x 0.01",
               network={"pim": False, "gcm": False}, freeze=(), lr_multipliers={"base": 0.01},
               baselines=True),
    # the R1 recipe and its control on the other frozen backbones
    "e1": Run("E1: R1 on a frozen EDSR", baselines=True, arch="edsr"),
    "e2": Run("E2: no-context control of E1", context="window", arch="edsr"),
    "w1": Run("W1: R1 on a frozen SwinIR-light", baselines=True, arch="swinir_light"),
    "w2": Run("W2: no-context control of W1", context="window", arch="swinir_light"),
}  # fmt: skip

#: each recipe row -> its no-context control at equal budget (compared seed by seed in the table;
#: R17 is R16's moving baseline: the backbone fine-tuned alone)
CONTROLS = {"r1": "r2", "r10": "r11", "r12": "r13", "r14": "r15", "r16": "r17", "e1": "e2",
            "w1": "w2"}  # fmt: skip

#: budget -> training settings shared by every run
#: (``weights``: which weights are evaluated: ``params``, or ``params_ema``; the EMA decay of
#: 0.999 still holds 0.999^600 = 55% of the zero initialisation after 600 iterations, so the
#: short CPU runs are evaluated on their trained weights; ``exact``: the resumable loader of
#: the module docstring. The committed R1/R2 (seed 0, docs/results/logs) were trained before
#: it, with one persistent loader worker and ``dataset_enlarge_ratio: 100``: the same
#: distribution of training contexts, another random stream)
BUDGETS: dict[str, dict] = {
    "cpu": dict(iters=600, batch=8, lr=1e-3, num_gpu=0, threads=2, workers=1, ckpt=50,
                weights="params", exact=True),
    "gpu": dict(iters=20000, batch=16, lr=1e-3, num_gpu=1, threads=None, workers=4, ckpt=1000,
                weights="params_ema", exact=False),
    # the long CPU run: resumable over several working stretches, with a learning curve on
    # the validation split VAL_SPLIT (never an evaluation image) every val_freq iterations
    "cpu_long": dict(iters=4000, batch=8, lr=1e-3, num_gpu=0, threads=2, workers=1, ckpt=50,
                     weights="params", exact=True, val_freq=200),
}  # fmt: skip
#: evaluation sets (under ``<data>/benchmark``) -> images used (None: all; sorted by name).
#: Urban100_dev: img_001-020 (1570 ROIs of 24), what a 2-core CPU evaluates in minutes.
TEST_SETS: dict[str, int | None] = {"Set5": None, "Set14": None, "Urban100_dev": 20}
#: the validation split of budgets with ``val_freq`` (Urban100_dev img_046-050, listed in this
#: file) and what those budgets evaluate instead: img_001-045, none of the validation images
VAL_SPLIT = ("Urban100_dev", osp.join(osp.dirname(osp.abspath(__file__)), "urban100_dev_val.txt"))
VAL_TEST_SETS: dict[str, int | None] = {"Set5": None, "Set14": None, "Urban100_dev": 45}


def test_sets(budget: str) -> dict[str, int | None]:
    """Evaluation sets (name -> first N images) of a budget."""
    return VAL_TEST_SETS if BUDGETS[budget].get("val_freq") else TEST_SETS


TEST_ROIS = (24, 48)
#: context windows of clsr-bench (multiples of the ROI; 0 = the whole image)
CONTEXT_WINDOWS = (2, 4, 6, 0)


def parse_run(run: str) -> tuple[str, int]:
    """``(row of RUNS, seed)`` of a run id: ``r1`` -> ``('r1', 0)``, ``r1s2`` -> ``('r1', 2)``.

    Raises:
        ValueError: not a row of the table (with an optional ``s<seed>``).
    """
    row, _, seed = run.partition("s")
    if row not in RUNS or (seed and not seed.isdigit()) or run.endswith("s"):
        raise ValueError(f"unknown run {run!r}; the table has {list(RUNS)} (seed: e.g. r1s2)")
    return row, int(seed or 0)


def spec_of(run: str) -> Run:
    """The row of the table a run id names."""
    return RUNS[parse_run(run)[0]]


def run_dir(work: str, budget: str, run: str) -> str:
    """The folder of one run: options, experiments/, results/."""
    return osp.join(work, budget, run)


def train_options(run: str, budget: str, data: str, backbone: str) -> dict:
    """The clsr-train options of ``run`` at ``budget``."""
    (row, seed), b = parse_run(run), BUDGETS[budget]
    spec = RUNS[row]
    opt = load_yaml(BASE_OPT)
    opt["name"] = f"adapters_{spec.arch}_{run}_{budget}"
    if ARCHS[spec.arch].backbone is not None:
        opt["network_g"]["backbone"] = copy.deepcopy(ARCHS[spec.arch].backbone)
    opt["num_gpu"] = b["num_gpu"]
    opt["manual_seed"] = seed
    ds = opt["datasets"]["train"]
    ds.update(dataroot_gt=osp.join(data, "train291"), lq_size=spec.lq_size,
              roi_size=spec.roi_size, roi_placement=spec.placement,
              batch_size_per_gpu=b["batch"], num_worker_per_gpu=b["workers"])  # fmt: skip
    if isinstance(spec.lq_size, tuple) and spec.lq_size[0] != spec.lq_size[1]:
        ds["use_rot"] = False  # a 90-degree turn would mix 80x120 and 120x80 in one batch
    if b["exact"]:  # every checkpoint an epoch end, random state in the main process
        ds.update(samples_per_epoch=b["batch"] * b["ckpt"], dataset_enlarge_ratio=1,
                  num_worker_per_gpu=0, persistent_workers=False)  # fmt: skip
    opt["network_g"]["context"] = spec.context
    opt["network_g"]["gcm"].update(spec.gcm)
    opt["network_g"].update(spec.network)
    if spec.freeze is not None:
        opt["train"]["freeze"] = list(spec.freeze)
    if spec.lr_multipliers:
        opt["train"]["lr_multipliers"] = dict(spec.lr_multipliers)
    if opt["network_g"].get("pim") is False:  # no PIM: no PIM context loss
        opt["train"].pop("context_opt", None)
    opt["path"]["pretrain_network_backbone_g"] = osp.abspath(
        backbone or osp.join(PRETRAINED, ARCHS[spec.arch].weights)
    )
    if b.get("val_freq"):  # learning curve: CLSR and post-cropping on the validation split
        opt["datasets"]["val"] = dict(
            name=f"{VAL_SPLIT[0]}_val", type="LocalSRPairedDataset",
            dataroot_gt=osp.join(data, "benchmark", VAL_SPLIT[0]), meta_info_file=VAL_SPLIT[1],
            io_backend={"type": "disk"}, roi_size=24, roi_remainder="crop",
        )  # fmt: skip
        opt["val"] = dict(val_freq=b["val_freq"], save_img=False, baselines=[POST],
                          flops=False)  # fmt: skip
    tr = opt["train"]
    tr["total_iter"] = b["iters"]
    tr["optim_g"]["lr"] = b["lr"]
    tr["scheduler"]["periods"] = [b["iters"]]
    if "context_opt" in tr:
        tr["context_opt"]["end_iter"] = b["iters"]
    opt["logger"]["save_checkpoint_freq"] = b["ckpt"]
    return opt


def dataset_folder(data: str, work: str, dataset: str, limit: int | None) -> str:
    """The HR folder of ``dataset``, or a folder of links to its first ``limit`` images."""
    src = osp.join(data, "benchmark", dataset)
    if limit is None:
        return src
    dst = osp.join(work, "data", f"{dataset}_first{limit}")
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src))[:limit]:
        link = osp.join(dst, name)
        if not osp.lexists(link):
            os.symlink(osp.abspath(osp.join(src, name)), link)
    return dst


def test_label(dataset: str, roi: int, folder: str | None = None) -> str:
    """The dataset name in clsr-test's results: ``<folder name>_r<roi>``."""
    return f"{osp.basename(osp.normpath(folder)) if folder else dataset}_r{roi}"


def carries_baselines(run: str, budget: str) -> bool:
    """Whether ``run``'s test evaluates the frozen backbone's pre-/post-cropping baselines: once,
    with seed 0 (the seed changes nothing frozen), in the rows marked ``baselines``; at a budget
    with a validation split (which trains only the long rows, on other test images) in every
    seed-0 run, so that each long row can be compared without R1 at that budget."""
    spec, seed = spec_of(run), parse_run(run)[1]
    return seed == 0 and (spec.baselines or bool(BUDGETS[budget].get("val_freq")))


def reference_run(files: Mapping[str, Mapping], arch: str) -> str | None:
    """The run whose per-ROI file holds ``arch``'s post-cropping: its reference row, else the
    first seed-0 run that carries the baselines (:func:`carries_baselines`); None if none."""
    ref = ARCHS[arch].reference
    if ref in files:
        return ref
    return next((k for k in sorted(files) if POST in files[k]["images"][0]["mse"]), None)


def test_options(run: str, budget: str, data: str, backbone: str, dataset: str, roi: int,
                 adapter: str, folder: str | None = None) -> dict:  # fmt: skip
    """The clsr-test options of one (run, dataset, ROI size): whole LR image as context."""
    train = train_options(run, budget, data, backbone)
    label = test_label(dataset, roi, folder)
    return {
        "name": f"{train['name']}_{label}",
        "model_type": "LocalSRModel",
        "scale": train["scale"],
        "num_gpu": train["num_gpu"],
        "manual_seed": 0,
        "datasets": {
            "test_1": {
                "name": label,
                "type": "LocalSRPairedDataset",
                "dataroot_gt": folder or osp.join(data, "benchmark", dataset),
                "io_backend": {"type": "disk"},
                "roi_size": roi,
                "roi_remainder": "crop",
            }
        },
        "network_g": copy.deepcopy(train["network_g"]),
        "path": {
            "pretrain_network_backbone_g": train["path"]["pretrain_network_backbone_g"],
            "pretrain_network_adapter_g": osp.abspath(adapter),
        },
        "val": {
            "save_img": False,
            "baselines": carries_baselines(run, budget),
            "flops": True,
            "pbar": True,
            "per_roi": True,
        },
    }


def models_dir(work: str, budget: str, run: str) -> str:
    """The ``models/`` folder of a run's experiment."""
    name = train_options(run, budget, ".", ".")["name"]
    return osp.join(run_dir(work, budget, run), "experiments", name, "models")


def adapter_path(work: str, budget: str, run: str) -> str:
    """The adapter file evaluated: training's own (EMA) one, or one exported from the final
    checkpoint's ``params`` (:func:`clsr_plugin.inference.adapter_file.export_adapter`)."""
    key = BUDGETS[budget]["weights"]
    suffix = "" if key == "params_ema" else f"_{key}"
    return osp.join(models_dir(work, budget, run), f"net_g_latest{suffix}_adapter.safetensors")


def ensure_adapter(run: str, args) -> str:
    """The evaluated adapter file, exported from ``net_g_latest.pth`` when needed."""
    run = spec_of(run).adapter_of or run
    path = adapter_path(args.work, args.budget, run)
    key = BUDGETS[args.budget]["weights"]
    exported = export_path(run, args.budget)
    full = osp.join(models_dir(args.work, args.budget, run), "net_g_latest.pth")
    if not osp.isfile(path) and not osp.isfile(full):  # a fresh clone: a finished state?
        full = checkpoint_from_state(run, args) or full
    if not osp.isfile(path) and not osp.isfile(full) and osp.isfile(exported):
        print(f"[{run}] not trained here: evaluating the committed {exported}")
        return exported  # e.g. a fresh clone: the published R1 / R2
    if not osp.isfile(path) and key != "params_ema" and not args.dry_run:
        from clsr_plugin.inference.adapter_file import export_adapter

        opt = train_options(run, args.budget, args.data, args.backbone)
        export_adapter(full, opt["network_g"], opt["train"]["freeze"], path, key)
        print(f"[{run}] exported {key} of {full} -> {path}")
    return path


def checkpoint_from_state(run: str, args) -> str | None:
    """``net_g_<iters>.pth`` rebuilt from the run's committed state when that state is the
    finished run (iteration = the budget's), so a fresh clone tests or exports it without
    training; None otherwise."""
    from clsr_plugin.models import run_state

    src = state_dir(run, args.budget)
    meta = osp.join(src, run_state.META)
    iters = BUDGETS[args.budget]["iters"]
    if not osp.isfile(meta) or read_json(meta)["iter"] != iters:
        return None
    exp = osp.dirname(models_dir(args.work, args.budget, run))
    out = osp.join(exp, "models", f"net_g_{iters}.pth")
    if not osp.isfile(out) and not args.dry_run:
        opt = train_options(run, args.budget, args.data, args.backbone)
        run_state.import_run_state(src, exp, opt["network_g"],
                                   opt["path"]["pretrain_network_backbone_g"])  # fmt: skip
        print(f"[{run}] rebuilt the finished run's checkpoint from {src} -> {out}")
    return out


def bench_command(run: str, budget: str, folder: str, backbone: str, adapter: str, out: str,
                  images: int, roi: int = 24, opt: str | None = None) -> list[str]:  # fmt: skip
    """The clsr-bench call of a run: context-window trade-off and CPU/GPU time per ROI.

    The no-context control's context is its base window whatever the window, so it gets the
    whole-image row only. ``opt``: a YAML of the run's ``network_g`` (for rows whose CLSR
    options differ from their adapter's metadata, e.g. R4).
    """
    device = "cuda" if BUDGETS[budget]["num_gpu"] else "cpu"
    windows = CONTEXT_WINDOWS if spec_of(run).context == "image" else (0,)
    cmd = [sys.executable, "-m", "clsr_plugin.bench", "--weights", osp.abspath(backbone),
           "--adapter", osp.abspath(adapter), "--data", folder, "--roi", str(roi),
           "--device", device, "--multi-roi", "1", "--max-images", str(images),
           "--timing-images", "2", "--repeats", "2",
           "--context-windows", *map(str, windows), "--out", out]  # fmt: skip
    if BUDGETS[budget]["threads"]:
        cmd += ["--threads", str(BUDGETS[budget]["threads"])]
    if opt is not None:
        cmd += ["--opt", osp.abspath(opt)]
    return cmd


def _write_yaml(opt: dict, path: str) -> str:
    os.makedirs(osp.dirname(path), exist_ok=True)
    write_text(path, dump_yaml(opt))
    return path


def _call(cmd: list[str], cwd: str, dry: bool) -> None:
    print("+ (cd " + cwd + " && " + " ".join(cmd) + ")", flush=True)
    if not dry:
        subprocess.run(cmd, cwd=cwd, check=True)


def stage_train(run: str, args) -> None:
    """clsr-train with --auto_resume (a finished run only re-saves nothing and exits)."""
    if spec_of(run).adapter_of:
        print(f"[{run}] not trained: evaluates the adapter of {spec_of(run).adapter_of}")
        return
    rdir = run_dir(args.work, args.budget, run)
    opt = train_options(run, args.budget, args.data, args.backbone)
    opt_path = _write_yaml(opt, osp.join(rdir, "train.yml"))
    done = osp.join(models_dir(args.work, args.budget, run), "net_g_latest.pth")
    if osp.isfile(done):
        print(f"[{run}] trained already: {done}")
        return
    restore_state(run, opt, args)
    env_threads = BUDGETS[args.budget]["threads"]
    cmd = [sys.executable, "-m", "clsr_plugin.train", "-opt", osp.abspath(opt_path),
           "--auto_resume"]  # fmt: skip
    if env_threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(env_threads))
    _call(cmd, rdir, args.dry_run)


def stage_test(run: str, args) -> None:
    """clsr-test per (dataset, ROI size); skipped when its metrics JSON exists."""
    rdir = run_dir(args.work, args.budget, run)
    adapter = ensure_adapter(run, args)
    for dataset in args.sets:
        folder = dataset_folder(args.data, args.work, dataset, test_sets(args.budget).get(dataset))
        for roi in args.rois:
            opt = test_options(run, args.budget, args.data, args.backbone, dataset, roi, adapter,
                               folder)  # fmt: skip
            label = test_label(dataset, roi, folder)
            metrics = osp.join(rdir, "results", opt["name"], metrics_name(label))
            if osp.isfile(metrics):
                print(f"[{run}] {dataset} r{roi}: done ({metrics})")
                continue
            path = _write_yaml(opt, osp.join(rdir, f"test_{dataset}_r{roi}.yml"))
            _call([sys.executable, "-m", "clsr_plugin.test", "-opt", osp.abspath(path)], rdir,
                  args.dry_run)  # fmt: skip
    if not args.dry_run:
        archive_results(run, args)


def stage_bench(run: str, args) -> None:
    """clsr-bench of the run (context windows, ms per ROI); skipped when bench.json exists."""
    out = osp.join(run_dir(args.work, args.budget, run), "bench")
    if osp.isfile(osp.join(out, "bench.json")):
        print(f"[{run}] bench: done ({out})")
        return
    folder = dataset_folder(args.data, args.work, "Urban100_dev",
                            test_sets(args.budget)["Urban100_dev"])  # fmt: skip
    adapter = ensure_adapter(run, args)
    opt = None
    if spec_of(run).gcm or spec_of(run).network:
        net = train_options(run, args.budget, args.data, args.backbone)["network_g"]
        opt = _write_yaml({"network_g": net}, osp.join(out, "network.yml"))
    backbone = train_options(run, args.budget, args.data, args.backbone)["path"][
        "pretrain_network_backbone_g"
    ]
    cmd = bench_command(run, args.budget, folder, backbone, adapter, out, args.bench_images,
                        opt=opt)  # fmt: skip
    _call(cmd, REPO, args.dry_run)


def archive_dir(run: str, budget: str) -> str:
    """Where a run's evaluation results are committed."""
    return osp.join(ARCHIVE, run if budget == "cpu" else f"{run}_{budget}")


def _is_result(name: str) -> bool:
    """A test's metrics or per-ROI file (not a training run's validation history)."""
    return (name.endswith(".json") and name.startswith(("metrics_", "rois_"))
            and not is_history(name))  # fmt: skip


def archive_results(run: str, args) -> list[str]:
    """Copy the run's metrics and per-ROI JSON files (and its validation history) into
    :func:`archive_dir`, gzipped; returns the files written."""
    rdir = run_dir(args.work, args.budget, run)
    found = [osp.join(root, n) for root, _, files in os.walk(osp.join(rdir, "results"))
             for n in files if _is_result(n)]  # fmt: skip
    history = osp.join(osp.dirname(models_dir(args.work, args.budget, run)),
                       history_name(f"{VAL_SPLIT[0]}_val"))  # fmt: skip
    found += [history] if osp.isfile(history) else []
    dst = archive_dir(run, args.budget)
    os.makedirs(dst, exist_ok=True)
    written = []
    for src in sorted(found):
        out = osp.join(dst, osp.basename(src) + ".gz")
        with open(src, "rb") as f:
            write_bytes(out, gzip.compress(f.read(), mtime=0))
        written.append(out)
    if written:
        print(f"[{run}] {len(written)} result file(s) -> {dst}")
    return written


def read_json(path: str) -> dict:
    """A JSON file, gzipped (``.gz``) or not."""
    with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as f:
        return json.load(f)


def result_files(run: str, args) -> dict[str, str]:
    """File name -> path of the run's metrics and per-ROI JSON files: the work folder's, else
    the committed ones of :func:`archive_dir` (a fresh clone)."""
    out = {}
    adir = archive_dir(run, args.budget)
    for name in sorted(os.listdir(adir)) if osp.isdir(adir) else []:
        if _is_result(name.removesuffix(".gz")):
            out[name.removesuffix(".gz")] = osp.join(adir, name)
    for root, _, files in os.walk(osp.join(run_dir(args.work, args.budget, run), "results")):
        out.update({n: osp.join(root, n) for n in files if _is_result(n)})
    return out


def state_dir(run: str, budget: str) -> str:
    """Where a run's small training state is committed."""
    return osp.join(STATES, run if budget == "cpu" else f"{run}_{budget}")


def restore_state(run: str, opt: dict, args) -> None:
    """Rebuild the run's checkpoint from its committed small state when that is newer than
    what the work folder holds (a fresh clone: nothing)."""
    from clsr_plugin.models import run_state

    src = state_dir(run, args.budget)
    if not osp.isfile(osp.join(src, run_state.META)):
        return
    with open(osp.join(src, run_state.META)) as f:
        committed = json.load(f)["iter"]
    exp = osp.dirname(models_dir(args.work, args.budget, run))
    local = run_state.latest_state(exp)
    if local is not None and local >= committed:
        return
    print(f"[{run}] resuming from the committed state of iteration {committed} ({src})")
    if not args.dry_run:
        run_state.import_run_state(src, exp, opt["network_g"],
                                   opt["path"]["pretrain_network_backbone_g"])  # fmt: skip


def stage_save_state(run: str, args) -> None:
    """Write the run's latest training state to docs/results/state/<run>/ (to commit)."""
    from clsr_plugin.models import run_state

    opt = train_options(run, args.budget, args.data, args.backbone)
    exp = osp.dirname(models_dir(args.work, args.budget, run))
    meta = run_state.export_run_state(exp, state_dir(run, args.budget), opt["train"]["freeze"])
    size = sum(osp.getsize(osp.join(state_dir(run, args.budget), n))
               for n in os.listdir(state_dir(run, args.budget)))  # fmt: skip
    print(f"[{run}] state of iteration {meta['iter']} -> {state_dir(run, args.budget)} "
          f"({size / 1e6:.2f} MB)")  # fmt: skip


def export_path(run: str, budget: str = "cpu") -> str:
    """docs/results/<arch>_<run>[_<budget>].safetensors (E1 and W1: edsr_r1, swinir_light_r1;
    R7: msrresnet_default; the long R14 / R15: msrresnet_best, msrresnet_best_control)."""
    spec = spec_of(run)
    name = spec.export_long if budget == "cpu_long" else spec.export_as
    if name and parse_run(run)[1] == 0:
        return osp.join(RESULTS, f"{name}.safetensors")
    name = run if spec.arch == "msrresnet" else "r" + run[1:]
    suffix = "" if budget == "cpu" else f"_{budget}"
    return osp.join(RESULTS, f"{spec.arch}_{name}{suffix}.safetensors")


def stage_export(run: str, args) -> None:
    """Copy the run's adapter to :func:`export_path`."""
    os.makedirs(RESULTS, exist_ok=True)
    dst = export_path(run, args.budget)
    shutil.copyfile(ensure_adapter(run, args), dst)
    print(f"[{run}] -> {dst}")


def collect(args) -> dict:
    """Every metrics JSON and bench.json of the runs, keyed by run / dataset, and the
    breakdowns by ROI position and image of every dataset all runs were tested on."""
    out: dict = {"budget": args.budget, "settings": BUDGETS[args.budget], "runs": {},
                 "breakdown": {}}  # fmt: skip
    per_roi: dict[str, dict[str, dict]] = {}
    for run in run_ids(args.work, args.budget):
        rdir = run_dir(args.work, args.budget, run)
        row, seed = parse_run(run)
        label = RUNS[row].label + (f" (seed {seed})" if seed else "")
        entry: dict = {"label": label, "metrics": {}}
        for name, path in sorted(result_files(run, args).items()):
            if name.startswith("metrics_"):
                m = read_json(path)
                entry["metrics"][m["dataset"]] = m
            else:
                r = read_json(path)
                per_roi.setdefault(r["dataset"], {})[run] = r
        exp = osp.dirname(models_dir(args.work, args.budget, run))
        curve = learning_curve(exp, archive_dir(run, args.budget), state_dir(run, args.budget))
        if curve:
            entry["curve"] = curve
        bench = osp.join(rdir, "bench", "bench.json")
        if osp.isfile(bench):
            with open(bench) as f:
                entry["bench"] = json.load(f)
        if entry["metrics"] or "bench" in entry or curve:  # else: neither evaluated nor validated
            out["runs"][run] = entry
    out["seeds"] = {}
    for ds, all_files in per_roi.items():
        for arch in ARCHS:  # each backbone against its own post-cropping
            files = {k: v for k, v in all_files.items() if spec_of(k).arch == arch}
            ref = reference_run(files, arch)
            key = ds if arch == "msrresnet" else f"{ds} ({arch})"
            if ref is None:  # no run of this backbone carries the baselines
                continue
            rows = {k: v for k, v in files.items() if k in RUNS and k != ref}  # seed 0 only
            out["breakdown"][key] = breakdown.breakdown({ref: files[ref], **rows}, f"{ref}:post")
            if len(files) > 1:  # the reference and at least one other run or seed
                out["seeds"][key] = seeds.seed_table(
                    files, parse_run, reference=(ref, POST), contrasts=tuple(CONTROLS.items())
                )
    return out


def learning_curve(experiment: str, committed: str | None = None,
                   state: str | None = None) -> list[dict]:  # fmt: skip
    """Per validation of a run on :data:`VAL_SPLIT`: the iteration, the CLSR's PSNR per image
    and its paired difference to post-cropping per image (``[]`` without validations). Read
    from the experiment folder, else from ``committed`` (the run's :func:`archive_dir`), else
    from ``state`` (its committed training state, :func:`state_dir`: an unfinished run)."""
    name = history_name(f"{VAL_SPLIT[0]}_val")
    candidates = [osp.join(experiment, name)]
    candidates += [osp.join(committed, name + ".gz")] if committed else []
    candidates += [osp.join(state, name)] if state else []
    path = next((p for p in candidates if osp.isfile(p)), None)
    if path is None:
        return []
    history = read_json(path)
    return [dict(iter=h["iter"], psnr_img=h.get("clsr/psnr_img"),
                 minus_post=(h.get("paired") or {}).get("image", {}).get("clsr - post"))
            for h in history]  # fmt: skip


def curve_markdown(curve: list[dict]) -> str:
    """A learning curve as Markdown."""
    from clsr_plugin.evaluation.paired import PairedDifference

    lines = ["| iteration | CLSR PSNR per image | minus post per image [95% CI] |",
             "|---:|---:|---|"]  # fmt: skip
    for row in curve:
        d = row["minus_post"]
        cell = "-" if d is None else PairedDifference.from_dict(d).format(nd=4)
        psnr = "-" if row["psnr_img"] is None else f"{row['psnr_img']:.4f}"
        lines.append(f"| {row['iter']} | {psnr} | {cell} |")
    return "\n".join(lines)


def run_ids(work: str, budget: str) -> list[str]:
    """The run ids with a folder under ``<work>/<budget>``, committed results
    (:func:`archive_dir`) or a committed training state (:func:`state_dir`), table order, then
    by seed."""
    root = osp.join(work, budget)
    names = set(os.listdir(root)) if osp.isdir(root) else set()
    suffix = "" if budget == "cpu" else f"_{budget}"
    for folder in (ARCHIVE, STATES):
        for name in os.listdir(folder) if osp.isdir(folder) else []:
            if name.endswith(suffix) and (suffix or "_" not in name):
                names.add(name.removesuffix(suffix) if suffix else name)
    found = []
    for name in names:
        try:
            found.append((list(RUNS).index(parse_run(name)[0]), parse_run(name)[1], name))
        except ValueError:
            continue
    return [name for *_, name in sorted(found)]


def merge_committed(data: dict, committed: dict) -> dict:
    """``data`` plus what ``committed`` (an earlier adapters.json of the same budget) holds of
    runs and breakdowns this machine has no results for (e.g. a fresh clone)."""
    if committed.get("budget") != data["budget"]:
        return data
    for key in ("runs", "breakdown", "seeds"):
        for name, value in committed.get(key, {}).items():
            data[key].setdefault(name, value)
    # a seed table recomputed here from fewer runs (per-ROI files lost with a machine) keeps
    # the committed runs and per-seed contrasts; the seed-averaged CIs stay those computed
    for ds, table in committed.get("seeds", {}).items():
        if data["seeds"][ds] is not table:
            data["seeds"][ds] = seeds.merge_tables(data["seeds"][ds], table)
    return data


def table_path(budget: str) -> str:
    """docs/results/adapters.json (the CPU budget) or adapters_<budget>.json."""
    return osp.join(RESULTS, "adapters.json" if budget == "cpu" else f"adapters_{budget}.json")


def stage_table(args) -> None:
    """Write :func:`table_path` (kept entries of runs not here) and print the table."""
    data = collect(args)
    os.makedirs(RESULTS, exist_ok=True)
    path = table_path(args.budget)
    if osp.isfile(path):
        with open(path) as f:
            data = merge_committed(data, json.load(f))
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    print(markdown_table(data))
    for ds, result in data["breakdown"].items():
        print(f"\n{ds}: PSNR of the pooled MSE minus post-cropping, by ROI position and image")
        print(breakdown.to_markdown(result))
    for run, entry in data["runs"].items():
        if entry.get("curve"):
            print(f"\n{run}: learning curve on {VAL_SPLIT[0]} img_046-050 (validation split)")
            print(curve_markdown(entry["curve"]))
    for ds, table in data.get("seeds", {}).items():
        print(f"\n{ds}: seeds (PSNR of the pooled MSE per image)")
        print(seeds.to_markdown(table))


def paired_cells(metrics: dict, method: str, reference: str = POST) -> list[str]:
    """``mean [low, high]`` and ``gain/lose of n`` of ``method - reference`` per image, read
    from the ``paired`` entry clsr-test writes into its metrics JSON ("-" without one)."""
    d = (metrics.get("paired") or {}).get("image", {}).get(pair_key(method, reference))
    if d is None:
        return ["-", "-"]
    return [f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]",
            f"{d['gain']}/{d['lose']} of {d['n']}"]  # fmt: skip


def run_name(run: str) -> str:
    """A run id as the table prints it: ``r15s1`` -> ``R15 s1``, ``r14`` -> ``R14``."""
    row, seed = parse_run(run)
    return row.upper() + (f" s{seed}" if seed else "")


def seed_cells(seed_tables: dict, dataset: str, run: str) -> list[str]:
    """The cells of :func:`paired_cells` for a run whose metrics hold no post-cropping (a seed
    without baselines): its paired difference to the reference run's post-cropping, from the
    seed table of ``dataset`` (:func:`seeds.seed_table`), marked with the reference ("-"
    without one)."""
    for key, table in seed_tables.items():
        if key != dataset and not key.startswith(f"{dataset} ("):
            continue
        d = table.get("runs", {}).get(run, {}).get("minus_ref")
        if d is not None:
            return [f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] "
                    f"(vs {table['reference']})",
                    f"{d['gain']}/{d['lose']} of {d['n']}"]  # fmt: skip
    return ["-", "-"]


def markdown_table(data: dict) -> str:
    """PSNR (both protocols), SSIM and GFLOPs per ROI of every method and run, and the paired
    difference to post-cropping per image (mean, bootstrap CI, images that gain / lose; "-"
    where the metrics hold none, e.g. runs without baselines or older results)."""
    lines = ["| set | method | PSNR per ROI | PSNR per image | SSIM per ROI | GFLOPs/ROI "
             f"| minus post per image [{LEVEL:.0%} CI] | images gain/lose |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    rows: dict[str, list[str]] = {}
    for run, entry in data["runs"].items():
        for ds, m in entry["metrics"].items():
            methods = list(METHODS) if spec_of(run).baselines else [CLSR_METHOD]
            for meth in methods:
                if f"{meth}/psnr_roi" not in m:
                    continue
                name = run_name(run) if meth == CLSR_METHOD else meth
                gflops = m.get(f"{meth}/gflops", float("nan"))
                cells = paired_cells(m, meth)
                if cells[0] == "-" and meth == CLSR_METHOD:  # no baselines: the reference's
                    cells = seed_cells(data.get("seeds", {}), ds, run)
                rows.setdefault(ds, []).append(
                    f"| {ds} | {name} | {m[f'{meth}/psnr_roi']:.4f} | {m[f'{meth}/psnr_img']:.4f}"
                    f" | {m[f'{meth}/ssim_roi']:.4f} | {gflops:.2f} | {' | '.join(cells)} |"
                )
    for ds in sorted(rows):
        lines += rows[ds]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The driver's command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["train", "save-state", "test", "bench", "export",
                                      "table", "all"])  # fmt: skip
    ap.add_argument("runs", nargs="*", help=f"run ids: rows of the table, optionally with a "
                    f"seed as r1s2 (default: all of {list(RUNS)})")  # fmt: skip
    ap.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    ap.add_argument(
        "--data",
        default=osp.join(REPO, "..", "shared", "datasets"),
        help="folder with train291/ and benchmark/<set>/ (HR images)",
    )
    ap.add_argument(
        "--backbone",
        default=None,
        help="the frozen backbone's BasicSR checkpoint (default: the run's backbone, ARCHS, "
        "under ../shared/pretrained)",
    )
    ap.add_argument("--work", default=osp.join(REPO, "work", "adapters"))
    ap.add_argument("--sets", nargs="+", default=list(TEST_SETS))
    ap.add_argument("--rois", nargs="+", type=int, default=list(TEST_ROIS))
    ap.add_argument("--bench-images", type=int, default=6, help="images clsr-bench reads")
    ap.add_argument("--dry-run", action="store_true", help="print the calls only")
    return ap  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the stage(s)."""
    args = build_parser().parse_args(argv)
    runs = args.runs or list(RUNS)
    for run in runs:
        try:
            parse_run(run)
        except ValueError as err:
            print(f"driver: error: {err}", file=sys.stderr)
            return 2
    stages = {"train": stage_train, "save-state": stage_save_state, "test": stage_test,
              "bench": stage_bench, "export": stage_export}  # fmt: skip
    if args.stage == "table":
        stage_table(args)
        return 0
    for stage in ["train", "test", "bench", "export"] if args.stage == "all" else [args.stage]:
        for run in runs:
            stages[stage](run, args)
    if args.stage == "all":
        stage_table(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
