"""Which parameters of a CLSR train: ``train.freeze`` prefixes and ``train.lr_multipliers``."""

from __future__ import annotations

import torch
from basicsr.utils import get_root_logger

from clsr_plugin.inference import adapter_file


def lr_groups(net: torch.nn.Module, multipliers: object, lr: float) -> list[dict]:
    """The trainable parameters of ``net`` as optimizer groups: one per ``multipliers`` entry
    (module prefix -> factor on ``lr``; the first prefix that holds a parameter wins) and one
    for the rest at ``lr``. Groups without parameters are left out.

    Raises:
        ValueError: multipliers that are not a mapping of existing module prefixes to numbers
            >= 0 (one line).
    """
    multipliers = multipliers or {}
    modules = {name for name, _ in net.named_modules() if name}
    if not isinstance(multipliers, dict) or not all(
        k in modules and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
        for k, v in multipliers.items()
    ):
        raise ValueError(
            "train.lr_multipliers must map module prefixes of network_g (e.g. base, pim, gcm) to "
            f"factors >= 0, got {multipliers!r}."
        )
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    groups, taken = [], set()
    for prefix, factor in multipliers.items():
        params = [p for n, p in named if adapter_file.under(n, [prefix]) and n not in taken]
        taken |= {n for n, _ in named if adapter_file.under(n, [prefix])}
        if params:
            groups.append({"params": params, "lr": lr * float(factor)})
    rest = [p for n, p in named if n not in taken]
    return ([{"params": rest, "lr": lr}] if rest else []) + groups


def freeze(net: torch.nn.Module, prefixes: object) -> tuple[list[str], list[torch.nn.Module]]:
    """Freeze the parameters of ``net`` under the module-name ``prefixes`` (``train.freeze``: a
    name, a list or None); returns the prefixes and the frozen modules (kept in eval mode).

    Raises:
        ValueError: a prefix that names no module (the valid top-level names listed).
    """
    prefixes = [prefixes] if isinstance(prefixes, str) else list(prefixes or [])
    modules = {name for name, _ in net.named_modules() if name}
    unknown = [p for p in prefixes if p not in modules]
    if unknown:
        valid = sorted(m for m in modules if m.count(".") <= 1 and not m.split(".")[-1].isdigit())
        raise ValueError(f"train.freeze: unknown module(s) {unknown}; valid: {valid}.")
    for name, param in net.named_parameters():
        if adapter_file.under(name, prefixes):
            param.requires_grad_(False)
    frozen = [m for n, m in net.named_modules() if adapter_file.under(n, prefixes)]
    if prefixes:
        n_frozen = sum(p.numel() for p in net.parameters() if not p.requires_grad)
        n_train = sum(p.numel() for p in net.parameters() if p.requires_grad)
        get_root_logger().info(
            f"Frozen {prefixes}: {n_frozen:,} parameters frozen, {n_train:,} trained."
        )
    return prefixes, frozen
