"""The adapter file: the trainable part of a CLSR whose backbone was frozen, in one small file.

A CLSR trained with ``train.freeze`` (e.g. ``[base, gcm.extractor]``) differs from a fresh
CLSR around the same pretrained backbone only in its unfrozen parameters (GCM minus its
extractor, PIM, fusions: about 91k parameters around MSRResNet 64x16). The adapter file holds
exactly those, as ``.safetensors`` (no pickled code), with metadata that rebuilds the network:

* ``format``: ``clsr-adapter``, ``format_version``: ``1``;
* ``network_g``: the CLSR options (JSON: backbone type / kwargs, roi_pad, pim, gcm, context);
* ``frozen``: the frozen module prefixes (JSON list);
* ``frozen_sha256``: a hash of the frozen weights (:func:`frozen_weights_hash`), so an adapter
  is never combined with a backbone it was not trained on;
* ``param_key`` (``params`` or ``params_ema``: which weights were saved) and ``iter``.

Saving (:func:`save_adapter`) and loading (:func:`load_adapter`) live here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from clsr_plugin.utils.atomic import atomic_path

FORMAT = "clsr-adapter"
FORMAT_VERSION = "1"
#: the suffix of adapter files written next to BasicSR's ``net_g_<iter>.pth``
SUFFIX = "_adapter.safetensors"


class AdapterMismatchError(ValueError):
    """An adapter file does not fit the network or backbone it is loaded into."""


def under(name: str, prefixes: Sequence[str]) -> bool:
    """Whether the parameter / module ``name`` lies under one of the module ``prefixes``."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def frozen_weights_hash(net: nn.Module, prefixes: Sequence[str]) -> str:
    """SHA-256 of the state-dict entries under ``prefixes`` (names, dtypes, shapes, bytes)."""
    digest = hashlib.sha256()
    state = net.state_dict()
    for name in sorted(k for k in state if under(k, prefixes)):
        t = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def adapter_state(net: nn.Module, prefixes: Sequence[str]) -> OrderedDict:
    """The state-dict entries of ``net`` that are not frozen (what an adapter file holds)."""
    return OrderedDict(
        (k, v.detach().cpu().contiguous())
        for k, v in net.state_dict().items()
        if not under(k, prefixes)
    )


def save_adapter(
    path: str | os.PathLike,
    net: nn.Module,
    network_opt: Mapping,
    frozen: Sequence[str],
    param_key: str = "params",
    current_iter: int | None = None,
) -> str:
    """Write the adapter file of ``net`` atomically (temp name, then rename).

    Args:
        path: the ``.safetensors`` file to write.
        net: the (bare) CLSR network.
        network_opt: its ``network_g`` options (``type: CLSR`` ...).
        frozen: the frozen module prefixes.
        param_key: which weights ``net`` holds (``params`` or ``params_ema``).
        current_iter: the training iteration, recorded in the metadata.

    Returns:
        The path written.
    """
    from safetensors.torch import save_file

    path = os.fspath(path)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "network_g": json.dumps(dict(network_opt), sort_keys=True),
        "frozen": json.dumps(list(frozen)),
        "frozen_sha256": frozen_weights_hash(net, frozen),
        "param_key": param_key,
        "iter": str(current_iter if current_iter is not None else ""),
    }
    with atomic_path(path) as tmp:  # also gives it a normal file's mode (safetensors: 0600)
        save_file(dict(adapter_state(net, frozen)), tmp, metadata=meta)
    return path


def read_adapter(path: str | os.PathLike) -> tuple[OrderedDict, dict]:
    """The tensors and the decoded metadata of an adapter file.

    Raises:
        FileNotFoundError: no such file.
        AdapterMismatchError: not a readable adapter file (one line naming the file).
    """
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Adapter file not found: {path}")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            raw = dict(f.metadata() or {})
            state = OrderedDict((k, f.get_tensor(k)) for k in f.keys())
    except Exception as err:  # safetensors raises its own error types
        raise AdapterMismatchError(f"{path}: not a safetensors adapter file ({err}).") from None
    if raw.get("format") != FORMAT:
        raise AdapterMismatchError(
            f"{path}: not a CLSR adapter file (metadata format={raw.get('format')!r})."
        )
    if raw.get("format_version") != FORMAT_VERSION:
        raise AdapterMismatchError(
            f"{path}: adapter format version {raw.get('format_version')!r} is not supported "
            f"(this plugin reads {FORMAT_VERSION})."
        )
    try:
        meta = dict(raw, network_g=json.loads(raw["network_g"]), frozen=json.loads(raw["frozen"]))
    except (KeyError, json.JSONDecodeError) as err:
        raise AdapterMismatchError(f"{path}: broken adapter metadata ({err}).") from None
    return state, meta


def load_adapter(
    net: nn.Module, path: str | os.PathLike, contents: tuple[OrderedDict, dict] | None = None
) -> dict:
    """Load an adapter file into ``net``, whose frozen part must already hold the backbone.

    Checks that the frozen weights of ``net`` hash to the adapter's ``frozen_sha256`` and that
    the adapter's tensors are exactly ``net``'s unfrozen entries. ``contents``: what
    :func:`read_adapter` already returned for ``path`` (not read again).

    Returns:
        The adapter's metadata.

    Raises:
        AdapterMismatchError: another backbone, other CLSR options, or a broken file.
    """
    state, meta = contents if contents is not None else read_adapter(path)
    frozen = meta["frozen"]
    have = frozen_weights_hash(net, frozen)
    if have != meta["frozen_sha256"]:
        raise AdapterMismatchError(
            f"{os.fspath(path)}: the adapter was trained on other frozen weights "
            f"({', '.join(frozen)}: sha256 {meta['frozen_sha256'][:12]}, this backbone "
            f"{have[:12]}); load the backbone checkpoint it was trained with."
        )
    expected = adapter_state(net, frozen)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in state if k in expected and state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise AdapterMismatchError(
            f"{os.fspath(path)}: adapter does not fit these CLSR options (missing "
            f"{missing[:4]}, unexpected {unexpected[:4]}, other shapes {wrong[:4]})."
        )
    net.load_state_dict(state, strict=False)
    return meta


def export_adapter(
    checkpoint: str | os.PathLike,
    network_opt: Mapping,
    frozen: Sequence[str],
    out: str | os.PathLike,
    param_key: str = "params",
) -> str:
    """Write the adapter file of a whole-CLSR BasicSR checkpoint (``net_g_<iter>.pth``).

    Training writes adapters of the EMA weights when EMA is on; this picks any ``param_key``
    of the full checkpoint instead (e.g. ``params`` after a run too short for its EMA decay).

    Returns:
        The path written.
    """
    from clsr_plugin.inference.api import build_clsr
    from clsr_plugin.utils.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    if param_key not in ckpt:
        raise ValueError(f"{os.fspath(checkpoint)}: no {param_key!r} (keys: {sorted(ckpt)}).")
    net = build_clsr(network_opt)
    net.load_state_dict(ckpt[param_key], strict=True)
    return save_adapter(out, net, network_opt, frozen, param_key)
