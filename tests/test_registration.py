"""``import clsr_plugin`` registers every plugin type into BasicSR's registries exactly once."""

import importlib
import json
import subprocess
import sys

from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY
from tiny_job import child_env

from clsr_plugin.utils.registration import import_modules

REGISTRIES = (ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY)
SUFFIXES = {"archs": "_arch", "data": "_dataset", "losses": "_loss", "models": "_model"}


def _snapshot() -> dict:
    return {reg._name: dict(reg._obj_map) for reg in REGISTRIES}


def test_importing_again_registers_nothing_twice():
    before = _snapshot()
    import clsr_plugin

    importlib.import_module("clsr_plugin")
    for sub, suffix in SUFFIXES.items():
        package = importlib.import_module(f"clsr_plugin.{sub}")
        import_modules(package.__name__, package.__path__, suffix)
    clsr_plugin.compat.apply()
    after = _snapshot()
    assert after.keys() == before.keys()
    for name in before:  # same names mapped to the very same objects
        assert after[name].keys() == before[name].keys(), name
        assert all(after[name][k] is v for k, v in before[name].items()), name


def test_plugin_types_are_named_after_their_class_and_live_in_the_plugin():
    for reg in REGISTRIES:
        for name, obj in reg:
            module = getattr(obj, "__module__", "")
            if module.startswith("clsr_plugin."):
                assert name == obj.__name__, f"{reg._name}: {name} registered for {obj}"
                sub = module.split(".")[1]
                assert module.endswith(SUFFIXES[sub]), f"{name} is registered from {module}"
            else:
                assert module.startswith("basicsr."), f"{reg._name}: {name} from {module}"


def test_any_import_order_in_a_fresh_interpreter():
    """Submodules first, the package twice, then basicsr: same registries as a plain import."""
    code = (
        "import json, sys\n"
        "import clsr_plugin.compat, clsr_plugin.archs, clsr_plugin.models\n"
        "import clsr_plugin, importlib; importlib.import_module('clsr_plugin')\n"
        "import basicsr\n"
        "from basicsr.utils.registry import "
        "ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY\n"
        "regs = (ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY)\n"
        "print(json.dumps({r._name: sorted(r.keys()) for r in regs}))\n"
    )
    for autoload in ("0", "1"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=child_env(CLSR_PLUGIN_AUTOLOAD=autoload),
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got == {reg._name: sorted(reg.keys()) for reg in REGISTRIES}
