"""Context adapters for a user's own backbone: the recipe behind ``clsr-adapt``.

A plain BasicSR backbone checkpoint is kept frozen bit for bit; only the context branches
around it (GCM without its extractor G, PIM, the fusions) are trained, with the recipe of
``options/adapters/clsr_msrresnet_adapters_x4.yml``: an ROI (default 24 LR px) at random
positions inside LR contexts at least 3x its size, LR made on the fly from the HR images with
MATLAB bicubic. The user's folder is split by name: the last ``val_images`` images (sorted) are
the validation split, never trained on; every checkpoint is validated on it (clsr only) and the
best one (pooled PSNR per image) is kept. The report compares pre-cropping without and with
padding, post-cropping and the CLSR on the validation split, with the paired 95% CI of CLSR -
post and CLSR - pre_pad (:mod:`clsr_plugin.evaluation.paired`).

Layout under ``out``: ``data/{train,val}.txt`` (the split), ``options/`` (the generated
training and test options), ``experiments/adapt`` (BasicSR's run: checkpoints, states, log,
``metrics_history_val.json``), ``adapter.safetensors`` (the best checkpoint's adapter),
``report.md`` / ``report.json`` and the marker ``adapt_finished.json``. Re-running resumes an
unfinished training (BasicSR's ``--auto_resume``); a finished one is only reported again unless
``overwrite``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from clsr_plugin.evaluation.methods import CLSR_METHOD, UNTRAINED_EQUIVALENT
from clsr_plugin.evaluation.paired import pair_key
from clsr_plugin.models.metrics_files import history_name, metrics_name
from clsr_plugin.utils.atomic import write_bytes, write_text

#: the recipe whose training settings clsr-adapt uses
RECIPE = "msrresnet_adapters"
#: experiment name under ``<out>/experiments``, validation dataset name
EXPERIMENT, VAL_NAME = "adapt", "val"
MARKER, ADAPTER, REPORT = "adapt_finished.json", "adapter.safetensors", "report"
#: the smallest context, in ROI sizes (the base window alone is ROI + 2 x roi_pad)
MIN_CONTEXT_ROIS = 3
MIN_TRAIN_IMAGES = 2
_ITER_LINE = re.compile(r"\[epoch:\s*\d+, iter:\s*([\d,]+)")
_START_LINE = re.compile(r"(?:Start|Resuming) training from epoch: \d+, iter: (\d+)")
#: BasicSR's own prints that say nothing to the user of a one-process CPU run
_NOISE = {"Disable distributed."}
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+): ")


@dataclass
class AdaptSettings:
    """What ``clsr-adapt`` was asked for (see its ``--help``)."""

    weights: str
    data: str
    out: str
    opt: str | None = None
    iters: int = 600
    roi: int = 24
    context: int = 80
    val_images: int | None = None
    val_freq: int | None = None
    batch: int = 8
    lr: float | None = None
    seed: int = 0
    threads: int = 1
    overwrite: bool = False


def adapter_network(opt: str | None) -> dict:
    """The CLSR ``network_g`` to train: the recipe's, with the backbone (and CLSR settings, when
    ``opt`` defines a CLSR) of ``opt`` (a path or a shipped name; None: the recipe's own).

    Raises:
        ValueError: options without a network, or a backbone type no adapter exists for.
    """
    from clsr_plugin.archs.adapters import ADAPTERS
    from clsr_plugin.inference.api import read_network_opt
    from clsr_plugin.option_files import resolve_options

    recipe, _ = read_network_opt(resolve_options(RECIPE, "train"))
    if opt is None:
        net = recipe
    else:
        given, _ = read_network_opt(opt)
        net = given if given["type"] == "CLSR" else dict(recipe, backbone=given)
    kind = net.get("backbone", {}).get("type") if isinstance(net.get("backbone"), dict) else None
    if kind not in ADAPTERS:
        raise ValueError(
            f"cannot adapt backbone type {kind!r} (options {opt or RECIPE}); clsr-adapt knows "
            f"{', '.join(sorted(ADAPTERS))}."
        )
    return copy.deepcopy(net)


def check_backbone(net_opt: dict, weights: str) -> str:
    """Check that ``weights`` is a plain backbone checkpoint that fits ``net_opt``'s backbone.

    Returns:
        The container key that was loaded (``params_ema`` or ``params``).

    Raises:
        FileNotFoundError, CheckpointError, ValueError: one line naming the file.
    """
    from clsr_plugin.archs import load_backbone_weights
    from clsr_plugin.inference.api import build_clsr
    from clsr_plugin.utils.checkpoint import load_checkpoint, select_state_dict

    ckpt = load_checkpoint(weights)
    if not isinstance(ckpt, dict):
        raise ValueError(f"{weights}: not a BasicSR checkpoint (a {type(ckpt).__name__}).")
    try:
        key, state = select_state_dict(ckpt, "params_ema")
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{weights}: no weights in the checkpoint ({err}).") from None
    if any(k.startswith(("base.", "gcm.", "pim.")) for k in state):
        raise ValueError(
            f"{weights}: a CLSR checkpoint or adapter, not a backbone; clsr-adapt trains "
            "adapters around a plain BasicSR backbone (e.g. net_g_latest.pth of SRModel)."
        )
    model = build_clsr(net_opt)
    try:
        load_backbone_weights(model, state, strict=True)
    except ValueError as err:
        b = net_opt["backbone"]
        raise ValueError(
            f"{weights} does not fit the backbone {b['type']} of the options ({err}); give "
            "--opt with the backbone's own options."
        ) from None
    return key or "params"


def split_images(data: str, val_images: int | None, roi: int, scale: int, context: int):
    """Split the HR folder by sorted name: (train names, val names, LR context side).

    Raises:
        ValueError: too few images, or images too small for contexts of 3 ROIs.
    """
    from clsr_plugin.utils.image_checks import image_hw
    from clsr_plugin.utils.image_io import image_names

    names = image_names(data, "HR")
    n_val = max(1, len(names) // 5) if val_images is None else int(val_images)
    if n_val < 1:
        raise ValueError(f"--val-images must be >= 1, got {val_images}.")
    if len(names) < MIN_TRAIN_IMAGES + n_val:
        raise ValueError(
            f"{data}: {len(names)} image(s); clsr-adapt needs at least "
            f"{MIN_TRAIN_IMAGES + n_val} ({MIN_TRAIN_IMAGES} to train on, {n_val} kept apart "
            "for validation)."
        )
    need = MIN_CONTEXT_ROIS * roi
    sides = {n: min(image_hw(osp.join(data, n))) // scale for n in names}
    small = [n for n in names if sides[n] < need]
    if small:
        raise ValueError(
            f"{data}: {len(small)} of {len(names)} images are smaller than {need * scale} px "
            f"on the short side ({MIN_CONTEXT_ROIS} x the ROI of {roi} LR px at x{scale}), "
            f"e.g. {', '.join(small[:3])}; use larger images or a smaller --roi."
        )
    train, val = names[:-n_val], names[-n_val:]
    return train, val, min(context, *(sides[n] for n in train))


def exact_enlarge_ratio(n_images: int, batch: int, ratio: int) -> int:
    """The smallest dataset enlargement ratio >= ``ratio`` making ``n_images * ratio`` a
    multiple of ``batch``: BasicSR's loader drops the last partial batch while its epoch count
    assumes it, so otherwise fewer than ``total_iter`` iterations run."""
    step = batch // math.gcd(n_images, batch)
    return max(1, math.ceil(ratio / step)) * step


def _training_options(s: AdaptSettings, net: dict, data_dir: str, ctx: int, n_train: int):
    from clsr_plugin.option_files import resolve_options
    from clsr_plugin.utils.options import load_yaml

    opt = load_yaml(resolve_options(RECIPE, "train"))
    scale = int(net["backbone"].get("upscale", opt.get("scale", 4)))
    val_freq = s.val_freq or max(1, s.iters // 6)
    train = opt["datasets"]["train"]
    train.update(
        name="train", dataroot_gt=osp.abspath(s.data), meta_info_file=osp.join(data_dir,
        "train.txt"), lq_size=ctx, roi_size=s.roi, batch_size_per_gpu=s.batch,
        num_worker_per_gpu=0, persistent_workers=False,
        dataset_enlarge_ratio=exact_enlarge_ratio(n_train, s.batch, max(1, 800 // n_train)),
    )  # fmt: skip
    opt["datasets"]["val"] = dict(
        name=VAL_NAME, type="LocalSRPairedDataset", dataroot_gt=osp.abspath(s.data),
        meta_info_file=osp.join(data_dir, "val.txt"), io_backend={"type": "disk"},
        roi_size=s.roi, roi_remainder="crop",
    )  # fmt: skip
    opt.update(name=EXPERIMENT, scale=scale, manual_seed=s.seed, network_g=net)
    opt["path"].update(pretrain_network_backbone_g=osp.abspath(s.weights))
    t = opt["train"]
    t["total_iter"] = s.iters
    t["scheduler"]["periods"] = [s.iters]
    t["context_opt"]["end_iter"] = s.iters
    if s.lr is not None:  # the cosine schedule's floor never above the learning rate
        t["optim_g"]["lr"] = s.lr
        t["scheduler"]["eta_min"] = min(float(t["scheduler"].get("eta_min", 0)), s.lr)
    # pre_pad beside the CLSR: the untrained adapter's score, a candidate of best_checkpoint
    opt["val"] = dict(
        val_freq=val_freq, save_img=False, baselines=[UNTRAINED_EQUIVALENT], flops=False
    )
    opt["logger"].update(print_freq=max(1, min(50, val_freq)), save_checkpoint_freq=val_freq)
    return opt


def _test_options(train_opt: dict, adapter: str) -> dict:
    opt = copy.deepcopy(train_opt)
    opt["name"] = "adapt_report"
    val = opt["datasets"].pop("val")
    opt["datasets"] = {"test_1": val}
    opt["path"] = dict(
        pretrain_network_backbone_g=train_opt["path"]["pretrain_network_backbone_g"],
        pretrain_network_adapter_g=adapter,
    )
    opt["val"] = dict(save_img=False, baselines=True, flops=True)
    for key in ("train", "logger", "dist_params"):
        opt.pop(key, None)
    return opt


def _write_yaml(opt: dict, path: str) -> str:
    from clsr_plugin.utils.options import dump_yaml

    os.makedirs(osp.dirname(path), exist_ok=True)
    write_text(path, dump_yaml(opt))
    return path


def run_with_progress(cmd: list[str], cwd: str, threads: int, total: int, tag: str) -> None:
    """Run a BasicSR command; its iteration lines become one progress line each (iteration,
    elapsed, expected remaining); other lines pass through.

    Raises:
        ChildProcessError: the command failed (its last lines are printed).
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start, first, tail = time.time(), None, []
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)  # fmt: skip
    assert proc.stdout is not None
    info = False  # inside a (multi-line) INFO message: those stay in the run's log file
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        match = _ITER_LINE.search(line)
        started = _START_LINE.search(line)
        if started is not None:  # estimates count from here (a resumed run starts later)
            first = (int(started.group(1)), time.time() - start)
        if line.strip() in _NOISE:
            continue
        if match is None:
            head = _LOG_LINE.match(line)
            info = head.group(1) == "INFO" if head else info
            if not info:
                print(line, end="", flush=True)
            continue
        it = int(match.group(1).replace(",", ""))
        now = time.time() - start
        first = first or (it, now)
        done, spent = it - first[0], now - first[1]
        left = "?" if done <= 0 else _clock(spent / done * (total - it))
        print(f"[{tag}] iter {it}/{total}  elapsed {_clock(now)}  remaining ~{left}", flush=True)
    if proc.wait() != 0:
        print("\n".join(tail), file=sys.stderr)
        raise ChildProcessError(f"{' '.join(cmd[2:4])} failed with exit code {proc.returncode}.")


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"


