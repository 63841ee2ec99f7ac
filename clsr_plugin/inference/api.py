"""The practitioner's entry point: load a trained CLSR, super-resolve ROIs of real images.

    model = load_clsr("net_g_latest.pth", "options/test_clsr_srresnet_x4.yml", device="cuda")
    crops = upscale_rois(model, lr_rgb, [(10, 20, 24, 24), (100, 40, 48, 32)])

``upscale_rois`` is the model's own ``encode_context`` + ``decode`` path (the one validation
uses): context work is done once per context window, ROIs of one size are decoded in batches,
and ROIs whose padded windows overlap share one base-branch pass (``share_windows``).
For huge images it restricts the context to a window of ``context_window`` x the ROI size
around each ROI (windows of nearby ROIs are merged) and can compute the PIM in tiles; the
image itself stays an integer numpy array and only the windows are converted to tensors.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from clsr_plugin.archs.build import build_clsr
from clsr_plugin.inference.restore import decode_rois
from clsr_plugin.inference.rois import Box, context_windows, validate_rois
from clsr_plugin.utils.checkpoint import (
    YAML_OPT_IN,
    CheckpointError,
    extract_state_dict,
    load_checkpoint,
    unsafe_pickle_opt,
)
from clsr_plugin.utils.image_io import LoadedImage, image_to_tensor
from clsr_plugin.utils.options import load_yaml

logger = logging.getLogger("clsr_plugin")

#: Default context window, as a multiple of the ROI's longer side (``None`` = whole image).
#: Measured (bench's context-window trade-off, Urban100 img_001-006, 460 ROIs of 24x24, the
#: pretrained MSRResNet in a fresh CLSR, which equals the backbone, so only the base window
#: is measured): PSNR 24.682 dB at K=1 (no padding), 24.8495 at K=1.5, 24.8497 at K=2, 6 and
#: the whole image; quality saturates once the window holds the padded ROI (K >= 1.67 for
#: roi_pad 8), and the API never clips the base window anyway. What a trained GCM/PIM gains
#: from context the paper's Fig. 9 shows saturating near 6x; 6 is the smallest K at or
#: beyond both saturation points (cost per ROI grows ~K^2 for the context branches).
DEFAULT_CONTEXT_WINDOW: float | None = 6.0
#: PIM tile (LR pixels) of ``upscale_rois(pim_tile="auto")``: contexts larger than this are
#: encoded in tiles (exact for convolutional backbones), bounding the PIM's memory on huge
#: images; K = 6 windows of ROIs up to 85 px stay one pass.
DEFAULT_PIM_TILE = 512


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``'auto'`` -> CUDA when available else CPU; otherwise ``torch.device(device)``.

    Raises:
        ValueError: an unknown device string, or CUDA requested but not available.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"Unknown device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} requested but CUDA is not available")
    return dev


def resolve_half(half: bool | str | None, device: torch.device) -> torch.dtype:
    """Compute dtype for ``half``: False -> float32; True/'auto' -> bf16 where supported
    (CPU, Ampere+ GPUs) else fp16; 'bf16' / 'fp16' explicitly.

    Raises:
        ValueError: an unknown value.
    """
    if half in (None, False, "", "no", "fp32", "float32"):
        return torch.float32
    if half in (True, "auto"):
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if half in ("bf16", "bfloat16"):
        return torch.bfloat16
    if half in ("fp16", "float16"):
        return torch.float16
    raise ValueError(f"half must be one of False, True, 'auto', 'bf16', 'fp16'; got {half!r}")


def read_network_opt(opt: str | os.PathLike | Mapping) -> tuple[dict, dict]:
    """The ``network_g`` dict and the ``path`` dict of an options YAML / dict.

    Accepts a BasicSR options file (train or test YAML with ``network_g``; a path or a shipped
    name such as ``srresnet``, see :mod:`clsr_plugin.option_files`), an options dict, or a
    ``network_g`` dict itself (with ``type``).

    Raises:
        ValueError: missing/unparsable file or no network definition.
    """
    if isinstance(opt, (str, os.PathLike)):
        from clsr_plugin.option_files import resolve_options

        path = resolve_options(opt, "any")  # a path, or a shipped name such as "srresnet"
        opt = load_yaml(path)
    if not isinstance(opt, Mapping):
        raise ValueError(f"Options must be a mapping, got {type(opt).__name__}")
    path_opt = dict(opt.get("path") or {})
    net = opt.get("network_g", opt)
    if not isinstance(net, Mapping) or "type" not in net:
        raise ValueError("Options define no network: expected `network_g: {type: CLSR, ...}`")
    return copy.deepcopy(dict(net)), path_opt


def load_weights(
    model: nn.Module,
    weights: str | Mapping,
    allow_unsafe_pickle: bool = False,
    opt_in: str = YAML_OPT_IN,
) -> str:
    """Load a CLSR checkpoint (``params_ema`` else ``params``) or a plain backbone checkpoint.

    A state dict whose keys carry CLSR's ``base.`` prefix loads strictly into the whole model;
    one without loads as backbone weights (base branch and GCM extractor) through
    ``clsr_plugin.archs.load_backbone_weights``.

    Returns:
        ``'CLSR'`` (a whole CLSR checkpoint) or ``'backbone'``: what was loaded.

    Raises:
        FileNotFoundError, ValueError; CheckpointError (a RuntimeError: an unreadable file,
        non-finite values, key/shape mismatch with the keys listed), naming the file.
    """
    if isinstance(weights, Mapping) and all(isinstance(v, torch.Tensor) for v in weights.values()):
        state = OrderedDict(weights)
    else:
        ckpt = (
            weights
            if isinstance(weights, Mapping)
            else load_checkpoint(weights, allow_unsafe_pickle, opt_in)
        )
        state = extract_state_dict(ckpt, "params_ema")
    source = "the given state dict" if isinstance(weights, Mapping) else os.fspath(weights)
    if any(k.startswith("base.") for k in state):
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shapes: torch lists every mismatch over many lines
            detail = " ".join(str(err).split("\n", 1)[-1].split())
            raise CheckpointError(f"{source} does not fit the CLSR options: {detail}") from None
        if missing or unexpected:
            raise CheckpointError(
                f"{source} does not match the CLSR options: missing keys {list(missing)[:8]}, "
                f"unexpected keys {list(unexpected)[:8]}"
            )
        return "CLSR"
    from clsr_plugin.archs import load_backbone_weights

    load_backbone_weights(model, state, strict=True)
    return "backbone"


def load_clsr(
    weights: str | os.PathLike | Mapping | None,
    opt_or_yaml: str | os.PathLike | Mapping | None = None,
    device: str | torch.device | None = "cpu",
    half: bool | str = False,
    allow_unsafe_pickle: bool | None = None,
    adapter: str | os.PathLike | None = None,
    opt_in: str = YAML_OPT_IN,
) -> nn.Module:
    """Build a CLSR from options and load trained weights, ready for inference.

    Args:
        weights: BasicSR checkpoint of a CLSR (``net_g_*.pth``: ``params_ema`` preferred, else
            ``params``), or of the plain backbone (a fresh CLSR, equal to the backbone), or a
            state dict; ``None`` keeps the random/identity initialisation.
        opt_or_yaml: options YAML path or dict (``network_g``) or a ``network_g`` dict; may be
            None with an ``adapter`` (its metadata holds the CLSR options).
        adapter: an adapter file (:mod:`clsr_plugin.inference.adapter_file`) loaded after
            ``weights`` (the backbone it was trained on: its hash is checked).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'auto'``.
        half: False (fp32), True/'auto' (bf16 where supported, else fp16), 'bf16', 'fp16':
            inference runs under ``torch.autocast`` with this dtype (weights stay fp32; the
            dtype is kept as ``model.amp_dtype`` and applied by :func:`autocast_for`).
        allow_unsafe_pickle: allow full unpickling (trusted files only); ``None`` = the
            options' ``path: {allow_unsafe_pickle: true}`` (the boolean; any other value is
            an error).
        opt_in: how a refusal tells the user to opt in (``clsr-infer`` names its flag).

    Returns:
        The model in eval mode on ``device``.
    """
    from clsr_plugin.inference.adapter_file import load_adapter, read_adapter

    adapter_file = read_adapter(adapter) if adapter is not None else None
    if opt_or_yaml is None:
        if adapter_file is None:
            raise ValueError(
                "No CLSR options: give --opt (opt_or_yaml), or an --adapter file whose "
                "metadata holds them."
            )
        opt_or_yaml = adapter_file[1]["network_g"]
    net_opt, path_opt = read_network_opt(opt_or_yaml)
    dev = resolve_device(device)
    dtype = resolve_half(half, dev)
    model = build_clsr(net_opt)
    if weights is not None:
        if not isinstance(weights, Mapping) and not os.path.isfile(os.fspath(weights)):
            raise FileNotFoundError(f"Weights file not found: {os.fspath(weights)!r}")
        if allow_unsafe_pickle is None:
            unsafe = unsafe_pickle_opt(path_opt)
        else:
            unsafe = allow_unsafe_pickle is True
        kind = load_weights(model, weights, unsafe, opt_in)
        logger.info(
            "Loaded %s weights from %s", kind, weights if isinstance(weights, str) else "dict"
        )
    if adapter_file is not None:
        load_adapter(model, adapter, adapter_file)
        logger.info("Loaded the adapter %s", os.fspath(adapter))
    model = model.to(device=dev).eval()
    model.amp_dtype = None if dtype == torch.float32 else dtype
    return model


def autocast_for(model: nn.Module) -> contextlib.AbstractContextManager:
    """``torch.autocast`` with the model's ``amp_dtype`` (set by :func:`load_clsr`), or a no-op."""
    dtype = getattr(model, "amp_dtype", None)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(next(model.parameters()).device.type, dtype=dtype)


