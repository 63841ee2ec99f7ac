"""The start-up hook that lets an unmodified BasicSR find the plugin's types.

Every test runs a fresh interpreter of the installed environment (``sys.executable``), whose
site-packages must hold ``clsr_plugin_autoload.pth``; a missing hook is a failure, not a skip.
"""

import importlib.util
import inspect
import json
import shutil
import sys
from pathlib import Path

import basicsr
import pytest
import torch
from basicsr.utils.registry import ARCH_REGISTRY
from tiny_job import SOURCE_ROOT, python, require_autoload_hook, run, write_job

PROBE = (
    "import json, sys\n"
    "before = {m: m in sys.modules for m in ('torch', 'basicsr', 'clsr_plugin')}\n"
    "hooked = any(type(f).__name__ == '_BasicsrHook' for f in sys.meta_path)\n"
    "try:\n"
    "    import basicsr\n"
    "    error = None\n"
    "except ImportError as err:\n"
    "    error = str(err)\n"
    "print(json.dumps({'before': before, 'hooked': hooked, 'error': error,\n"
    "                  'plugin': 'clsr_plugin' in sys.modules}))\n"
)


@pytest.fixture(scope="module", autouse=True)
def _hook_installed():
    require_autoload_hook()


@pytest.fixture
def basicsr_checkout(tmp_path) -> Path:
    """``tmp_path`` holding an unmodified copy of the installed ``basicsr/train.py``."""
    (tmp_path / "basicsr").mkdir()
    shutil.copy(Path(basicsr.__file__).parent / "train.py", tmp_path / "basicsr" / "train.py")
    return tmp_path


def _probe(tmp_path, autoload: str) -> dict:
    out = run([python(), "-c", PROBE], cwd=tmp_path, CLSR_PLUGIN_AUTOLOAD=autoload)
    assert out.returncode == 0, out.stdout
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_hook_loads_nothing_at_start_up_and_plugin_with_basicsr(tmp_path):
    got = _probe(tmp_path, "1")
    assert got["hooked"]
    assert got["before"] == {"torch": False, "basicsr": False, "clsr_plugin": False}
    assert got["error"] is None and got["plugin"]


def test_environment_variable_turns_the_hook_off(tmp_path):
    got = _probe(tmp_path, "0")
    assert not got["hooked"] and not got["plugin"]
    if got["error"] is not None:  # torchvision >= 0.17 without the plugin's alias
        assert "functional_tensor" in got["error"]


@pytest.mark.parametrize(
    "value, hooked", [("0", False), (" OFF", False), ("no", False), ("false", False), ("1", True)]
)
def test_install_reads_the_environment_variable(monkeypatch, value, hooked):
    autoload = _source_autoload()
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not _is_hook(f)])
    monkeypatch.delitem(sys.modules, "basicsr")
    monkeypatch.setenv(autoload.ENV_VAR, value)
    autoload.install()
    autoload.install()
    assert sum(map(_is_hook, sys.meta_path)) == int(hooked)


def test_hook_wraps_basicsr_from_any_finder(monkeypatch):
    """basicsr installed in editable mode comes from a finder after the path finder."""
    autoload = _source_autoload()

    class EditableFinder:
        loader = object()

        def find_spec(self, fullname, path=None, target=None):
            if fullname.startswith("basicsr"):
                return importlib.util.spec_from_loader(fullname, self.loader)
            return None

    class Delegating:  # another finder that, like the hook, asks every finder in turn
        def find_spec(self, fullname, path=None, target=None):
            specs = (f.find_spec(fullname, path, target) for f in sys.meta_path if f is not self)
            return next((s for s in specs if s is not None), None)

    hook = autoload._BasicsrHook()
    finders = [hook, Delegating(), autoload._BasicsrHook(), EditableFinder()]
    monkeypatch.setattr(sys, "meta_path", finders)
    spec = hook.find_spec("basicsr")
    assert spec.loader.is_clsr_hook
    assert spec.loader._loader is EditableFinder.loader  # wrapped once, not by every copy
    assert hook.find_spec("basicsr.archs") is None  # submodules are basicsr's own business
    assert hook.find_spec("json") is None


def _source_autoload():
    """The ``_clsr_plugin_autoload`` file under test (start-up imported the installed copy)."""
    path = Path(SOURCE_ROOT) / "_clsr_plugin_autoload.py"
    spec = importlib.util.spec_from_file_location("_clsr_plugin_autoload_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_hook(finder) -> bool:
    return type(finder).__name__ == "_BasicsrHook"


def test_unmodified_basicsr_train_resumes_on_cpu(basicsr_checkout):
    """Only the plugin makes ``--auto_resume`` work on CPU: basicsr calls torch.cuda."""
    root = basicsr_checkout
    yml = write_job(root, name="autoload_resume", total_iter=2)
    first = run([python(), "basicsr/train.py", "-opt", yml.name], cwd=root)
    assert first.returncode == 0, first.stdout[-3000:]
    more = ["--auto_resume", "--force_yml", "train:total_iter=3"]
    second = run([python(), "basicsr/train.py", "-opt", yml.name, *more], cwd=root)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "Resuming training from epoch: 0, iter: 2." in second.stdout
    # the plugin's weights-only load_network wrote this line (basicsr's says "with param key")
    assert "net_g_2.pth, key [params]." in second.stdout
    states = root / "experiments" / "autoload_resume" / "training_states"
    assert sorted(p.name for p in states.iterdir()) == ["1.state", "2.state", "3.state"]


def _carn_options() -> tuple[dict, int]:
    """``network_g`` for the plugin's CARN with its constructor defaults, and its scale."""
    carn = ARCH_REGISTRY.get("CARN")
    params = inspect.signature(carn).parameters
    wanted = {"num_in_ch": 3, "num_out_ch": 3, "upscale": 2, "scale": 2, "upscale_factor": 2}
    kwargs = {k: v for k, v in wanted.items() if k in params}
    with torch.no_grad():
        out = carn(**kwargs)(torch.rand(1, 3, 8, 8))
    scale = out.shape[-1] // 8
    assert out.shape == (1, 3, 8 * scale, 8 * scale), out.shape
    return {"type": "CARN", **kwargs}, scale


@pytest.mark.skipif("CARN" not in ARCH_REGISTRY, reason="the plugin's CARN is not merged yet")
def test_unmodified_basicsr_train_builds_a_plugin_arch(basicsr_checkout):
    root = basicsr_checkout
    network_g, scale = _carn_options()
    yml = write_job(root, name="autoload_carn", total_iter=2, network_g=network_g, scale=scale)
    out = run([python(), "basicsr/train.py", "-opt", yml.name], cwd=root, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "Network [CARN] is created." in out.stdout
    models = root / "experiments" / "autoload_carn" / "models"
    assert (models / "net_g_latest.pth").is_file()
