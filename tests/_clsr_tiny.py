"""Tiny real CLSR models shared by the inference / CLI / bench tests (CPU, milliseconds)."""

from __future__ import annotations

import os

import torch
import yaml

from clsr_plugin.inference.api import build_clsr

TINY_OPT = {
    "type": "CLSR",
    "backbone": {"type": "MSRResNet", "num_feat": 16, "num_block": 4, "upscale": 4},
    "roi_pad": 4,
    "gcm": {"num_patches": 16, "num_heads": 2},
}


def tiny_clsr(trained: bool = True, seed: int = 0) -> torch.nn.Module:
    """The tiny CLSR; ``trained`` perturbs the zero-initialised GCM/PIM paths so the context
    changes the output (a fresh CLSR equals its backbone)."""
    torch.manual_seed(seed)
    model = build_clsr(TINY_OPT)
    if trained:
        g = torch.Generator().manual_seed(seed)
        for name, p in model.named_parameters():
            if name.startswith(("pim.", "gcm.")):
                p.data.add_(0.3 * torch.randn(p.shape, generator=g))
    return model.eval()


def write_checkpoint(model: torch.nn.Module, folder: str) -> tuple[str, str]:
    """Save ``model`` as a BasicSR checkpoint plus an options YAML; returns their paths."""
    weights = os.path.join(folder, "net_g.pth")
    torch.save({"params_ema": model.state_dict(), "params": model.state_dict()}, weights)
    opt = os.path.join(folder, "opt.yml")
    with open(opt, "w") as f:
        yaml.safe_dump({"name": "tiny", "scale": 4, "network_g": TINY_OPT}, f)
    return weights, opt
