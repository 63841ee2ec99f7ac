"""Helpers for the arch tests: tiny configurations of every backbone CLSR supports."""

from __future__ import annotations

import torch

SWINIR = dict(
    type="SwinIR",
    upscale=4,
    img_size=16,
    window_size=4,
    embed_dim=12,
    depths=[1, 1],
    num_heads=[2, 2],
    mlp_ratio=2,
    drop_path_rate=0.0,
)

BACKBONES = {
    "MSRResNet": dict(type="MSRResNet", num_feat=16, num_block=5, upscale=4),
    "EDSR": dict(type="EDSR", num_in_ch=3, num_out_ch=3, num_feat=16, num_block=3, upscale=4),
    "RCAN": dict(
        type="RCAN", num_in_ch=3, num_out_ch=3, num_feat=16, num_group=2, num_block=1, upscale=4
    ),
    "SwinIR-light": dict(SWINIR, upsampler="pixelshuffledirect"),
    "SwinIR-classical": dict(SWINIR, upsampler="pixelshuffle"),
    "CARN": dict(type="CARN", num_feat=16, num_block=2, num_unit=2, upscale=4),
    "CARN_M": dict(type="CARN_M", num_feat=16, num_block=2, num_unit=2, upscale=4),
}


def untested_types(adapter_types: list[str], backbones: dict[str, dict]) -> list[str]:
    """The registered backbone types that no test configuration in ``backbones`` builds."""
    covered = {cfg["type"] for cfg in backbones.values()}
    return sorted(t for t in adapter_types if t not in covered)


#: small GCM so that subsampling is exercised on the tiny test contexts
GCM = dict(patch_size=4, num_patches=6, num_heads=2)


def make_clsr(cfg: dict, **kwargs):
    """A CLSR around ``cfg`` with the tiny GCM (kwargs override)."""
    from clsr_plugin.archs.clsr_arch import CLSR

    kwargs.setdefault("roi_pad", 3)
    kwargs.setdefault("gcm", dict(GCM))
    return CLSR(dict(cfg), **kwargs)


def perturb_zero_init(model, std: float = 0.1) -> None:
    """Give every zero-initialised context path random weights (so tests of the context paths
    are not trivially satisfied by zeros)."""
    names = ("pim.fuse", "gcm.fuse", "gcm.up", "gcm.down_q", "gcm.down_kv", "gcm.null_value")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(names):
                p.add_(torch.randn_like(p) * std)