def _model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    p = next(model.parameters())
    return p.dtype, p.device


def _as_array(image: np.ndarray | LoadedImage | torch.Tensor) -> np.ndarray | torch.Tensor:
    if isinstance(image, LoadedImage):
        return image.rgb
    if isinstance(image, torch.Tensor):
        t = image[0] if image.dim() == 4 else image
        if t.dim() != 3 or t.shape[0] != 3:
            raise ValueError(
                f"Tensor image must be (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}"
            )
        return t
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"Image must be an (H, W, 3) RGB array, got {shape}")
    return image


def crop_to_tensor(
    image: np.ndarray | torch.Tensor, window: Box, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The ``(x, y, w, h)`` window of an image as a (1, 3, h, w) tensor in [0, 1]."""
    x, y, w, h = window
    if isinstance(image, torch.Tensor):
        t = image[:, y : y + h, x : x + w][None].float()
    else:
        t = image_to_tensor(image[y : y + h, x : x + w])
    return t.to(device=device, dtype=dtype)


@torch.no_grad()
def upscale_rois(
    model: nn.Module,
    image: np.ndarray | LoadedImage | torch.Tensor,
    rois: Sequence[Sequence[int]],
    context_window: float | None = DEFAULT_CONTEXT_WINDOW,
    pim_tile: int | str | None = "auto",
    batch_size: int = 64,
    min_context_pad: int | None = None,
    merge_windows: bool = True,
    share_windows: bool = True,
) -> list[np.ndarray]:
    """Super-resolve ROIs of one LR image with a CLSR, context work once per context window.

    Args:
        model: a CLSR (e.g. from :func:`load_clsr`), eval mode.
        image: LR image, (H, W, 3) RGB numpy (uint8, uint16 or float in [0, 1]), a
            :class:`LoadedImage`, or a (3, H, W) / (1, 3, H, W) float tensor in [0, 1].
        rois: ``(x, y, w, h)`` boxes in LR pixels; any sizes (grouped by size internally).
        context_window: context = ``context_window`` x the ROI's longer side around each ROI
            (at least the model's ``roi_pad``); ``None`` = the whole image (the exact
            validation path). Images smaller than the window use the whole image either way.
        pim_tile: compute the PIM over the context in tiles of this many LR pixels (plus a
            halo of its receptive field) to bound memory; ``None`` = in one pass; ``"auto"``
            (default): tiles of :data:`DEFAULT_PIM_TILE` for contexts larger than that, when
            the PIM's receptive field is finite (convolutional backbones: the tiled features
            are then the untiled ones exactly), else one pass.
        batch_size: ROIs decoded per batch.
        min_context_pad: context pixels kept around each ROI at least (default the model's
            ``roi_pad``, so the base window never shrinks; 0 lets a small window clip it).
        merge_windows: share one context among ROIs whose windows overlap (default); False
            gives every ROI its own window.
        share_windows: ROIs whose padded base windows overlap share one base-branch pass
            (default; :func:`clsr_plugin.inference.restore.decode_rois`): many ROIs never cost
            more than the image; False decodes ROI by ROI (the validation path exactly).

    Returns:
        One (s*h, s*w, 3) float32 RGB array in [0, 1] per ROI, in input order.

    Raises:
        ValueError: a ROI outside the image / of zero or negative size, or a bad image.
    """

    arr = _as_array(image)
    if isinstance(arr, torch.Tensor):
        height, width = int(arr.shape[1]), int(arr.shape[2])
    else:
        height, width = int(arr.shape[0]), int(arr.shape[1])
    boxes = validate_rois(rois, height, width)
    dtype, device = _model_dtype_device(model)
    min_pad = int(model.roi_pad) if min_context_pad is None else int(min_context_pad)
    groups = context_windows(boxes, height, width, context_window, min_pad, merge_windows)
    pim_tile, halo = _pim_tiling(model, pim_tile, max(max(w[2], w[3]) for w, _ in groups))
    out: list[np.ndarray | None] = [None] * len(boxes)
    for window, members in groups:
        lq = crop_to_tensor(arr, window, dtype, device)
        with autocast_for(model):
            cache = encode_context(model, lq, pim_tile, halo)
        local = torch.tensor(
            [[boxes[i][0] - window[0], boxes[i][1] - window[1], boxes[i][2], boxes[i][3]]
             for i in members],
            dtype=torch.long, device=device,
        )  # fmt: skip
        with autocast_for(model):
            srs = decode_rois(model, cache, local, batch_size, share_windows)
        for i, sr in zip(members, srs):
            out[i] = sr.float().clamp_(0, 1).permute(1, 2, 0).cpu().numpy()
        del cache, lq
    return out  # type: ignore[return-value]


def _pim_tiling(
    model: nn.Module, pim_tile: int | str | None, largest: int
) -> tuple[int | None, int | None]:
    """``(tile, halo)`` for :func:`encode_context` (see ``upscale_rois``' ``pim_tile``);
    ``largest``: the longest side of the contexts to encode."""
    if pim_tile is None or model.pim is None:
        return None, None
    auto = pim_tile == "auto"
    if auto and (largest <= DEFAULT_PIM_TILE or not model.pim.local):
        return None, None  # one tile anyway, or tiles would not be exact: no probe
    from clsr_plugin.inference.tiling import RF_LIMIT, cached_receptive_field

    halo = cached_receptive_field(model.pim)  # probed once per model, not per image
    if auto:
        return (DEFAULT_PIM_TILE, halo) if halo < RF_LIMIT else (None, None)
    return int(pim_tile), halo


def encode_context(
    model: nn.Module, lq: torch.Tensor, pim_tile: int | None = None, halo: int | None = None
) -> Any:
    """``model.encode_context(lq)``, with the PIM computed in tiles when ``pim_tile`` is set
    (``halo``: context around each tile, ``None`` = the PIM's measured receptive field)."""
    if pim_tile is None:
        return model.encode_context(lq)
    from clsr_plugin.inference.tiling import encode_context_tiled

    return encode_context_tiled(model, lq, pim_tile, halo)
