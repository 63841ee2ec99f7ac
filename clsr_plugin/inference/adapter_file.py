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
* ``param_key`` (``params`` or ``params_ema``: which weights were saved) and ``iter``
  (informational).

Saving (:func:`save_adapter`) and loading (:func:`load_adapter`) live here and nowhere else.
Reading (:func:`read_adapter`, which every entry point goes through) refuses, in one line
naming the file and the key or tensor: missing metadata keys (:data:`REQUIRED_METADATA`),
NaN / Inf values, ``network_g`` options that do not fit CLSR's constructor, and tensors that
are not those of the network ``network_g`` describes (names, shapes, dtypes: checked on the
``meta`` device, before anything is allocated, see :func:`described_state`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from clsr_plugin.archs.build import build_clsr
from clsr_plugin.utils.atomic import atomic_path
from clsr_plugin.utils.checkpoint import listed_problems

FORMAT = "clsr-adapter"
FORMAT_VERSION = "1"
#: the suffix of adapter files written next to BasicSR's ``net_g_<iter>.pth``
SUFFIX = "_adapter.safetensors"
#: metadata keys a loader needs (``param_key`` and ``iter`` are informational)
REQUIRED_METADATA = ("format", "format_version", "network_g", "frozen", "frozen_sha256")


class AdapterMismatchError(ValueError):
    """An adapter file does not fit the network or backbone it is loaded into."""


def under(name: str, prefixes: Sequence[str]) -> bool:
    """Whether the parameter / module ``name`` lies under one of the module ``prefixes``."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def frozen_weights_hash(
    net: nn.Module | Mapping[str, torch.Tensor], prefixes: Sequence[str]
) -> str:
    """SHA-256 of the state-dict entries under ``prefixes`` (names, dtypes, shapes, bytes) of a
    network or of a state dict."""
    digest = hashlib.sha256()
    state = net if isinstance(net, Mapping) else net.state_dict()
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
    """The tensors and the decoded metadata of an adapter file, checked.

    Checks, before any network is built: the format and its version, every key of
    :data:`REQUIRED_METADATA` (and its type), finite values
    (:func:`~clsr_plugin.utils.checkpoint.check_finite`), ``network_g`` against CLSR's
    constructor (:func:`~clsr_plugin.archs.clsr_arch.check_network_opt`, ``type: CLSR``), and
    that the tensors are exactly the unfrozen entries of the network ``network_g`` describes
    (:func:`described_state`: names, shapes, dtypes), so absurd sizes in the metadata are
    refused without allocating them.

    Raises:
        FileNotFoundError: no such file.
        AdapterMismatchError: not a readable adapter file, or one of the checks (one line
            naming the file and the key or tensor).
        NonFiniteError: a tensor holds NaN or Inf (a ``CheckpointError``).
    """
    from safetensors import safe_open

    from clsr_plugin.archs.clsr_arch import check_network_opt
    from clsr_plugin.utils.checkpoint import check_finite

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
    missing = [k for k in REQUIRED_METADATA if k not in raw]
    if missing:
        raise AdapterMismatchError(
            f"{path}: the adapter metadata lacks the key(s) {', '.join(missing)} (an adapter "
            f"file's metadata holds {', '.join(REQUIRED_METADATA)})."
        )
    try:
        meta = dict(raw, network_g=json.loads(raw["network_g"]), frozen=json.loads(raw["frozen"]))
    except json.JSONDecodeError as err:
        raise AdapterMismatchError(f"{path}: broken adapter metadata ({err}).") from None
    frozen = meta["frozen"]
    if not isinstance(frozen, list) or not all(isinstance(p, str) and p for p in frozen):
        raise AdapterMismatchError(
            f"{path}: metadata frozen must be a JSON list of module prefixes, got {frozen!r}."
        )
    if not re.fullmatch(r"[0-9a-f]{64}", str(meta["frozen_sha256"])):
        raise AdapterMismatchError(
            f"{path}: metadata frozen_sha256 is not a SHA-256 hex digest: "
            f"{meta['frozen_sha256'][:80]!r}."
        )
    check_finite(state, path)
    where = f"{path}: metadata network_g"
    try:
        check_network_opt(meta["network_g"], where)
    except ValueError as err:
        raise AdapterMismatchError(str(err)) from None
    if meta["network_g"]["type"] != "CLSR":
        raise AdapterMismatchError(
            f"{where}.type is {meta['network_g']['type']!r}; an adapter is part of a CLSR "
            "(type: CLSR)."
        )
    expected = described_state(meta["network_g"], frozen, state, path)
    problem = state_mismatch(expected, state)
    if problem:
        n_exp = sum(v.numel() for v in expected.values())
        n_file = sum(v.numel() for v in state.values())
        if (n_exp, len(expected)) == (n_file, len(state)):  # same sizes: the dtypes differ
            raise AdapterMismatchError(f"{path}: {problem}")
        raise AdapterMismatchError(
            f"{where} describes {n_exp:,} adapter parameters in {len(expected)} tensors, the "
            f"file holds {n_file:,} in {len(state)}: {problem}"
        )
    return state, meta


def unfrozen_state(net: nn.Module, prefixes: Sequence[str]) -> OrderedDict:
    """The state-dict entries of ``net`` not under ``prefixes`` (no copy; meta nets too)."""
    return OrderedDict((k, v) for k, v in net.state_dict().items() if not under(k, prefixes))


def state_mismatch(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading as ``expected`` (names, shapes, dtype kinds), or ``''``.

    Dtypes must match unless both are floating point (a float16 copy of a float32 adapter
    loads); an integer tensor where the network holds floats (or the reverse) is refused.
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    common = [k for k in state if k in expected]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in common
        if state[k].shape != expected[k].shape
    ]
    dtypes = [
        f"tensor {k} is {str(state[k].dtype).replace('torch.', '')}, expected "
        f"{str(expected[k].dtype).replace('torch.', '')}"
        for k in common
        if state[k].dtype != expected[k].dtype
        and not (state[k].is_floating_point() and expected[k].is_floating_point())
    ]
    parts = listed_problems([("missing", missing), ("unexpected", unexpected),
                             ("other shapes", shapes)], 4)  # fmt: skip
    if dtypes:
        parts.append("; ".join(dtypes[:4]) + (" ..." if len(dtypes) > 4 else ""))
    return ", ".join(parts)


#: Tensors of up to this many elements are made for real (on the CPU) while a network is
#: built on the ``meta`` device, so constructors that read small values (SwinIR's
#: ``torch.linspace(...).item()``) still work; everything larger stays shape-only.
_REAL_NUMEL = 1024


class _LargeOnMeta(TorchFunctionMode):
    """Factory functions without a device make ``meta`` tensors (small ones: real CPU ones)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _factories() and kwargs.get("device") is None and "out" not in kwargs:
            out = func(*args, **dict(kwargs, device="meta"))
            if not isinstance(out, torch.Tensor) or out.numel() > _REAL_NUMEL:
                return out
        return func(*args, **kwargs)


def _factories() -> set:
    """The torch functions that create tensors on a device (torch's own list where it has one)."""
    from torch.utils import _device

    listed = getattr(_device, "_device_constructors", None)
    if listed is not None:
        return listed()
    names = ("empty", "empty_strided", "zeros", "ones", "full", "eye", "arange", "linspace",
             "logspace", "rand", "randn", "randint", "randperm", "tensor", "as_tensor")  # fmt: skip
    return {getattr(torch, n) for n in names}


class _TooLarge(Exception):
    """Raised by the registration hook of :func:`described_state` to stop an absurd build."""


def tensor_budget(state: Mapping[str, torch.Tensor]) -> int:
    """How many tensors (parameters and buffers) the whole CLSR of an adapter may register
    while it is built on the ``meta`` device before the build is stopped as absurd.

    With the PIM in the file (the usual ``frozen: [base, gcm.extractor]``) the network is
    its frozen copy of the backbone plus at most the extractor and the file itself: measured
    1.6-2.2x the file's tensors for every paper backbone, so 3x + 256. Without it (the PIM
    frozen or disabled) the file says little about the backbone's depth: 4x + 16,384 (the
    paper's RCAN is 3,462).
    """
    if any(k.startswith("pim.") for k in state):
        return 3 * len(state) + 256
    return 4 * len(state) + 16384


def described_state(
    network_opt: Mapping,
    frozen: Sequence[str],
    state: Mapping[str, torch.Tensor],
    path: str,
) -> OrderedDict:
    """The unfrozen state-dict entries (shapes and dtypes only) of the CLSR ``network_opt``
    describes, built on the ``meta`` device: nothing large is allocated.

    The build stops once it registers more than :func:`tensor_budget` tensors (e.g.
    ``num_block: 1000000``), which the file's tensors cannot describe. The global RNG is left
    as it was.

    Raises:
        AdapterMismatchError: the network is absurdly larger than the file, or cannot be built.
    """

    budget, count, me = tensor_budget(state), [0], threading.get_ident()

    def hook(module, name, tensor):
        if threading.get_ident() == me:
            count[0] += 1
            if count[0] > budget:
                raise _TooLarge

    register = nn.modules.module
    handles = [
        register.register_module_parameter_registration_hook(hook),
        register.register_module_buffer_registration_hook(hook),
    ]
    where = f"{path}: metadata network_g"
    try:
        with torch.random.fork_rng(devices=[]), _LargeOnMeta():
            net = build_clsr(network_opt)
    except _TooLarge:
        raise AdapterMismatchError(
            f"{where} describes a network of more than {budget:,} tensors, but the file holds "
            f"{len(state)} (backbone {json.dumps(network_opt.get('backbone'), sort_keys=True)}"
            "); refusing to build it."
        ) from None
    except (ValueError, TypeError, RuntimeError) as err:
        text = " ".join(str(err).split())[:300]
        raise AdapterMismatchError(f"{where} cannot be built: {text}") from None
    finally:
        for handle in handles:
            handle.remove()
    return unfrozen_state(net, frozen)


def load_adapter(
    net: nn.Module, path: str | os.PathLike, contents: tuple[OrderedDict, dict] | None = None
) -> dict:
    """Load an adapter file into ``net``, whose frozen part must already hold the backbone.

    Checks that the frozen weights of ``net`` hash to the adapter's ``frozen_sha256`` and that
    the adapter's tensors are exactly ``net``'s unfrozen entries (names, shapes, dtypes).
    ``contents``: what :func:`read_adapter` already returned for ``path`` (not read again).

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
    problem = state_mismatch(unfrozen_state(net, frozen), state)
    if problem:
        raise AdapterMismatchError(
            f"{os.fspath(path)}: adapter does not fit these CLSR options ({problem})"
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
    from clsr_plugin.utils.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    if param_key not in ckpt:
        raise ValueError(f"{os.fspath(checkpoint)}: no {param_key!r} (keys: {sorted(ckpt)}).")
    net = build_clsr(network_opt)
    net.load_state_dict(ckpt[param_key], strict=True)
    return save_adapter(out, net, network_opt, frozen, param_key)
