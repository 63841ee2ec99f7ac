"""The one place that reads checkpoints.

Every checkpoint the plugin touches (BasicSR ``.pth`` weights, ``.state`` resume files,
``.safetensors`` weights) goes through :func:`load_checkpoint`, which never executes pickled
code unless the caller opts in explicitly and refuses NaN / Inf values (:func:`check_finite`),
and :func:`extract_state_dict`, which canonicalises the container layouts found in the wild
(``params_ema`` / ``params`` / ``state_dict`` / ``model``, ``module.`` prefixes).
"""

from __future__ import annotations

import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence

import torch

#: YAML flag (under ``path:``) that allows full unpickling of a trusted checkpoint.
UNSAFE_FLAG = "allow_unsafe_pickle"


#: How the refusal tells a user of the YAML options to opt in.
YAML_OPT_IN = f"set `path: {{{UNSAFE_FLAG}: true}}` in the YAML options"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used (empty, corrupt, wrong format, wrong shapes); names the file."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint needs arbitrary code execution to load and the caller did not opt in."""


class NonFiniteError(CheckpointError):
    """A checkpoint or adapter file holds NaN or Inf values (corrupt, or a diverged training)."""


def _tensors(obj: object, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """``(dotted name, tensor)`` of every tensor in nested mappings / lists / tuples."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}.{i}" if prefix else str(i))


def check_finite(obj: object, source: str) -> None:
    """Refuse NaN / Inf in any floating-point tensor of ``obj`` (nested containers walked).

    The one finiteness check of loaded weights: :func:`load_checkpoint` runs it on every
    checkpoint (``.pth``, ``.state``, ``.safetensors``), and
    :func:`clsr_plugin.inference.adapter_file.read_adapter` on every adapter file. Such values
    would run and write garbage images (or NaN metrics) without any error.

    Args:
        obj: a tensor, or containers of tensors (a checkpoint, a state dict).
        source: how to name it in the error (the file).

    Raises:
        NonFiniteError: one line naming ``source``, the first such tensor and its counts.
    """
    for name, t in _tensors(obj):
        if not (t.is_floating_point() or t.is_complex()) or t.device.type == "meta":
            continue
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            nan = int(torch.isnan(t).sum())
            raise NonFiniteError(
                f"{source}: tensor {name or '(the file itself)'} holds non-finite values "
                f"({nan} NaN, {t.numel() - int(finite.sum()) - nan} Inf of {t.numel()}); "
                "the file is corrupt or was saved from a diverged training"
            )


def unsafe_pickle_opt(path_opt: Mapping | None) -> bool:
    """The ``path.allow_unsafe_pickle`` opt-in of an options dict: only the boolean ``true``.

    A missing key, ``~`` or ``false`` is off. Anything else (the string ``'false'``, ``1``,
    ``yes`` quoted, ...) is an error rather than a guess, because a guess could run code.

    Raises:
        ValueError: the value is not a YAML boolean.
    """
    value = (path_opt or {}).get(UNSAFE_FLAG)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ValueError(
        f"path.{UNSAFE_FLAG} must be the YAML boolean true or false, got {value!r} "
        f"({type(value).__name__})"
    )


def load_checkpoint(
    path: str | os.PathLike, allow_unsafe_pickle: bool = False, opt_in: str = YAML_OPT_IN
) -> dict:
    """Load a checkpoint onto the CPU without executing pickled code.

    Args:
        path: ``.pth`` / ``.pt`` / ``.state`` (torch pickle) or ``.safetensors`` file.
        allow_unsafe_pickle: ``True`` loads with full unpickling (only for files you trust).
        opt_in: how the refusal message tells the user to opt in (a CLI names its flag).

    Returns:
        The loaded object (for ``.safetensors``: ``{'params': state_dict}``).

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: the file needs code execution and the opt-in is off.
        NonFiniteError: a floating-point tensor holds NaN or Inf (:func:`check_finite`).
        CheckpointError: the file is empty, truncated or not a checkpoint of its kind.
    """
    path = os.fspath(path)
    if not isinstance(allow_unsafe_pickle, bool):
        raise ValueError(f"allow_unsafe_pickle must be a bool, got {allow_unsafe_pickle!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"Checkpoint {path} is empty (0 bytes)")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            ckpt = {"params": load_file(path, device="cpu")}
        except Exception as err:  # safetensors raises its own error types
            raise CheckpointError(
                f"Cannot read {path} as safetensors ({_one_line(err)}); a .safetensors file "
                "is never read as a pickle"
            ) from None
        check_finite(ckpt["params"], path)
        return ckpt
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not allow_unsafe_pickle)
    except pickle.UnpicklingError as err:
        reason = _refusal_reason(err)
        if allow_unsafe_pickle or not _is_refusal(err):
            raise CheckpointError(f"Cannot read checkpoint {path}: {reason}") from None
        raise UnsafeCheckpointError(
            f"Refusing to load {path}: weights-only loading rejected it ({reason}); "
            f"a full unpickle could execute arbitrary code. If you trust this file, {opt_in}."
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, AttributeError) as err:
        raise CheckpointError(f"Cannot read checkpoint {path}: {_one_line(err)}") from None
    check_finite(ckpt, path)
    return ckpt


def _one_line(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_refusal(err: Exception) -> bool:
    """Whether torch's weights-only unpickler refused a global (not: the file is garbage)."""
    text = str(err)
    return "Weights only load failed" in text and "invalid load key" not in text


def _refusal_reason(err: Exception) -> str:
    """The useful part of torch's weights-only error: the global it would have called, else
    the unpickler's own reason."""
    text = str(err)
    glob = re.search(r"GLOBAL\s+([\w.]+)", text)
    if glob:
        return f"it would call the blocked global {glob.group(1).rstrip('.')}"
    match = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. Please|\n\n\S|$)", text, re.S)
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
    return select_state_dict(checkpoint, param_key)[1]


