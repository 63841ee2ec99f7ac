"""Backbone adapters: a backbone as head -> ordered stages -> tail, looked up by YAML ``type``.

One adapter per backbone family (not registered in BasicSR; CLSR looks them up here):
MSRResNet, EDSR, RCAN, SwinIR (light and classical) and the plugin's CARN / CARN_M.
"""

from __future__ import annotations

from clsr_plugin.archs.adapters.base import BackboneAdapter, mirror_pad
from clsr_plugin.archs.adapters.carn import CARNAdapter
from clsr_plugin.archs.adapters.edsr import EDSRAdapter, RCANAdapter
from clsr_plugin.archs.adapters.srresnet import MSRResNetAdapter
from clsr_plugin.archs.adapters.swinir import SwinIRAdapter

ADAPTERS: dict[str, type[BackboneAdapter]] = {
    name: cls
    for cls in (MSRResNetAdapter, EDSRAdapter, RCANAdapter, SwinIRAdapter, CARNAdapter)
    for name in cls.types
}


def get_adapter(backbone_type: str) -> type[BackboneAdapter]:
    """The adapter class for a backbone YAML ``type``.

    Raises:
        ValueError: the type has no adapter.
    """
    if backbone_type not in ADAPTERS:
        raise ValueError(
            f"Backbone type {backbone_type!r} is not supported by CLSR; supported: "
            f"{sorted(ADAPTERS)}."
        )
    return ADAPTERS[backbone_type]


__all__ = ["ADAPTERS", "BackboneAdapter", "get_adapter", "mirror_pad"]
