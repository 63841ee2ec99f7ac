"""Import every module of a sub-package whose file name ends with a suffix (BasicSR's scan)."""

from __future__ import annotations

import importlib
import pkgutil


def import_modules(package_name: str, package_path: list[str], suffix: str) -> list:
    """Import ``<package_name>.<module>`` for every module in ``package_path`` ending in ``suffix``.

    Python caches modules, so calling this again (or importing a module directly first)
    registers nothing twice.
    """
    names = sorted(m.name for m in pkgutil.iter_modules(package_path) if m.name.endswith(suffix))
    return [importlib.import_module(f"{package_name}.{name}") for name in names]
