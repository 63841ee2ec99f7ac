"""Exact resume: the random state and epoch position a training state needs.

BasicSR 1.4.2 saves the optimizers and schedulers but no random state, and resumes at the
start of the epoch a state was saved in, so a resumed run sees other random crops and repeats
part of an epoch. :class:`~clsr_plugin.models.localsr_model.LocalSRModel` adds to every
training state (``training_states/<iter>.state``):

* ``rng``: Python's, NumPy's and torch's (CPU) random states (:func:`rng_state`), restored on
  resume (:func:`set_rng_state`). The data pipeline (random contexts, ROI placement, flips) draws
  from Python's ``random`` in the main process (``num_worker_per_gpu: 0``); BasicSR's loader
  draws from torch's only for worker seeds.
* ``epoch``: when the state is saved at the end of an epoch, the *next* epoch, so the resumed
  run starts it where the uninterrupted run would (:func:`epoch_to_resume`). That needs the
  epoch length in iterations, known when the train dataset sets ``samples_per_epoch``
  (:func:`iters_per_epoch`); with checkpoints at epoch ends (``save_checkpoint_freq`` a
  multiple of it) a run trained N + M iterations in two pieces equals one of N + M, bit for bit
  on the CPU (tests/models/test_exact_resume.py).
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch


def rng_state() -> dict:
    """Python's, NumPy's and torch's CPU random states, in types a weights-only load reads."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (
            kind,
            torch.from_numpy(keys.astype(np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ),  # fmt: skip
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


def iters_per_epoch(opt: dict) -> int | None:
    """Iterations of one epoch of BasicSR's train loader, when the train dataset fixes its
    length with ``samples_per_epoch``; else None (the length depends on the images found).

    BasicSR's ``EnlargedSampler`` yields ``ceil(samples * dataset_enlarge_ratio / world_size)``
    indices per process and the loader drops the last partial batch.
    """
    train = (opt.get("datasets") or {}).get("train") or {}
    samples = train.get("samples_per_epoch")
    if samples is None:
        return None
    ratio = int(train.get("dataset_enlarge_ratio", 1) or 1)
    world = int(opt.get("world_size", 1) or 1)
    return math.ceil(int(samples) * ratio / world) // int(train["batch_size_per_gpu"])


def epoch_to_resume(epoch: int, current_iter: int, per_epoch: int | None) -> tuple[int, bool]:
    """``(epoch to record, whether a resume from it is exact)`` for a state saved at
    ``current_iter`` during ``epoch``: at an epoch end, the next epoch (BasicSR starts the
    recorded one from its first batch)."""
    if per_epoch and current_iter % per_epoch == 0:
        return current_iter // per_epoch, True
    return epoch, False
