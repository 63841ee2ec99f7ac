"""Snapshot of what the CLIs output, to check that a refactor changes nothing.

Runs clsr-test (metrics JSON, baselines and per-ROI values), clsr-bench (its JSON without the
timing fields) and clsr-infer (the PNGs it writes, hashed) on two small images with a trained
adapter (so CLSR's context branches do work), and writes one JSON. Run it before and after a
refactor and compare::

    python scripts/snapshot_outputs.py --out /tmp/before.json
    ... refactor ...
    python scripts/snapshot_outputs.py --out /tmp/after.json --compare /tmp/before.json

Defaults read ``../shared`` (MSRResNet weights, Set5); pass ``--weights``, ``--images``
and ``--adapter`` for others. Takes about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = osp.join(osp.dirname(REPO), "shared")
#: JSON keys whose values are measured time or memory (they change from run to run)
TIMING = ("ms", "time", "seconds", "wall", "memory", "mem", "peak", "threads", "device")


def _timing(key: str) -> bool:
    parts = key.lower().replace("-", "_").split("_")
    return any(p in TIMING for p in parts)


def strip_timing(value):
    """``value`` without the entries whose key names a time or memory measurement."""
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if not _timing(str(k))}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


def _sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _run(cmd: list[str], cwd: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def snapshot(weights: str, adapter: str, images: list[str], work: str) -> dict:
    """The outputs of clsr-test, clsr-bench and clsr-infer on ``images`` (HR files)."""
    data = osp.join(work, "hr")
    os.makedirs(data)
    for path in images:
        shutil.copy(path, data)
    py = sys.executable
    out: dict = {}

    from clsr_plugin.inference.adapter_file import read_adapter
    from clsr_plugin.utils.options import dump_yaml

    network = read_adapter(adapter)[1]["network_g"]
    test_opt = {
        "name": "snapshot",
        "model_type": "LocalSRModel",
        "scale": 4,
        "num_gpu": 0,
        "manual_seed": 0,
        "datasets": {
            "test_1": {
                "name": "snap",
                "type": "LocalSRPairedDataset",
                "dataroot_gt": data,
                "io_backend": {"type": "disk"},
                "roi_size": 24,
                "roi_remainder": "crop",
            }
        },
        "network_g": network,
        "path": {"pretrain_network_backbone_g": weights, "pretrain_network_adapter_g": adapter},
        "val": {"save_img": False, "baselines": True, "flops": True, "per_roi": True},
    }
    with open(osp.join(work, "test.yml"), "w") as f:
        f.write(dump_yaml(test_opt))
    _run([py, "-m", "clsr_plugin.test", "-opt", "test.yml"], work)
    metrics = osp.join(work, "results", "snapshot", "metrics_snap.json")
    with open(metrics) as f:
        out["clsr-test"] = strip_timing(json.load(f))

    bench = osp.join(work, "bench")
    _run([py, "-m", "clsr_plugin.bench", "--weights", weights, "--adapter", adapter, "--data",
          data, "--roi", "24", "--device", "cpu", "--multi-roi", "1", "4", "--max-images", "2",
          "--timing-images", "1", "--repeats", "1", "--context-windows", "0", "4",
          "--out", bench], work)  # fmt: skip
    with open(osp.join(bench, "bench.json")) as f:
        out["clsr-bench"] = strip_timing(json.load(f))

    infer = osp.join(work, "infer")
    _run([py, "-m", "clsr_plugin.infer", *[osp.join(data, osp.basename(p)) for p in images],
          "--weights", weights, "--adapter", adapter, "--roi", "10,12,24,24", "--roi",
          "30,8,16,20", "--device", "cpu", "--out", infer], work)  # fmt: skip
    out["clsr-infer"] = {
        osp.relpath(osp.join(d, n), infer): _sha(osp.join(d, n))
        for d, _, names in sorted(os.walk(infer))
        for n in sorted(names)
        if n.endswith(".png")
    }
    with open(osp.join(infer, "results.json")) as f:
        out["clsr-infer results.json"] = strip_timing(json.load(f))
    return json.loads(json.dumps(out).replace(work, "<work>"))  # no temporary paths


def _differences(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [f"{where}/{k}: only in one" for k in sorted(set(a) ^ set(b), key=str)]
        for k in sorted(set(a) & set(b), key=str):
            diffs += _differences(a[k], b[k], f"{where}/{k}")
        return diffs
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b))
        return [d for i, (x, y) in pairs for d in _differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"[:300]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    set5 = osp.join(SHARED, "datasets", "benchmark", "Set5")
    ap.add_argument("--weights", default=osp.join(SHARED, "pretrained", "MSRResNet_x4_291set.pth"))
    ap.add_argument(
        "--adapter", default=osp.join(REPO, "docs", "results", "msrresnet_r1.safetensors")
    )
    ap.add_argument(
        "--images", nargs="+", default=[osp.join(set5, n) for n in ("baby.png", "bird.png")]
    )
    ap.add_argument("--out", required=True, help="snapshot JSON to write")
    ap.add_argument("--compare", help="an earlier snapshot: exit 1 and list what differs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        snap = snapshot(osp.abspath(args.weights), osp.abspath(args.adapter),
                        [osp.abspath(p) for p in args.images], work)  # fmt: skip
    with open(args.out, "w") as f:
        json.dump(snap, f, indent=1, sort_keys=True)
    print(f"snapshot -> {args.out}")
    if args.compare:
        with open(args.compare) as f:
            diffs = _differences(json.load(f), snap)
        print("\n".join(diffs) if diffs else "identical to " + args.compare)
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
