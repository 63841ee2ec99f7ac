"""The plugin's datasets (DATASET_REGISTRY).

Every `*_dataset.py` module in this folder is imported (and so registered) on import.
"""

from clsr_plugin.utils.registration import import_modules

_modules = import_modules(__name__, __path__, "_dataset")
