"""The torchvision alias basicsr 1.4.2 needs, outside the ``clsr_plugin`` package.

A module of its own (no torch, no basicsr, no ``clsr_plugin`` import at import time) so that
both the autoload hook (:mod:`_clsr_plugin_autoload`, before basicsr's code runs) and
:mod:`clsr_plugin.compat` use it without importing each other.
"""

import sys


def install_torchvision_shim():
    """Provide ``torchvision.transforms.functional_tensor`` when torchvision no longer has it.

    basicsr 1.4.2 imports it at import time; it was removed in torchvision 0.17.
    """
    name = "torchvision.transforms.functional_tensor"
    if name in sys.modules:
        return
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401

        return
    except ImportError:
        pass
    import types

    import torchvision.transforms.functional as functional

    shim = types.ModuleType(name)
    shim.__doc__ = "Alias installed by clsr_plugin for basicsr 1.4.2."
    shim.rgb_to_grayscale = functional.rgb_to_grayscale
    sys.modules[name] = shim
