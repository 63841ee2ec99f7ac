"""The basicsr 1.4.2 compatibility layer applied by ``import clsr_plugin``."""

import os

import pytest
import torch
from basicsr.models.base_model import BaseModel
from basicsr.utils import options as basicsr_options
from torch.nn.parallel import DistributedDataParallel

from clsr_plugin import compat


def test_basicsr_imports_through_plugin():
    import basicsr
    import basicsr.data.degradations  # the module that needs torchvision's removed alias

    assert basicsr.__version__ == "1.4.2"
    assert callable(basicsr.data.degradations.rgb_to_grayscale)


def test_apply_again_changes_nothing():
    from basicsr import train as basicsr_train

    patched = (
        basicsr_train.load_resume_state,
        basicsr_options.parse_options,
        basicsr_options.init_dist,
        BaseModel.load_network,
        BaseModel.save_network,
    )
    compat.apply()
    compat.apply()
    assert patched == (
        basicsr_train.load_resume_state,
        basicsr_options.parse_options,
        basicsr_options.init_dist,
        BaseModel.load_network,
        BaseModel.save_network,
    )
    assert basicsr_train.load_resume_state is compat.load_resume_state
    # wrapped exactly once: the wrapper's target is basicsr's own function
    wrapped = basicsr_options.parse_options.__wrapped__
    assert wrapped.__module__ == "basicsr.utils.options" and not hasattr(wrapped, "__wrapped__")


def test_recognises_basicsr_load_resume_state_in_any_copy():
    def compiled(filename: str, name: str = "load_resume_state"):
        scope = {}
        exec(compile(f"def {name}(opt):\n    return None\n", filename, "exec"), scope)
        return scope[name]

    copy = os.path.join("somewhere", "basicsr", "train.py")
    assert compat._is_basicsr_load_resume_state(compiled(copy))
    assert not compat._is_basicsr_load_resume_state(compiled(copy, "other"))
    assert not compat._is_basicsr_load_resume_state(compiled(os.path.join("x", "train.py")))
    assert not compat._is_basicsr_load_resume_state(compat.load_resume_state)
    assert not compat._is_basicsr_load_resume_state(None)


def test_load_resume_state_without_states_returns_none(tmp_path):
    opt = {"auto_resume": True, "root_path": str(tmp_path), "name": "none", "path": {}}
    assert compat.load_resume_state(opt) is None
    (tmp_path / "experiments" / "none" / "training_states").mkdir(parents=True)
    assert compat.load_resume_state(opt) is None
    assert compat.load_resume_state({"auto_resume": False, "path": {"resume_state": None}}) is None


def test_init_dist_rejects_unknown_launcher():
    with pytest.raises(ValueError, match="'mpi'|mpi"):
        compat.init_dist("mpi")


def test_model_to_device_keeps_cpu_models_unwrapped_without_dist():
    model = BaseModel({"num_gpu": 0, "is_train": False, "dist": False, "path": {}})
    net = model.model_to_device(torch.nn.Conv2d(1, 1, 1))
    assert not isinstance(net, DistributedDataParallel)
    assert next(net.parameters()).device.type == "cpu"


def test_atomic_torch_save_never_leaves_partial_files(tmp_path, monkeypatch):
    path = tmp_path / "1.state"
    compat.atomic_torch_save({"iter": 1}, str(path))
    assert torch.load(path, weights_only=True) == {"iter": 1}

    def broken_save(obj, f):
        with open(f, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        compat.atomic_torch_save({"iter": 2}, str(path))
    assert torch.load(path, weights_only=True) == {"iter": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.state"]


def test_make_exp_dirs_skips_non_path_entries(tmp_path):
    from basicsr.utils import make_exp_dirs

    root = tmp_path / "experiments" / "x"
    opt = {
        "is_train": True,
        "path": {
            "experiments_root": str(root),
            "models": str(root / "models"),
            "allow_unsafe_pickle": True,
            "pretrain_network_g": None,
        },
    }
    make_exp_dirs(opt)
    assert (root / "models").is_dir()
    assert opt["path"]["allow_unsafe_pickle"] is True  # options are left as they were
    assert "pretrain_network_g" in opt["path"]
