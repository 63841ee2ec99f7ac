"""train.freeze and adapter files: frozen weights stay put, adapters round-trip, mismatches fail."""

import os

import pytest
import torch
from basicsr.archs import build_network
from basicsr.models import build_model

from clsr_plugin.inference import adapter_file
from clsr_plugin.inference.api import load_clsr

FREEZE = ["base", "gcm.extractor"]


@pytest.fixture
def backbone_ckpt(tmp_path, tiny_backbone):
    """A plain BasicSR checkpoint of the tiny backbone (random weights, seed 3)."""
    torch.manual_seed(3)
    path = str(tmp_path / "backbone.pth")
    torch.save({"params": build_network(dict(tiny_backbone)).state_dict()}, path)
    return path


def _frozen_opt(make_opt, backbone_ckpt, ema=0.9):
    return make_opt(
        train=dict(freeze=FREEZE, ema_decay=ema),
        path=dict(pretrain_network_backbone_g=backbone_ckpt),
    )


def test_frozen_weights_stay_bit_identical_and_out_of_the_optimizer(
    make_opt, backbone_ckpt, fixed_batch
):
    model = build_model(_frozen_opt(make_opt, backbone_ckpt))
    net = model.get_bare_model(model.net_g)
    frozen = {k: v.clone() for k, v in net.state_dict().items() if adapter_file.under(k, FREEZE)}
    trainable = {k: v.clone() for k, v in net.state_dict().items() if k not in frozen}
    optimised = {id(p) for group in model.optimizer_g.param_groups for p in group["params"]}
    for name, p in net.named_parameters():
        assert (id(p) in optimised) == (name not in frozen), name
        assert p.requires_grad == (name not in frozen), name
    for it in range(1, 6):
        model.feed_data(fixed_batch)
        model.optimize_parameters(it)
        assert all(not m.training for n, m in net.named_modules() if n == "base")
        assert net.pim.training
    after, ema = net.state_dict(), model.net_g_ema.state_dict()
    for k, v in frozen.items():
        assert torch.equal(after[k], v), k
        assert torch.equal(ema[k], v), k
        assert net.get_parameter(k).grad is None if k in dict(net.named_parameters()) else True
    assert any(not torch.equal(after[k], v) for k, v in trainable.items())


def test_unknown_freeze_prefix_is_a_one_line_error(make_opt):
    with pytest.raises(ValueError, match=r"train.freeze: unknown module\(s\) \['bases'\]") as err:
        build_model(make_opt(train=dict(freeze=["bases"])))
    assert "\n" not in str(err.value) and "'gcm.extractor'" in str(err.value)


def _train_and_save(make_opt, backbone_ckpt, fixed_batch):
    model = build_model(_frozen_opt(make_opt, backbone_ckpt))
    for key in ("models", "training_states"):
        os.makedirs(model.opt["path"][key], exist_ok=True)
    for it in range(1, 4):
        model.feed_data(fixed_batch)
        model.optimize_parameters(it)
    model.save(0, 3)
    models_dir = model.opt["path"]["models"]
    return (
        model,
        os.path.join(models_dir, "net_g_3.pth"),
        os.path.join(models_dir, f"net_g_3{adapter_file.SUFFIX}"),
    )


def test_adapter_round_trip_equals_the_full_checkpoint(make_opt, backbone_ckpt, fixed_batch):
    model, full, adapter = _train_and_save(make_opt, backbone_ckpt, fixed_batch)
    state, meta = adapter_file.read_adapter(adapter)
    assert meta["frozen"] == FREEZE and meta["param_key"] == "params_ema" and meta["iter"] == "3"
    assert not any(adapter_file.under(k, FREEZE) for k in state)
    assert sum(v.numel() for v in state.values()) < sum(
        v.numel() for v in model.net_g_ema.state_dict().values()
    )
    # the metadata alone rebuilds the CLSR: backbone + adapter, no options
    from_adapter = load_clsr(backbone_ckpt, None, adapter=adapter)
    from_full = load_clsr(full, model.opt["network_g"])
    lq, box = fixed_batch["lq"][:2], fixed_batch["roi"][:2]
    with torch.no_grad():
        a, b = from_adapter(lq, box)[0], from_full(lq, box)[0]
        assert torch.equal(a, b)
        assert not torch.equal(a, from_full.base_only(lq, box))  # the adapter does something
    # the model loads it from YAML too
    test_model = build_model(
        make_opt(
            is_train=False,
            path=dict(
                pretrain_network_backbone_g=backbone_ckpt, pretrain_network_adapter_g=adapter
            ),
        )
    )
    with torch.no_grad():
        c = test_model.get_bare_model(test_model.net_g).eval()(lq, box)[0]
    assert torch.equal(a, c)


def test_adapter_refuses_another_backbone(make_opt, backbone_ckpt, fixed_batch, tmp_path,
                                          tiny_backbone):  # fmt: skip
    _, _, adapter = _train_and_save(make_opt, backbone_ckpt, fixed_batch)
    torch.manual_seed(99)
    other = str(tmp_path / "other.pth")
    torch.save({"params": build_network(dict(tiny_backbone)).state_dict()}, other)
    with pytest.raises(adapter_file.AdapterMismatchError, match="other frozen weights") as err:
        load_clsr(other, None, adapter=adapter)
    assert "\n" not in str(err.value)
    with pytest.raises(adapter_file.AdapterMismatchError, match="other frozen weights"):
        build_model(
            make_opt(
                is_train=False,
                path=dict(pretrain_network_backbone_g=other, pretrain_network_adapter_g=adapter),
            )
        )
    not_adapter = str(tmp_path / "plain.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, not_adapter)
    with pytest.raises(adapter_file.AdapterMismatchError, match="not a CLSR adapter file"):
        load_clsr(backbone_ckpt, None, adapter=not_adapter)


def test_export_adapter_of_the_trained_weights(make_opt, backbone_ckpt, fixed_batch, tmp_path):
    model, full, ema_adapter = _train_and_save(make_opt, backbone_ckpt, fixed_batch)
    out = adapter_file.export_adapter(
        full, model.opt["network_g"], FREEZE, str(tmp_path / "p.safetensors"), "params"
    )
    assert adapter_file.read_adapter(out)[1]["param_key"] == "params"
    net = load_clsr(backbone_ckpt, None, adapter=out)
    lq, box = fixed_batch["lq"][:2], fixed_batch["roi"][:2]
    trained = model.get_bare_model(model.net_g).eval()
    with torch.no_grad():
        assert torch.equal(net(lq, box)[0], trained(lq, box)[0])
        ema = load_clsr(backbone_ckpt, None, adapter=ema_adapter)
        assert not torch.equal(net(lq, box)[0], ema(lq, box)[0])
    with pytest.raises(ValueError, match="no 'params_x'"):
        adapter_file.export_adapter(full, model.opt["network_g"], FREEZE, out, "params_x")