def validations(history: list[dict], iters: int) -> list[dict]:
    """The validations of a run by iteration. BasicSR validates once more after its loop,
    labelled past ``iters``: that one is of the final weights, i.e. iteration ``iters``."""
    by_iter = {}
    for h in history:
        by_iter[min(int(h["iter"]), iters)] = dict(h, iter=min(int(h["iter"]), iters))
    return [by_iter[k] for k in sorted(by_iter)]


def gain_over_untrained(entry: dict):
    """The paired difference CLSR - pre_pad per ROI of one validation entry, or None.

    pre_pad is exactly what the CLSR gives with its context branches untrained (the fusions
    start at zero), i.e. the adapter at iteration 0."""
    from clsr_plugin.evaluation.paired import PairedDifference

    d = entry.get("paired", {}).get("roi", {}).get(pair_key(CLSR_METHOD, UNTRAINED_EQUIVALENT))
    return None if d is None else PairedDifference.from_dict(d)


def best_checkpoint(history: list[dict]) -> dict:
    """The checkpoint to keep, chosen on the validation split.

    Candidates are the validations whose gain over the untrained adapter (CLSR - pre_pad per
    ROI, :func:`gain_over_untrained`) has its whole 95% CI above 0; of those, the one with the
    highest pooled PSNR per image (the earliest of ties). When none is distinguishable from the
    untrained adapter, that one is kept: ``{"iter": 0, ...}`` with pre_pad's values, whose
    output is exactly padded pre-cropping's, so what is kept is never measurably worse than
    pre_pad on the validation split.

    Raises:
        RuntimeError: no validation of the CLSR was recorded.
    """
    better = [h for h in history if (g := gain_over_untrained(h)) is not None and g.low > 0]
    if better:
        return max(better, key=lambda h: (h[f"{CLSR_METHOD}/psnr_img"], -h["iter"]))
    # still untrained at a validation (e.g. --lr 0): reported as pre_pad alone
    untrained = [h for h in history if f"{UNTRAINED_EQUIVALENT}/psnr_img" in h]
    if not untrained:
        raise RuntimeError("no validation of the CLSR was recorded (training too short?).")
    first = untrained[0]
    base = UNTRAINED_EQUIVALENT
    return {"iter": 0, "untrained": True, f"{CLSR_METHOD}/psnr_img": first[f"{base}/psnr_img"],
            f"{CLSR_METHOD}/psnr_roi": first.get(f"{base}/psnr_roi")}  # fmt: skip


