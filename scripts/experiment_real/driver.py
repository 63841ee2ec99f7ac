"""Stages of the real-data experiment: prep, probe, train, eval, time, breakdown, export, collect.

Run from anywhere; everything is written under ``--work`` (default ``$EXP_WORK`` or
``/tmp/exp_work``): ``data/`` (prepared LMDBs and benchmarks), ``options/`` (the effective YAML
of every step), ``experiments/`` and ``results/`` (BasicSR's own folders), ``collect/`` (one JSON
per run, benchmark, ROI size and data part; the input of ``make_results.py``) and ``export/``
(``params_ema`` of every trained run, for a later call that evaluates on other data).

    python scripts/experiment_real/driver.py prep
    python scripts/experiment_real/driver.py probe            # choose iterations (GPU)
    python scripts/experiment_real/driver.py train clsr_msrresnet
    python scripts/experiment_real/driver.py eval clsr_msrresnet
    python scripts/experiment_real/driver.py table --out docs/RESULTS.md

Environment overrides (smoke runs): ``EXP_ITERS``, ``EXP_BATCH``, ``EXP_WORKERS``,
``EXP_TRAIN_LIMIT`` (first N training images), ``EXP_SETS`` (comma-separated benchmarks),
``EXP_ROI_SIZES`` (comma-separated), ``EXP_PACK`` (packed inputs), ``EXP_PROBE_STEPS``,
``EXP_PARTS`` (the Urban100_dev parts to prepare and test, e.g. ``urban_2``).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
import time

from exp_options import (
    BENCHMARKS,
    PACK_PREFIX,
    REPO,
    ROI_SIZES,
    RUNS,
    experiment_name,
    get_run,
    load_yaml,
    test_options,
    train_options,
    write_yaml,
)

DEFAULT_ITERS = 2000


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"error: {name} must be an integer, got {value!r}") from None


def _num_gpu() -> int:
    import torch

    return 1 if torch.cuda.is_available() else 0


def _py_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _run(cmd: list[str], cwd: str) -> float:
    print(f"[exp] $ (cd {cwd}) {' '.join(cmd)}", flush=True)
    start = time.time()
    proc = subprocess.run(cmd, cwd=cwd, env=_py_env())
    if proc.returncode != 0:
        raise SystemExit(f"[exp] command failed (exit {proc.returncode}): {' '.join(cmd[:4])}")
    return time.time() - start


class Layout:
    """Paths of one experiment work folder."""

    def __init__(self, work: str, pack: str):
        self.work = osp.abspath(work)
        self.pack = osp.abspath(pack)
        self.data = osp.join(self.work, "data")
        self.options = osp.join(self.work, "options")
        self.collect = osp.join(self.work, "collect")
        self.export = osp.join(self.work, "export")
        for folder in (self.work, self.options, self.collect):
            os.makedirs(folder, exist_ok=True)

    def urban_parts(self) -> list[str]:
        """Names of the Urban100_dev parts carried here (``urban_1`` ...)."""
        found = glob.glob(osp.join(self.pack, "urban_*", "Urban100_dev"))
        parts = sorted(osp.basename(osp.dirname(p)) for p in found)
        wanted = os.environ.get("EXP_PARTS")  # e.g. "urban_2": only the part this call carries
        return [p for p in parts if p in _csv(wanted, ())] if wanted else parts

    def bench_groups(self, sets: list[str]) -> list[tuple[str, dict[str, str]]]:
        """(part, {benchmark: prepared root}) for every prepared benchmark in ``sets``."""
        groups = []
        small = {
            s: osp.join(self.data, "bench", s)
            for s in sets
            if s != "Urban100_dev" and osp.isdir(osp.join(self.data, "bench", s, "HR"))
        }
        if small:
            groups.append(("all", small))
        if "Urban100_dev" in sets:
            for part in self.urban_parts():
                root = osp.join(self.data, part, "Urban100_dev")
                if osp.isdir(osp.join(root, "HR")):
                    groups.append((part, {"Urban100_dev": root}))
        return groups

    def iters(self) -> int:
        """EXP_ITERS, else what ``probe`` chose, else the default."""
        env = _env_int("EXP_ITERS")
        if env is not None:
            return env
        path = osp.join(self.work, "iters.json")
        if osp.isfile(path):
            with open(path) as f:
                return int(json.load(f)["iters"])
        return DEFAULT_ITERS

    def trained_weights(self, run: str) -> str:
        """The run's checkpoint: trained here, or carried in ``<pack>/trained/<run>.pth``."""
        for path in (
            osp.join(
                self.work,
                "experiments",
                experiment_name(run, self.iters()),
                "models",
                "net_g_latest.pth",
            ),
            osp.join(self.pack, "trained", f"{run}.pth"),
        ):
            if osp.isfile(path):
                return path
        raise SystemExit(f"error: no weights for run {run!r} (train it or carry trained/{run}.pth)")

    def backbone_weights(self, run: str) -> str:
        opt = load_yaml(
            osp.join(REPO, "options", "experiment", f"clsr_{get_run(run).backbone}_291.yml")
        )
        rel = opt["path"]["pretrain_network_backbone_g"]
        return osp.join(self.pack, rel[len(PACK_PREFIX) + 1 :])


