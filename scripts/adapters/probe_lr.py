"""Learning-rate probe for the context adapters: short runs from the same start, same batches.

For each learning rate, a fresh LocalSRModel (frozen backbone, identity at start) takes
``--steps`` Adam steps on one fixed sequence of training batches, then the ROI L1 of CLSR and of
the frozen backbone (``base_only``, the pre-cropping baseline) are compared on ``--held-out``
further training contexts drawn with another seed. Identity at start makes the difference a
low-noise measure of what the adapters learned; the best learning rate is the one with the
largest L1 reduction. Prints one line per learning rate and writes JSON.

    python scripts/adapters/probe_lr.py --opt work/adapters/r1/train.yml --lrs 1e-3 3e-3 1e-2
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch


def batches(dataset, n_batches: int, batch: int, seed: int) -> list[dict]:
    """``n_batches`` batches of ``batch`` random items (fixed by ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        items = [dataset[int(i)] for i in torch.randint(len(dataset), (batch,), generator=g)]
        out.append({k: torch.stack([x[k] for x in items]) for k in ("lq", "gt", "roi")})
    return out


def main() -> None:
    """Run the probe (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", required=True, help="training options YAML (e.g. the driver's)")
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--held-out", type=int, default=32, help="held-out contexts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON file to write")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from basicsr.data import build_dataset

    import clsr_plugin  # noqa: F401
    from clsr_plugin.evaluation.roi_crops import crop_rois
    from clsr_plugin.models.localsr_model import LocalSRModel
    from clsr_plugin.utils.options import load_yaml

    opt = load_yaml(args.opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1)
    opt["train"]["ema_decay"] = 0
    dopt = dict(opt["datasets"]["train"], phase="train", scale=opt["scale"])
    dataset = build_dataset(dopt)
    batch = int(dopt["batch_size_per_gpu"])
    train_batches = batches(dataset, args.steps, batch, seed=1)
    held = batches(dataset, 1, args.held_out, seed=2)[0]
    results = []
    for lr in args.lrs:
        run_opt = copy.deepcopy(opt)
        run_opt["train"]["optim_g"]["lr"] = lr
        torch.manual_seed(int(opt.get("manual_seed", 0)))
        model = LocalSRModel(run_opt)
        start = time.time()
        for step, data in enumerate(train_batches, 1):
            model.feed_data(data)
            model.optimize_parameters(step)
        seconds = time.time() - start
        net = model.get_bare_model(model.net_g).eval()
        with torch.no_grad():
            gt = crop_rois(held["gt"], held["roi"], model.scale)
            l1_clsr = float((net(held["lq"], held["roi"])[0] - gt).abs().mean())
            l1_base = float((net.base_only(held["lq"], held["roi"]) - gt).abs().mean())
        row = dict(
            lr=lr,
            steps=args.steps,
            l1_clsr=l1_clsr,
            l1_base=l1_base,
            l1_gain=l1_base - l1_clsr,
            s_per_step=seconds / args.steps,
        )
        results.append(row)
        print(
            f"lr {lr:g}: held-out ROI L1 base {l1_base:.6f} clsr {l1_clsr:.6f} "
            f"gain {row['l1_gain']:+.6f} ({row['s_per_step']:.2f} s/step)",
            flush=True,
        )
    best = max(results, key=lambda r: r["l1_gain"])
    print(f"best lr: {best['lr']:g}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"opt": args.opt, "results": results, "best_lr": best["lr"]}, f, indent=2)


if __name__ == "__main__":
    main()
