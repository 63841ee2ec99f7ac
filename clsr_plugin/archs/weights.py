"""Load a plain BasicSR checkpoint of the backbone into CLSR's base branch and GCM extractor."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

from torch import nn

from clsr_plugin.utils.checkpoint import extract_state_dict, listed_problems, load_checkpoint

#: Buffers derived from the configuration, not learnt. SwinIR stores its shifted-window mask for
#: ``img_size``; a checkpoint trained at another ``img_size`` has another shape, and the model's
#: own (recomputed for any other input size anyway) is kept instead.
DERIVED_BUFFERS = ("attn_mask",)


def load_backbone_weights(
    model: nn.Module,
    path_or_state_dict: str | os.PathLike | Mapping,
    strict: bool = True,
    param_key: str = "params_ema",
    allow_unsafe_pickle: bool = False,
) -> None:
    """Load backbone weights into ``model.base`` and into the GCM extractor G.

    Args:
        model: a :class:`~clsr_plugin.archs.clsr_arch.CLSR`.
        path_or_state_dict: checkpoint path (``.pth`` / ``.safetensors``) or a loaded
            checkpoint / state dict (``params_ema``, else ``params``, ... see
            :func:`clsr_plugin.utils.checkpoint.extract_state_dict`).
        strict: raise when any key is missing, unexpected or of another shape; otherwise load
            the matching keys and warn about the rest.
        param_key: preferred container key. Default: ``params_ema``.
        allow_unsafe_pickle: load a trusted checkpoint with full unpickling.

    Raises:
        ValueError: (strict) the keys or shapes do not match; the message lists them.
    """
    if isinstance(path_or_state_dict, Mapping):
        state = extract_state_dict(path_or_state_dict, param_key)
        source = "the given state dict"
    else:
        ckpt = load_checkpoint(path_or_state_dict, allow_unsafe_pickle=allow_unsafe_pickle)
        state = extract_state_dict(ckpt, param_key)
        source = os.fspath(path_or_state_dict)
    own = model.base.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(DERIVED_BUFFERS)]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape and not k.endswith(DERIVED_BUFFERS)
    ]
    groups = [("missing in checkpoint", missing), ("unexpected in checkpoint", unexpected),
              ("shape mismatch", shapes)]  # fmt: skip
    problems = listed_problems(groups, 20, counts=True)
    if problems:
        message = f"Backbone weights from {source} do not match {type(model.base).__name__}: "
        if strict:
            raise ValueError(message + "; ".join(problems))
        warnings.warn(message + "; ".join(problems) + " (loaded the matching keys)", stacklevel=2)
    loadable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.base.load_state_dict(loadable, strict=False)
    if getattr(model, "gcm", None) is not None:
        model.gcm.load_extractor_from(model.base)