# ---------------------------------------------------------------------------------------- stages
def stage_prep(lay: Layout, workers: int) -> None:
    """datasets_prep on whatever was carried: train291 (LMDB), Set5/Set14, Urban100_dev parts."""
    py = sys.executable
    train_src = osp.join(lay.pack, "train291")
    if osp.isdir(train_src):
        limit = _env_int("EXP_TRAIN_LIMIT")
        if limit:
            subset = osp.join(lay.work, f"train291_first{limit}")
            os.makedirs(subset, exist_ok=True)
            for name in sorted(os.listdir(train_src))[:limit]:
                link = osp.join(subset, name)
                if not osp.lexists(link) and not name.startswith("."):
                    os.symlink(osp.join(train_src, name), link)
            train_src = subset
        took = _run(
            [py, "-m", "datasets_prep.prepare_div2k", "--hr", train_src, "--out", lay.data]
            + ["--prefix", "train291", "--scale", "4", "--crop", "240", "--step", "120"]
            + ["--thresh", "24", "--workers", str(workers)],
            REPO,
        )
        print(f"[exp] train291 prepared in {took:.1f} s", flush=True)
    wanted = _csv(os.environ.get("EXP_SETS"), BENCHMARKS)
    small = [
        osp.join(lay.pack, "bench", s)
        for s in ("Set5", "Set14")
        if s in wanted and osp.isdir(osp.join(lay.pack, "bench", s))
    ]
    if small:
        _run(
            [py, "-m", "datasets_prep.prepare_benchmark", "--src", *small]
            + ["--out", osp.join(lay.data, "bench"), "--scale", "4", "--workers", str(workers)],
            REPO,
        )
    for part in lay.urban_parts():
        _run(
            [py, "-m", "datasets_prep.prepare_benchmark"]
            + ["--src", osp.join(lay.pack, part, "Urban100_dev")]
            + ["--out", osp.join(lay.data, part), "--scale", "4", "--workers", str(workers)],
            REPO,
        )


def _train_opt(lay: Layout, run: str, iters: int) -> dict:
    return train_options(
        run,
        iters,
        lay.pack,
        lay.data,
        num_gpu=_num_gpu(),
        batch=_env_int("EXP_BATCH"),
        workers=_env_int("EXP_WORKERS"),
    )


