"""Build a BasicSR model from an options dict, as ``basicsr.utils.options.parse_options`` would."""

from __future__ import annotations

import copy

import clsr_plugin  # noqa: F401  (registers the plugin, applies the compatibility layer)


def build_from_options(opt: dict, is_train: bool):
    """The model of ``opt`` (no experiment folders are made; nothing is logged to files)."""
    from basicsr.models import build_model

    opt = copy.deepcopy(opt)
    opt.update(is_train=is_train, dist=False, rank=0, world_size=1, auto_resume=False)
    for phase, ds in opt.get("datasets", {}).items():
        ds["phase"], ds["scale"] = phase.split("_")[0], opt["scale"]
    return build_model(opt)


def dataset_options(opt: dict) -> list[dict]:
    """The test datasets of ``opt`` with ``phase`` and ``scale`` filled in."""
    out = []
    for phase, ds in opt["datasets"].items():
        ds = dict(ds)
        ds["phase"], ds["scale"] = phase.split("_")[0], opt["scale"]
        out.append(ds)
    return out
