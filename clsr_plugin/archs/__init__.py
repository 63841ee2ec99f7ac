"""The plugin's architectures (ARCH_REGISTRY).

Every `*_arch.py` module in this folder is imported (and so registered) on import.
"""

from clsr_plugin.utils.registration import import_modules

_modules = import_modules(__name__, __path__, "_arch")
