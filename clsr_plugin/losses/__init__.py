"""The plugin's losses (LOSS_REGISTRY).

Every `*_loss.py` module in this folder is imported (and so registered) on import.
"""

from clsr_plugin.utils.registration import import_modules

_modules = import_modules(__name__, __path__, "_loss")