def curve(history: list[dict]) -> list[dict]:
    """The learning curve on the validation split: per validation, the iteration, the CLSR's
    pooled PSNR per image and its gain over the untrained adapter per ROI (mean, CI)."""
    rows = []
    for h in history:
        if f"{CLSR_METHOD}/psnr_img" not in h:
            continue
        g = gain_over_untrained(h)
        rows.append(dict(iter=h["iter"], psnr_img=h[f"{CLSR_METHOD}/psnr_img"],
                         gain=None if g is None else g.as_dict()))  # fmt: skip
    return rows


def write_untrained_adapter(net_opt: dict, weights: str, frozen: list[str], path: str) -> str:
    """Write the adapter of iteration 0 around the backbone ``weights``: context branches at
    their initialisation (zero fusions), so the CLSR gives exactly padded pre-cropping."""
    import torch

    from clsr_plugin.archs import load_backbone_weights
    from clsr_plugin.inference.adapter_file import save_adapter
    from clsr_plugin.inference.api import build_clsr
    from clsr_plugin.utils.checkpoint import extract_state_dict, load_checkpoint

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_clsr(net_opt)
    load_backbone_weights(model, extract_state_dict(load_checkpoint(weights), "params_ema"),
                          strict=True)  # fmt: skip
    return save_adapter(path, model, net_opt, frozen, "params", 0)


