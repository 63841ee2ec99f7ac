"""A tiny BasicSR training job on generated images, shared by the pipeline tests.

Not a test module: it writes a few paired PNG images and a training YAML for BasicSR's own
``MSRResNet`` + ``SRModel`` + ``PairedImageDataset`` (disk backend), small enough to run a few
iterations on one CPU core in about a second.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import clsr_plugin

#: Folder that holds the ``clsr_plugin`` package under test (the worktree, or site-packages).
SOURCE_ROOT = str(Path(clsr_plugin.__file__).resolve().parent.parent)


def tiny_msrresnet(scale: int = 2) -> dict:
    """``network_g`` options of a 4.5k-parameter BasicSR MSRResNet."""
    return {
        "type": "MSRResNet",
        "num_in_ch": 3,
        "num_out_ch": 3,
        "num_feat": 8,
        "num_block": 1,
        "upscale": scale,
    }


def write_paired_images(root: Path, scale: int = 2, num: int = 4) -> tuple[Path, Path]:
    """Write ``num`` random ``16*scale`` GT PNGs and their bicubic LQ versions under ``root``."""
    gt_dir, lq_dir = root / "gt", root / "lq"
    gt_dir.mkdir(parents=True, exist_ok=True)
    lq_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lq_size, gt_size = 16, 16 * scale
    for i in range(num):
        gt = rng.integers(0, 256, size=(gt_size, gt_size, 3), dtype=np.uint8)
        lq = cv2.resize(gt, (lq_size, lq_size), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(gt_dir / f"{i:03d}.png"), gt)
        cv2.imwrite(str(lq_dir / f"{i:03d}.png"), lq)
    return gt_dir, lq_dir


def write_job(
    root: Path,
    name: str = "tiny_msrresnet",
    total_iter: int = 3,
    network_g: dict | None = None,
    scale: int = 2,
    save_checkpoint_freq: int = 1,
) -> Path:
    """Write generated images and a BasicSR training YAML under ``root``; return the YAML path."""
    gt_dir, lq_dir = write_paired_images(root / "data", scale)
    opt = {
        "name": name,
        "model_type": "SRModel",
        "scale": scale,
        "num_gpu": 0,
        "manual_seed": 0,
        "datasets": {
            "train": {
                "name": "tiny",
                "type": "PairedImageDataset",
                "dataroot_gt": str(gt_dir),
                "dataroot_lq": str(lq_dir),
                "io_backend": {"type": "disk"},
                "gt_size": 8 * scale,
                "use_hflip": True,
                "use_rot": False,
                "num_worker_per_gpu": 0,
                "batch_size_per_gpu": 1,
                "dataset_enlarge_ratio": 1,
            }
        },
        "network_g": dict(network_g or tiny_msrresnet(scale)),
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": 0.9,
            "optim_g": {"type": "Adam", "lr": 1e-3, "weight_decay": 0, "betas": [0.9, 0.99]},
            "scheduler": {"type": "MultiStepLR", "milestones": [1000], "gamma": 0.5},
            "total_iter": total_iter,
            "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "logger": {
            "print_freq": 1,
            "save_checkpoint_freq": save_checkpoint_freq,
            "use_tb_logger": False,
        },
    }
    path = root / f"{name}.yml"
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


def child_env(**overrides: str) -> dict:
    """Environment for a child interpreter: CPU only, one thread, the package under test first.

    ``PYTHONPATH`` puts :data:`SOURCE_ROOT` ahead of site-packages, so a child started outside
    the repository runs the same ``clsr_plugin`` (and ``_clsr_plugin_autoload``) as the tests.
    """
    env = dict(os.environ)
    path = [SOURCE_ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(
        PYTHONPATH=os.pathsep.join(path),
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONNOUSERSITE="1",
        PYTHONUNBUFFERED="1",
        CLSR_PLUGIN_AUTOLOAD="1",
    )
    env.update(overrides)
    return env


def run(args: list[str], cwd: Path, timeout: float = 120, **env: str):
    """Run ``args`` in ``cwd`` and return the completed process (stdout and stderr merged)."""
    return subprocess.run(
        args,
        cwd=cwd,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def python() -> str:
    """The interpreter running the tests (the installed environment's)."""
    return sys.executable


def require_autoload_hook() -> Path:
    """Fail (not skip) unless ``clsr_plugin_autoload.pth`` is installed for this interpreter."""
    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    for folder in dirs:
        pth = Path(folder) / "clsr_plugin_autoload.pth"
        if pth.is_file():
            return pth
    pytest.fail(
        f"clsr_plugin is importable but its autoload hook clsr_plugin_autoload.pth is not "
        f"installed for {sys.executable} (looked in {dirs}). Install the package, not in editable "
        f"mode: `{sys.executable} -m pip install --no-build-isolation --no-deps .` from the "
        f"repository root (or run `bash scripts/test.sh`, which does it).",
        pytrace=False,
    )
