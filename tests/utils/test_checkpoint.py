"""Weights-only checkpoint loading: BasicSR containers, .safetensors, refusing code execution."""

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from basicsr.archs.srresnet_arch import MSRResNet
from basicsr.models.base_model import BaseModel
from safetensors.torch import save_file

from clsr_plugin.utils.checkpoint import (
    UNSAFE_FLAG,
    UnsafeCheckpointError,
    extract_state_dict,
    load_checkpoint,
)


class _WritesMarker:
    """Unpickling this object calls ``open(path, 'w')``: it creates the marker file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _tiny_net() -> MSRResNet:
    return MSRResNet(num_feat=4, num_block=1, upscale=2)


def _shifted(state: dict, delta: float) -> OrderedDict:
    return OrderedDict((k, v + delta) for k, v in state.items())


def _model(allow_unsafe: bool = False) -> BaseModel:
    opt = {"num_gpu": 0, "is_train": False, "dist": False, "path": {UNSAFE_FLAG: allow_unsafe}}
    return BaseModel(opt)


def _assert_same(net: torch.nn.Module, state: dict) -> None:
    got = net.state_dict()
    assert got.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(got[k], v), k


@pytest.fixture
def basicsr_ckpt(tmp_path):
    """A checkpoint as BasicSR's ``save_network`` writes it, EMA weights differ from params."""
    params = _tiny_net().state_dict()
    ema = _shifted(params, 1.0)
    path = tmp_path / "net_g_5.pth"
    torch.save({"params": params, "params_ema": ema}, path)
    return path, params, ema


def test_basicsr_checkpoint_loads_weights_only(basicsr_ckpt):
    path, params, ema = basicsr_ckpt
    ckpt = load_checkpoint(path)
    assert set(ckpt) == {"params", "params_ema"}
    for key, ref in (("params", params), ("params_ema", ema), (None, ema)):
        state = extract_state_dict(ckpt, key)
        assert list(state) == list(ref)
        assert all(torch.equal(state[k], ref[k]) for k in ref)


def test_extract_state_dict_layouts():
    w = {"conv.weight": torch.ones(1), "conv.bias": torch.zeros(1)}
    prefixed = {f"module.{k}": v for k, v in w.items()}
    for container in ({"state_dict": prefixed}, {"model": w}, prefixed, w):
        assert dict(extract_state_dict(container, "params")) == w
    with pytest.raises(ValueError, match="No weights found.*'epoch'"):
        extract_state_dict({"epoch": 3, "iter": 7})
    with pytest.raises(ValueError, match="list"):
        extract_state_dict([torch.ones(1)])


def test_basicsr_load_network_is_weights_only_and_picks_the_key(basicsr_ckpt, tmp_path):
    path, params, ema = basicsr_ckpt
    model, net = _model(), _tiny_net()
    model.load_network(net, str(path), strict=True, param_key="params_ema")
    _assert_same(net, ema)
    model.load_network(net, str(path), strict=True, param_key="params")
    _assert_same(net, params)
    only_params = tmp_path / "only_params.pth"
    torch.save({"params": {f"module.{k}": v for k, v in params.items()}}, only_params)
    model.load_network(net, str(only_params), strict=True, param_key="params_ema")
    _assert_same(net, params)


def test_safetensors_loads(tmp_path):
    state = _shifted(_tiny_net().state_dict(), 2.0)
    path = tmp_path / "net.safetensors"
    save_file(dict(state), str(path))
    ckpt = load_checkpoint(path)
    assert dict(extract_state_dict(ckpt, "params_ema")).keys() == state.keys()
    net = _tiny_net()
    _model().load_network(net, str(path), strict=True, param_key="params_ema")
    _assert_same(net, state)


def test_code_executing_pickle_is_refused_and_opt_in_runs_it(tmp_path):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pth"
    torch.save({"params": _tiny_net().state_dict(), "extra": _WritesMarker(marker)}, path)
    assert not marker.exists()

    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and UNSAFE_FLAG in message
    assert "open" in message  # names what it refused to call
    with pytest.raises(UnsafeCheckpointError, match=UNSAFE_FLAG):
        _model().load_network(_tiny_net(), str(path), param_key="params")
    assert not marker.exists()

    # the opt-in really unpickles everything (which proves the file would have run code)
    ckpt = load_checkpoint(path, allow_unsafe_pickle=True)
    assert marker.exists()
    marker.unlink()
    assert "params" in ckpt
    _model(allow_unsafe=True).load_network(_tiny_net(), str(path), param_key="params")
    assert marker.exists()


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        load_checkpoint(tmp_path / "nothing.pth")
    good = tmp_path / "good.pth"
    torch.save({"params": _tiny_net().state_dict()}, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(RuntimeError, match="truncated.pth"):
        load_checkpoint(truncated)
