"""Shared pieces of the hostile-input tests (``tests/hostile/``).

Every test there plays a careless or hostile user and asserts three things: the exit code,
one stderr line naming the file or key, and that nothing was created, replaced or executed.
To add a case: build the bad input with these helpers, run the CLI through :func:`cli`
(in-process, fast) or :func:`tiny_job.run` (a real console script), then assert with
:func:`error_line`, :func:`snapshot` and a :func:`marker_payload` marker file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from _localsr_data import localsr_model_opt, tiny_clsr_net, tiny_train_set
from _synthetic import write_synthetic_pairs


class WritesMarker:
    """Pickled, it calls ``open(marker, 'w')`` when unpickled: code execution made visible."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_checkpoint(path: Path, marker: Path, state: dict | None = None) -> Path:
    """A torch checkpoint that creates ``marker`` when fully unpickled."""
    torch.save({"params": state or {}, "payload": WritesMarker(marker)}, path)
    return path


def marker_payload(marker: Path) -> str:
    """A YAML value that, loaded with PyYAML's full loader, creates ``marker``."""
    return f"!!python/object/apply:os.system ['touch {marker}']"


def cli(main: Callable, argv: list[str], monkeypatch=None) -> int:
    """Run a console script's ``main`` in-process; SystemExit becomes its code.

    With ``monkeypatch``, ``argv`` goes to ``sys.argv`` (for BasicSR's argparse) and ``main``
    is called without arguments.
    """
    try:
        if monkeypatch is not None:
            monkeypatch.setattr(sys, "argv", ["prog", *argv])
            return int(main() or 0)
        return int(main(argv) or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def fresh_basicsr_logger() -> None:
    """Forget BasicSR's root logger, whose handlers hold an earlier test's (closed) stderr and
    log file: each test then logs like a fresh process (``conftest.py`` calls it)."""
    import logging

    from basicsr.utils import logger as basicsr_logger

    log = logging.getLogger("basicsr")
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    basicsr_logger.initialized_logger.clear()


def error_line(stderr: str, *needles: str) -> str:
    """The single ``error:`` line of ``stderr``; asserts there is exactly one, no traceback,
    and that it contains every needle."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [ln for ln in stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1, stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file and folder under ``folder``: relative path -> (content, mode)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            data = b"<dir>" if path.is_dir() else path.read_bytes()
            out[rel] = (data, path.stat().st_mode)
    return out


def truncated_copy(src: Path, dst: Path, keep: float = 0.6) -> Path:
    """``dst`` holding the first ``keep`` of ``src``'s bytes (an interrupted download)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def write_jpeg(path: Path, h: int = 40, w: int = 50, seed: int = 0) -> Path:
    """A random RGB JPEG."""
    img = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def localsr_train_options(root: Path, **path_opt) -> dict:
    """Options of a tiny valid CLSR training job on 2 generated pairs (HR 64, ROI 8 in 16)."""
    hr, lr = write_synthetic_pairs(str(root / "data"), num_images=2, hr_size=(64, 64))
    backbone = {"type": "MSRResNet", "num_feat": 8, "num_block": 1, "upscale": 4}
    return localsr_model_opt(
        "hostile",
        manual_seed=0,
        datasets={"train": tiny_train_set(hr, lr)},
        network_g=tiny_clsr_net(backbone),
        path={
            "pretrain_network_g": None,
            "strict_load_g": True,
            "resume_state": None,
            **path_opt,
        },
        train={
            "optim_g": {"type": "Adam", "lr": 1e-3},
            "scheduler": {"type": "MultiStepLR", "milestones": [100], "gamma": 0.5},
            "total_iter": 1,
            "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0},
        },
        logger={"print_freq": 1, "save_checkpoint_freq": 100, "use_tb_logger": False},
    )
