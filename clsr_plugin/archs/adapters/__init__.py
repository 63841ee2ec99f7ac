"""Backbone adapters: a backbone as head -> ordered stages -> tail, looked up by YAML ``type``.

One adapter per backbone family (not registered in BasicSR; CLSR looks them up here). Each
adapter module in this folder is imported on import and registers its class with
:func:`~clsr_plugin.archs.adapters.base.register_adapter`, so a new backbone is one adapter
file (plus its tiny configuration in the tests' ``clsr_testing.BACKBONES``).
"""

from __future__ import annotations

from clsr_plugin.archs.adapters.base import (
    ADAPTERS,
    BackboneAdapter,
    mirror_pad,
    register_adapter,
)
from clsr_plugin.utils.registration import import_modules

_modules = import_modules(__name__, __path__, "")


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


__all__ = ["ADAPTERS", "BackboneAdapter", "get_adapter", "mirror_pad", "register_adapter"]
