"""The small state of a frozen-backbone training run: what a run needs to continue elsewhere.

A BasicSR checkpoint (``net_g_<iter>.pth``) holds the whole network, frozen backbone included
(6 MB for MSRResNet 64x16); the trainable part of an adapter run is about 91k parameters.
:func:`export_run_state` writes the latest state of a run into a folder small enough to commit
(``docs/results/state/<run>/``, about 1.5 MB for the MSRResNet adapters):

* ``trainable.safetensors``: the unfrozen entries of ``params`` and ``params_ema``, as
  ``params/<name>`` and ``params_ema/<name>``, less the buffers a network derives from its
  configuration (:data:`DERIVED`: SwinIR's attention masks and relative position indices,
  14 MB for a SwinIR-light CLSR), which the import takes from the freshly built network;
* ``training_state.pt``: BasicSR's training state as the run wrote it (optimizers, schedulers,
  epoch, iteration, and :mod:`~clsr_plugin.models.training_state`'s random state);
* ``state.json``: iteration, frozen prefixes and the SHA-256 of the frozen weights;
* ``metrics_history_<dataset>.json``: the run's validations so far (its learning curve), when
  it validates.

:func:`import_run_state` rebuilds ``models/net_g_<iter>.pth`` (the backbone checkpoint's frozen
weights plus the trainable ones) and ``training_states/<iter>.state`` in an experiment folder
and puts the validation histories back, so that ``clsr-train --auto_resume`` continues the
run and its learning curve: exactly, when the state was saved at an
epoch end (tests/models/test_exact_resume.py).
"""

from __future__ import annotations

import json
import os
import os.path as osp
import shutil
from collections.abc import Mapping, Sequence

import torch

from clsr_plugin.inference.adapter_file import frozen_weights_hash, under
from clsr_plugin.models.metrics_files import is_history
from clsr_plugin.utils.atomic import write_text

TRAINABLE, TRAINING, META = "trainable.safetensors", "training_state.pt", "state.json"
KEYS = ("params", "params_ema")
#: last components of buffer names that a network computes from its configuration alone
#: (BasicSR's SwinIR: ``attn_mask`` of the shifted windows, ``relative_position_index``)
DERIVED = ("attn_mask", "relative_position_index")


def derived(name: str) -> bool:
    """Whether the state entry ``name`` is a buffer of :data:`DERIVED` (never trained)."""
    return name.rsplit(".", 1)[-1] in DERIVED


def _histories(folder: str) -> list[str]:
    """The validation histories (``metrics_history_<dataset>.json``) in ``folder``."""
    if not osp.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if is_history(n))


def _copy_histories(src: str, dst: str, upto: int) -> None:
    """Copy the histories of ``src`` into ``dst``, keeping the validations at or before ``upto``
    (a resumed run appends the later ones again)."""
    for name in _histories(src):
        with open(osp.join(src, name)) as f:
            history = [h for h in json.load(f) if h["iter"] <= upto]
        write_text(osp.join(dst, name), json.dumps(history, indent=2))


def latest_state(experiment: str) -> int | None:
    """The newest iteration with both a training state and a checkpoint in ``experiment``."""
    states = osp.join(experiment, "training_states")
    if not osp.isdir(states):
        return None
    iters = [int(n[: -len(".state")]) for n in os.listdir(states)
             if n.endswith(".state") and n[: -len(".state")].isdigit()]  # fmt: skip
    done = [i for i in iters if osp.isfile(osp.join(experiment, "models", f"net_g_{i}.pth"))]
    return max(done, default=None)


def export_run_state(experiment: str, out: str, frozen: Sequence[str]) -> dict:
    """Write the latest state of the BasicSR experiment folder ``experiment`` into ``out``.

    Returns:
        The contents of ``state.json``.

    Raises:
        FileNotFoundError: the experiment has no training state with its checkpoint.
    """
    from safetensors.torch import save_file

    from clsr_plugin.utils.atomic import atomic_path
    from clsr_plugin.utils.checkpoint import load_checkpoint

    it = latest_state(experiment)
    if it is None:
        raise FileNotFoundError(f"{experiment}: no training state with its net_g checkpoint.")
    ckpt = load_checkpoint(osp.join(experiment, "models", f"net_g_{it}.pth"))
    tensors = {
        f"{key}/{name}": t.contiguous()
        for key in KEYS
        if key in ckpt
        for name, t in ckpt[key].items()
        if not under(name, frozen) and not derived(name)
    }
    os.makedirs(out, exist_ok=True)
    with atomic_path(osp.join(out, TRAINABLE)) as tmp:
        save_file(tensors, tmp)
    with atomic_path(osp.join(out, TRAINING)) as tmp:
        shutil.copyfile(osp.join(experiment, "training_states", f"{it}.state"), tmp)
    meta = dict(
        iter=it, frozen=list(frozen), frozen_sha256=frozen_weights_hash(ckpt["params"], frozen)
    )
    write_text(osp.join(out, META), json.dumps(meta, indent=2) + "\n")
    _copy_histories(experiment, out, it)
    return meta


def import_run_state(state_dir: str, experiment: str, network_opt: Mapping, backbone: str) -> int:
    """Rebuild the checkpoint and training state of ``state_dir`` in ``experiment``.

    Args:
        state_dir: a folder :func:`export_run_state` wrote.
        experiment: the BasicSR experiment folder (``experiments/<name>``) to resume in.
        network_opt: the run's CLSR ``network_g``.
        backbone: the backbone checkpoint the run was trained on.

    Returns:
        The iteration the run resumes from.

    Raises:
        ValueError: the backbone is not the one the state was trained with, or the trainable
            tensors do not fit the network (one line naming the folder).
    """
    from safetensors.torch import load_file

    from clsr_plugin.archs import load_backbone_weights
    from clsr_plugin.inference.api import build_clsr
    from clsr_plugin.utils.atomic import atomic_path
    from clsr_plugin.utils.checkpoint import atomic_torch_save

    with open(osp.join(state_dir, META)) as f:
        meta = json.load(f)
    frozen, it = meta["frozen"], int(meta["iter"])
    tensors = load_file(osp.join(state_dir, TRAINABLE))
    with torch.random.fork_rng(devices=[]):
        net = build_clsr(network_opt)
    load_backbone_weights(net, backbone, strict=True)
    if frozen_weights_hash(net, frozen) != meta["frozen_sha256"]:
        raise ValueError(f"{state_dir}: trained on another backbone than {backbone}.")
    full = {}
    for key in KEYS:
        state = net.state_dict()
        part = {n[len(key) + 1 :]: t for n, t in tensors.items() if n.startswith(key + "/")}
        if not part:
            continue
        want = {n for n in state if not under(n, frozen) and not derived(n)}
        if set(part) != want:
            raise ValueError(
                f"{state_dir}: {key} does not fit the network (missing "
                f"{sorted(want - set(part))[:4]}, unexpected {sorted(set(part) - want)[:4]})."
            )
        full[key] = {n: (part[n] if n in part else t.clone()) for n, t in state.items()}
    models, states = osp.join(experiment, "models"), osp.join(experiment, "training_states")
    os.makedirs(models, exist_ok=True)
    os.makedirs(states, exist_ok=True)
    atomic_torch_save(full, osp.join(models, f"net_g_{it}.pth"))
    with atomic_path(osp.join(states, f"{it}.state")) as tmp:
        shutil.copyfile(osp.join(state_dir, TRAINING), tmp)
    _copy_histories(state_dir, experiment, it)
    return it
