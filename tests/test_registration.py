import importlib
import subprocess
import sys


def test_import_twice_and_reload_of_subpackages_is_harmless():
    import clsr_plugin

    importlib.import_module("clsr_plugin")
    importlib.import_module("clsr_plugin.archs")
    # a fresh interpreter importing a submodule first must also work
    code = "import clsr_plugin.compat, clsr_plugin; import basicsr; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert clsr_plugin.__version__


def test_basicsr_imports_through_plugin():
    import basicsr
    import basicsr.data.degradations  # the module that needs torchvision's removed alias

    assert basicsr.__version__ == "1.4.2"
