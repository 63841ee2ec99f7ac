"""The one place that reads checkpoints.

Every checkpoint the plugin touches (BasicSR ``.pth`` weights, ``.state`` resume files,
``.safetensors`` weights) goes through :func:`load_checkpoint`, which never executes pickled
code unless the caller opts in explicitly, and :func:`extract_state_dict`, which canonicalises
the container layouts found in the wild (``params_ema`` / ``params`` / ``state_dict`` /
``model``, ``module.`` prefixes).
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from collections.abc import Mapping

import torch

#: YAML flag (under ``path:``) that allows full unpickling of a trusted checkpoint.
UNSAFE_FLAG = "allow_unsafe_pickle"


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs arbitrary code execution to load and the caller did not opt in."""


def load_checkpoint(path: str | os.PathLike, allow_unsafe_pickle: bool = False) -> dict:
    """Load a checkpoint onto the CPU without executing pickled code.

    Args:
        path: ``.pth`` / ``.pt`` / ``.state`` (torch pickle) or ``.safetensors`` file.
        allow_unsafe_pickle: load with full unpickling (only for files you trust).

    Returns:
        The loaded object (for ``.safetensors``: ``{'params': state_dict}``).

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: the file needs code execution and the opt-in is off.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return {"params": load_file(path, device="cpu")}
    if allow_unsafe_pickle:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"Refusing to load {path}: weights-only loading rejected it ({_refusal_reason(err)}); "
            f"a full unpickle could execute arbitrary code. If you trust this file, set "
            f"`path: {{{UNSAFE_FLAG}: true}}` in the YAML options (or pass "
            f"{UNSAFE_FLAG}=True in Python)."
        ) from None
    except RuntimeError as err:
        raise RuntimeError(f"Cannot read checkpoint {path}: {err}") from err


def _refusal_reason(err: Exception) -> str:
    """The useful line of torch's weights-only error (e.g. the global it would have called)."""
    text = str(err)
    match = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. Please|\n\n|$)", text, re.S)
    reason = match.group(1) if match else text.splitlines()[0]
    return " ".join(reason.split())[:200]


def extract_state_dict(checkpoint: Mapping, param_key: str | None = "params_ema") -> OrderedDict:
    """Pick the weights out of a checkpoint container and strip ``module.`` prefixes.

    Args:
        checkpoint: what :func:`load_checkpoint` returned.
        param_key: preferred key; falls back to ``params_ema``, ``params``, ``state_dict``,
            ``model``, then the mapping itself when it already holds tensors.

    Returns:
        An ordered ``name -> tensor`` mapping.
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"Checkpoint is a {type(checkpoint).__name__}, not a state-dict mapping.")
    state = None
    for key in (param_key, "params_ema", "params", "state_dict", "model"):
        if key is not None and key in checkpoint and isinstance(checkpoint[key], Mapping):
            state = checkpoint[key]
            break
    if state is None:
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            state = checkpoint
        else:
            raise ValueError(
                f"No weights found in checkpoint (keys: {sorted(map(str, checkpoint))[:10]})."
            )
    out = OrderedDict()
    for k, v in state.items():
        out[k[7:] if k.startswith("module.") else k] = v
    return out