def format_report(report: dict) -> str:
    """The Markdown report of a finished ``clsr-adapt`` run."""
    m = report["metrics"]
    n_rois = f"{UNTRAINED_EQUIVALENT}/n_rois"
    lines = [
        f"# clsr-adapt: context adapters for `{report['weights']}`",
        "",
        f"Validation split (never trained on): {', '.join(report['val_images'])}; ROI "
        f"{report['roi']}, x{report['scale']}, {m.get(n_rois, 0):.0f} ROIs. "
        + (
            f"Kept: the untrained adapter (iteration 0 of {report['iters']}, output = padded "
            "pre-cropping): no checkpoint's gain over it had a 95% CI above 0."
            if report.get("kept_untrained")
            else f"Kept: iteration {report['best_iter']} of {report['iters']} (the best pooled "
            "PSNR per image of the checkpoints whose gain over the untrained adapter had a 95% "
            "CI above 0)."
        ),
        "",
        "| method | PSNR per ROI | PSNR per image | GFLOPs per ROI |",
        "|---|---:|---:|---:|",
    ]
    from clsr_plugin.evaluation.methods import METHODS
    from clsr_plugin.evaluation.paired import PairedDifference

    for key in METHODS:  # the registry's order: pre_nopad, pre_pad, post, clsr
        if f"{key}/psnr_roi" in m:
            lines.append(
                f"| {METHODS[key].label} | {m[f'{key}/psnr_roi']:.3f} | {m[f'{key}/psnr_img']:.3f}"
                f" | {m.get(f'{key}/gflops', float('nan')):.3f} |"
            )
    lines += ["", "Paired differences (bootstrap 95% CI):", ""]
    for unit, table in m.get("paired", {}).items():
        for pair, d in table.items():
            diff = PairedDifference.from_dict(d).format(items="ROIs" if unit == "roi" else "images")
            lines.append(f"- {pair}, per {unit}: {diff}")
    if m.get("context_untrained"):
        lines.append("- the adapter's context branches are untrained (output = pre_pad).")
    if report.get("curve"):
        lines += ["", "Learning curve on the validation split (CLSR - untrained adapter per ROI):",
                  "", "| iteration | CLSR PSNR per image | gain per ROI [95% CI] |",
                  "|---:|---:|---|"]  # fmt: skip
        for row in report["curve"]:
            g = row["gain"]
            cell = "-" if g is None else PairedDifference.from_dict(g).format(items="ROIs")
            lines.append(f"| {row['iter']} | {row['psnr_img']:.3f} | {cell} |")
    lines += ["", "Use it:", "", "```bash", report["usage"], "```"]
    return "\n".join(lines) + "\n"


