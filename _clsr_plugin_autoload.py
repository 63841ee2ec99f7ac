"""Autoload hook for an unmodified BasicSR (run at interpreter start-up by a ``.pth`` file).

``clsr_plugin_autoload.pth`` in site-packages calls :func:`install` at start-up. It only adds a
finder to ``sys.meta_path`` (no torch, no basicsr import). When some program later imports
``basicsr``, the finder wraps that import: the torchvision alias that basicsr 1.4.2 needs is
installed before basicsr's own code runs, and ``clsr_plugin`` is imported right after it, so
BasicSR's registries already hold the plugin's types when ``basicsr/train.py`` builds them.

Set ``CLSR_PLUGIN_AUTOLOAD=0`` to turn it off.
"""

import os
import sys

from _clsr_torchvision_shim import install_torchvision_shim

ENV_VAR = "CLSR_PLUGIN_AUTOLOAD"


class _BasicsrHook:
    """Meta-path finder that reacts only to the top-level ``basicsr`` package.

    It asks the other finders (the path finder, editable-install finders, ...) for ``basicsr``'s
    spec and wraps the loader they return, so it works however basicsr is installed. It skips
    other copies of itself and ignores calls made while it is already searching.
    """

    def __init__(self):
        self._searching = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "basicsr" or self._searching:
            return None
        self._searching = True
        try:
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                if find is None or type(finder).__name__ == type(self).__name__:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and not getattr(spec.loader, "is_clsr_hook", 0):
                        spec.loader = _Loader(spec.loader)
                    return spec
            return None
        finally:
            self._searching = False


class _Loader:
    """Runs basicsr's own loader between the torchvision alias and ``import clsr_plugin``."""

    is_clsr_hook = True

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        install_torchvision_shim()
        self._loader.exec_module(module)
        try:
            import clsr_plugin  # noqa: F401  (registers the plugin into basicsr's registries)
        except Exception as err:
            if hasattr(err, "add_note"):
                err.add_note(f"(clsr_plugin autoload on 'import basicsr'; {ENV_VAR}=0 disables it)")
            raise

    def __getattr__(self, name):
        return getattr(self._loader, name)


def install():
    """Add the hook once, unless ``CLSR_PLUGIN_AUTOLOAD`` is 0/false/no/off."""
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if "basicsr" in sys.modules or any(isinstance(f, _BasicsrHook) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _BasicsrHook())