def stage_train(lay: Layout, run: str) -> None:
    """BasicSR training of ``run`` (resumes an interrupted one; a finished one is skipped)."""
    iters = lay.iters()
    opt = _train_opt(lay, run, iters)
    if osp.isfile(osp.join(lay.work, "experiments", opt["name"], "models", "net_g_latest.pth")):
        print(f"[exp] {run}: already trained, skipped", flush=True)
        return
    path = osp.join(lay.options, f"train_{run}.yml")
    write_yaml(opt, path)
    took = _run(
        [sys.executable, "-m", "clsr_plugin.train", "-opt", path, "--auto_resume"], lay.work
    )
    record = {
        "run": run,
        "iters": iters,
        "seconds": took,
        "batch": opt["datasets"]["train"]["batch_size_per_gpu"],
    }
    with open(osp.join(lay.collect, f"train__{run}.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(f"[exp] {run}: {iters} iterations in {took:.0f} s", flush=True)


def stage_eval(lay: Layout, run: str, sets: list[str], rois: tuple[int, ...], flops: bool) -> None:
    """ROI-wise test of ``run`` on every prepared benchmark in ``sets``; JSONs into collect/."""
    weights = _weights(lay, run)
    groups = lay.bench_groups(sets)
    if not groups:
        raise SystemExit(f"error: none of {sets} is prepared under {lay.data} (run prep)")
    for part, roots in groups:
        opt = test_options(run, weights, roots, rois, num_gpu=_num_gpu(), flops=flops)
        path = osp.join(lay.options, f"test_{run}_{part}.yml")
        write_yaml(opt, path)
        results = osp.join(lay.work, "results", opt["name"])
        if osp.isdir(results):  # BasicSR would archive it under a new name
            shutil.rmtree(results)
        took = _run([sys.executable, "-m", "clsr_plugin.test", "-opt", path], lay.work)
        for ds in opt["datasets"].values():
            with open(osp.join(results, f"metrics_{ds['name']}.json")) as f:
                metrics = json.load(f)
            bench, roi = ds["name"].rsplit("_r", 1)
            n_images = len([n for n in os.listdir(ds["dataroot_gt"]) if not n.startswith(".")])
            record = {
                "run": run,
                "benchmark": bench,
                "roi": int(roi),
                "part": part,
                "n_images": n_images,
                "weights": osp.basename(weights),
                "device": _device_name(),
                "metrics": metrics,
            }
            out = osp.join(lay.collect, f"metrics__{run}__{bench}__r{roi}__{part}.json")
            with open(out, "w") as f:
                json.dump(record, f, indent=1)
        print(f"[exp] {run} on {sorted(roots)} ({part}): {took:.0f} s", flush=True)


def _device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def _weights(lay: Layout, run: str) -> str:
    kind = get_run(run).kind
    return lay.backbone_weights(run) if kind == "backbone" else lay.trained_weights(run)


def stage_breakdown(lay: Layout, run: str, ref: str, sets: list[str], rois: tuple) -> None:
    """Per-ROI PSNR of ``run`` (CLSR) against ``ref``'s post/pre-cropping, by ROI position."""
    from roi_breakdown import breakdown

    gpu = _num_gpu()
    for part, roots in lay.bench_groups(sets):
        opt_a = test_options(run, _weights(lay, run), roots, rois, num_gpu=gpu, flops=False)
        opt_b = test_options(ref, _weights(lay, ref), roots, rois, num_gpu=gpu, flops=False)
        record = {"run": run, "ref": ref, "part": part, "datasets": breakdown(opt_a, opt_b)}
        with open(osp.join(lay.collect, f"breakdown__{run}__{part}.json"), "w") as f:
            json.dump(record, f, indent=1)
        print(f"[exp] breakdown {run} vs {ref} ({part}) written", flush=True)


def stage_export(lay: Layout, run: str) -> str:
    """``params_ema`` of a trained run into ``export/<run>.pth`` (half the checkpoint)."""
    import torch

    src = osp.join(
        lay.work, "experiments", experiment_name(run, lay.iters()), "models", "net_g_latest.pth"
    )
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    os.makedirs(lay.export, exist_ok=True)
    dst = osp.join(lay.export, f"{run}.pth")
    torch.save({"params_ema": ckpt.get("params_ema", ckpt.get("params"))}, dst)
    print(f"[exp] exported {dst} ({osp.getsize(dst) / 2**20:.1f} MiB)", flush=True)
    return dst


def stage_probe(lay: Layout, run: str, budget_s: float, steps: int) -> int:
    """Time training steps of ``run`` on random batches and choose the iteration count."""
    from probe_speed import seconds_per_iter

    opt = _train_opt(lay, run, DEFAULT_ITERS)
    sec = seconds_per_iter(opt, steps)
    iters = max(200, min(5000, int(budget_s / sec) // 100 * 100))
    record = {"run": run, "seconds_per_iter": sec, "budget_s": budget_s, "iters": iters}
    with open(osp.join(lay.work, "iters.json"), "w") as f:
        json.dump(record, f, indent=1)
    shutil.copyfile(osp.join(lay.work, "iters.json"), osp.join(lay.collect, "probe.json"))
    print(f"[exp] probe {run}: {sec * 1000:.1f} ms/iter -> {iters} iterations", flush=True)
    return iters


def stage_collect(lay: Layout, out: str, tag: str) -> None:
    """Pack collect/, options/ and logs into ``<out>/<tag>_results.tar.gz``; weights beside it."""
    os.makedirs(out, exist_ok=True)
    tar_path = osp.join(out, f"{tag}_results.tar.gz")
    with tarfile.open(tar_path, "w:gz") as tar:
        for folder in ("collect", "options"):
            tar.add(osp.join(lay.work, folder), arcname=f"{tag}/{folder}")
        logs = glob.glob(osp.join(lay.work, "experiments", "*", "*.log"))
        logs += glob.glob(osp.join(lay.work, "results", "*", "*.log"))
        for log in logs:
            tar.add(log, arcname=f"{tag}/logs/{osp.basename(osp.dirname(log))}.log")
    for pth in sorted(glob.glob(osp.join(lay.export, "*.pth"))):
        shutil.copyfile(pth, osp.join(out, osp.basename(pth)))
    print(f"[exp] collected into {out}: {sorted(os.listdir(out))}", flush=True)


# ------------------------------------------------------------------------------------------ main
def _csv(value: str | None, default: tuple) -> list:
    return [v.strip() for v in value.split(",") if v.strip()] if value else list(default)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default=os.environ.get("EXP_WORK", "/tmp/exp_work"))
    p.add_argument(
        "--pack",
        default=os.environ.get("EXP_PACK", osp.join(REPO, PACK_PREFIX)),
        help="pack_inputs.py output (default $EXP_PACK or datasets/exp_real)",
    )
    sub = p.add_subparsers(dest="stage", required=True)
    s = sub.add_parser("prep")
    s.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    s = sub.add_parser("probe")
    s.add_argument("--run", default="clsr_msrresnet")
    s.add_argument("--budget-s", type=float, default=100.0, help="training seconds per run")
    s.add_argument("--steps", type=int, default=_env_int("EXP_PROBE_STEPS") or 30)
    for name in ("train", "export"):
        s = sub.add_parser(name)
        s.add_argument("runs", nargs="+", choices=sorted(RUNS))
    s = sub.add_parser("eval")
    s.add_argument("runs", nargs="+", choices=sorted(RUNS))
    s.add_argument("--sets", default=os.environ.get("EXP_SETS"), help="e.g. Set5,Set14")
    s.add_argument("--rois", default=os.environ.get("EXP_ROI_SIZES"), help="e.g. 24,48")
    s.add_argument("--no-flops", action="store_true", help="skip the MACs count")
    s = sub.add_parser("time")
    s.add_argument("runs", nargs="+", choices=sorted(RUNS))
    s.add_argument("--sets", default=os.environ.get("EXP_SETS"))
    s.add_argument("--rois", default=os.environ.get("EXP_ROI_SIZES"))
    s.add_argument("--images", type=int, default=5, help="images per benchmark")
    s = sub.add_parser("breakdown")
    s.add_argument("run", choices=sorted(RUNS))
    s.add_argument("--ref", required=True, choices=sorted(RUNS), help="e.g. srmodel_msrresnet")
    s.add_argument("--sets", default=os.environ.get("EXP_SETS"))
    s.add_argument("--rois", default=os.environ.get("EXP_ROI_SIZES"))
    s = sub.add_parser("collect")
    s.add_argument("--out", required=True)
    s.add_argument("--tag", required=True)
    args = p.parse_args(argv)
    lay = Layout(args.work, args.pack)

    if args.stage == "prep":
        stage_prep(lay, args.workers)
    elif args.stage == "probe":
        stage_probe(lay, args.run, args.budget_s, args.steps)
    elif args.stage == "train":
        for run in args.runs:
            stage_train(lay, run)
    elif args.stage == "export":
        for run in args.runs:
            stage_export(lay, run)
    elif args.stage in ("eval", "time"):
        sets = _csv(args.sets, BENCHMARKS)
        rois = tuple(int(r) for r in _csv(args.rois, ROI_SIZES))
        for run in args.runs:
            if args.stage == "eval":
                stage_eval(lay, run, sets, rois, flops=not args.no_flops)
            else:
                from time_rois import time_run

                weights = _weights(lay, run)
                for part, roots in lay.bench_groups(sets):
                    opt = test_options(run, weights, roots, rois, num_gpu=_num_gpu(), flops=False)
                    record = {"run": run, "part": part, **time_run(opt, args.images)}
                    out = osp.join(lay.collect, f"timing__{run}__{part}.json")
                    with open(out, "w") as f:
                        json.dump(record, f, indent=1)
    elif args.stage == "breakdown":
        sets = _csv(args.sets, BENCHMARKS)
        rois = tuple(int(r) for r in _csv(args.rois, ROI_SIZES))
        stage_breakdown(lay, args.run, args.ref, sets, rois)
    elif args.stage == "collect":
        stage_collect(lay, args.out, args.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
