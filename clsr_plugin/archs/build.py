"""Building a CLSR from its ``network_g`` options (a plain backbone is wrapped)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from torch import nn


def build_clsr(net_opt: Mapping) -> nn.Module:
    """Build the network of ``net_opt``; a plain backbone is wrapped as ``CLSR(backbone=...)``.

    The plugin's types are in BasicSR's registry: importing any ``clsr_plugin`` module runs the
    package's ``__init__``, which registers them.

    Raises:
        ValueError: options that do not fit the constructors
            (:func:`~clsr_plugin.archs.clsr_arch.check_network_opt`), in one line.
    """
    from basicsr.archs import build_network

    from clsr_plugin.archs.clsr_arch import check_network_opt

    check_network_opt(net_opt)
    net_opt = copy.deepcopy(dict(net_opt))
    if net_opt["type"] != "CLSR":
        net_opt = {"type": "CLSR", "backbone": net_opt}
    return build_network(net_opt)
