"""The plugin's architectures (ARCH_REGISTRY).

Every `*_arch.py` module in this folder is imported (and so registered) on import: ``CLSR``
(``clsr_arch.py``) and the extra backbones ``CARN`` / ``CARN_M`` (``carn_arch.py``).
:func:`load_backbone_weights` loads a plain BasicSR backbone checkpoint into a CLSR.
"""

from clsr_plugin.archs.weights import load_backbone_weights
from clsr_plugin.utils.registration import import_modules

_modules = import_modules(__name__, __path__, "_arch")

__all__ = ["load_backbone_weights"]