def select_state_dict(
    checkpoint: Mapping, param_key: str | None = "params_ema"
) -> tuple[str | None, OrderedDict]:
    """:func:`extract_state_dict` that also says which container key it used.

    Returns:
        ``(key, state)``: the key the weights came from (``None``: the mapping itself).
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"Checkpoint is a {type(checkpoint).__name__}, not a state-dict mapping.")
    state, used = None, None
    for key in (param_key, "params_ema", "params", "state_dict", "model"):
        if key is not None and key in checkpoint and isinstance(checkpoint[key], Mapping):
            state, used = checkpoint[key], key
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
    return used, out


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save`` to ``path`` through :func:`~clsr_plugin.utils.atomic.atomic_path`.

    Temporary files that a killed run left in the folder are removed first. A failed write
    (disk full, ...) leaves the folder as it was and raises ``OSError`` naming ``path``.
    """
    from clsr_plugin.utils.atomic import atomic_path, remove_stale_temps

    remove_stale_temps(osp.dirname(osp.abspath(path)))
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except (OSError, RuntimeError) as err:  # torch reports a full disk as a RuntimeError
        reason = getattr(err, "strerror", None) or " ".join(str(err).split())
        errno = getattr(err, "errno", None)
        message = f"Cannot write {path}: {reason}"
        raise (OSError(errno, message) if errno else OSError(message)) from None


def listed_problems(
    groups: Sequence[tuple[str, Sequence[str]]], limit: int, counts: bool = False
) -> list[str]:
    """One line per non-empty ``(label, items)`` group of a key / shape mismatch report:
    ``label [first limit items] ...``, or with ``counts`` ``label (n): [...] ...``."""
    lines = []
    for label, items in groups:
        if items:
            head = f"{label} ({len(items)}):" if counts else label
            lines.append(f"{head} {list(items)[:limit]}{' ...' if len(items) > limit else ''}")
    return lines