def adapt(s: AdaptSettings) -> dict:
    """Train (or resume) the adapters, keep the best validation checkpoint, write the report.

    Returns:
        The report (also in ``<out>/report.json``).
    """
    out = osp.abspath(s.out)
    marker = osp.join(out, MARKER)
    if s.iters < 1:
        raise ValueError(f"--iters must be >= 1, got {s.iters}.")
    if s.lr is not None and not s.lr >= 0:
        raise ValueError(f"--lr must be >= 0, got {s.lr}.")
    if osp.isfile(marker) and not s.overwrite:
        with open(osp.join(out, REPORT + ".json")) as f:
            report = json.load(f)
        print(f"[adapt] {out}: finished earlier (iteration {report['best_iter']} kept); "
              "--overwrite trains again", flush=True)  # fmt: skip
        print(format_report(report), end="")
        return report
    if not osp.isfile(s.weights):
        raise FileNotFoundError(f"Backbone weights not found: {s.weights}")
    net = adapter_network(s.opt)
    check_backbone(net, s.weights)
    scale = int(net["backbone"].get("upscale", 4))
    train, val, ctx = split_images(s.data, s.val_images, s.roi, scale, s.context)
    if s.overwrite:
        for name in ("experiments", "results", "options", "data", ADAPTER, MARKER):
            path = osp.join(out, name)
            shutil.rmtree(path) if osp.isdir(path) else osp.exists(path) and os.remove(path)
    train_yml = osp.join(out, "options", "adapt.yml")
    if osp.isfile(train_yml):  # an unfinished run: resume it only with the same schedule
        from clsr_plugin.utils.options import load_yaml

        earlier = int(load_yaml(train_yml)["train"]["total_iter"])
        if earlier != s.iters:
            raise ValueError(
                f"{out} holds an unfinished run of {earlier} iterations: re-run with --iters "
                f"{earlier} to resume it, or --overwrite to start again with {s.iters}."
            )
    data_dir = osp.join(out, "data")
    os.makedirs(data_dir, exist_ok=True)
    for split, names in (("train", train), ("val", val)):
        write_text(osp.join(data_dir, f"{split}.txt"), "".join(f"{n}\n" for n in names))
    opt = _training_options(s, net, data_dir, ctx, len(train))
    _write_yaml(opt, train_yml)
    print(f"[adapt] {len(train)} training images, {len(val)} validation ({', '.join(val)}); "
          f"ROI {s.roi} in {ctx}x{ctx} LR contexts; {s.iters} iterations, validated every "
          f"{opt['val']['val_freq']}", flush=True)  # fmt: skip
    run_with_progress([sys.executable, "-m", "clsr_plugin.train", "-opt", train_yml,
                       "--auto_resume"], out, s.threads, s.iters, "adapt")  # fmt: skip
    exp = osp.join(out, "experiments", EXPERIMENT)
    with open(osp.join(exp, history_name(VAL_NAME))) as f:
        history = validations(json.load(f), s.iters)
    best = best_checkpoint(history)
    adapter = osp.join(out, ADAPTER)
    if best.get("untrained"):
        write_untrained_adapter(net, s.weights, list(opt["train"]["freeze"]), adapter)
        print("[adapt] no checkpoint beat the untrained adapter (= padded pre-cropping) on the "
              "validation split with a 95% CI above 0: keeping the untrained one (iteration 0)",
              flush=True)  # fmt: skip
    else:
        src = osp.join(exp, "models", f"net_g_{best['iter']}_adapter.safetensors")
        if not osp.isfile(src) and best["iter"] == s.iters:  # the final validation's checkpoint
            src = osp.join(exp, "models", "net_g_latest_adapter.safetensors")
        with open(src, "rb") as f:
            write_bytes(adapter, f.read())
        gain = gain_over_untrained(best)
        psnr = best[f"{CLSR_METHOD}/psnr_img"]
        print(f"[adapt] best checkpoint on the validation split: iteration {best['iter']} "
              f"({psnr:.3f} dB per image; vs the untrained adapter per ROI "
              f"{gain.format(items='ROIs')})", flush=True)  # fmt: skip
    test_yml = _write_yaml(_test_options(opt, adapter), osp.join(out, "options", "report.yml"))
    print("[adapt] testing the kept adapter against pre/post-cropping", flush=True)
    results = osp.join(out, "results", "adapt_report")
    if osp.isdir(results):  # BasicSR would archive it under another name
        shutil.rmtree(results)
    run_with_progress([sys.executable, "-m", "clsr_plugin.test", "-opt", test_yml], out,
                      s.threads, 0, "adapt")  # fmt: skip
    with open(osp.join(results, metrics_name(VAL_NAME))) as f:
        metrics = json.load(f)
    report = dict(
        settings=asdict(s), weights=s.weights, adapter=adapter, val_images=val, train_images=train,
        roi=s.roi, scale=scale, context=ctx, iters=s.iters, best_iter=best["iter"],
        kept_untrained=bool(best.get("untrained")), metrics=metrics, curve=curve(history),
        usage=f"clsr-infer photo.png --roi x,y,{s.roi},{s.roi} --weights {s.weights} "
              f"--adapter {adapter} --out out/",
    )  # fmt: skip
    write_text(osp.join(out, REPORT + ".json"), json.dumps(report, indent=2))
    write_text(osp.join(out, REPORT + ".md"), format_report(report))
    write_text(marker, json.dumps({"iters": s.iters, "best_iter": best["iter"]}))
    print(format_report(report), end="")
    return report
