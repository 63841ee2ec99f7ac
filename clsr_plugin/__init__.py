"""clsr_plugin: context-based local super-resolution (CLSR) for BasicSR.

Importing this package applies the basicsr 1.4.2 compatibility layer and registers every
architecture, dataset, loss and model of the plugin into BasicSR's registries, exactly once.
"""

from clsr_plugin import compat as _compat
from clsr_plugin.version import __version__

_compat.apply()

from clsr_plugin import archs, data, losses, models  # noqa: E402  (registration side effects)

__all__ = ["__version__", "archs", "data", "losses", "models"]
