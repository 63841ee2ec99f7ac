import numpy as np
import pytest
import torch
from clsr_testing import BACKBONES, untested_types

from clsr_plugin.archs.adapters import ADAPTERS, BackboneAdapter, get_adapter, mirror_pad
from clsr_plugin.archs.adapters.base import (
    largest_divisor_at_most,
    register_adapter,
    split_evenly,
)


def _build(cfg):
    adapter_cls = get_adapter(cfg["type"])
    net = adapter_cls.build(cfg).eval()
    return net, adapter_cls(net)


def test_run_equals_backbone_forward(backbone_cfg):
    net, adapter = _build(backbone_cfg)
    x = torch.rand(2, 3, 8, 12)  # a multiple of every window size used here
    with torch.no_grad():
        assert torch.equal(adapter.run(x), net(x))
    assert adapter.scale == 4 and adapter.in_channels == 3


def test_any_size_is_padded_and_cropped(backbone_cfg):
    net, adapter = _build(backbone_cfg)
    for h, w in [(1, 1), (5, 7), (9, 2)]:
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            out = adapter.run(x)
            ref = net(mirror_pad(x, adapter.pad_multiple))[..., : 4 * h, : 4 * w]
        assert out.shape == (1, 3, 4 * h, 4 * w)
        assert torch.equal(out, ref)


def test_truncated_extractor_keeps_backbone_keys_and_features(backbone_cfg):
    net, adapter = _build(backbone_cfg)
    g_net, g = _build(backbone_cfg)
    g.truncate(1)
    g_state = g_net.state_dict()
    full_state = net.state_dict()
    assert set(g_state) < set(full_state)
    g_net.load_state_dict({k: full_state[k] for k in g_state})
    x = torch.rand(3, 3, 6, 6)
    with torch.no_grad():
        feat, state = adapter.head(mirror_pad(x, adapter.pad_multiple))
        ref = adapter.stage(0, feat, state)[..., :6, :6]
        assert torch.equal(g.features(x), ref)
    with pytest.raises(RuntimeError, match="truncated"):
        g.run(x)


def test_slim_copy_guards(backbone_cfg):
    adapter_cls = get_adapter(backbone_cfg["type"])
    net, adapter = _build(backbone_cfg)
    c = adapter_cls.slim_width(backbone_cfg, adapter.width, 0.1, 8)
    assert 8 <= c <= adapter.width
    slim = adapter_cls.build_slim(backbone_cfg, c)
    slim_adapter = adapter_cls(slim)
    assert slim_adapter.width == c and slim_adapter.num_stages == adapter.num_stages
    assert slim_adapter.run(torch.rand(1, 3, 5, 6)).shape == (1, 3, 20, 24)
    for m in slim.modules():  # every conv of the slim copy is at most c' wide inside the body
        if isinstance(m, torch.nn.Conv2d) and m is not slim.conv_first:
            assert m.in_channels <= 4 * c


def test_slim_guards_at_paper_widths():
    rcan = dict(type="RCAN", num_in_ch=3, num_out_ch=3, num_feat=64, squeeze_factor=16)
    assert get_adapter("RCAN").slim_config(rcan, 6)["squeeze_factor"] == 6
    swin = dict(type="SwinIR", embed_dim=60, num_heads=[6, 6, 6, 6])
    heads = get_adapter("SwinIR").slim_config(swin, 8)["num_heads"]
    assert heads == [1, 1, 1, 1]  # the head width (10) is kept, not the head count
    assert get_adapter("SwinIR").slim_config(swin, 30)["num_heads"] == [3, 3, 3, 3]
    classical = dict(type="SwinIR", embed_dim=180, num_heads=[6] * 6)
    assert get_adapter("SwinIR").slim_config(classical, 18)["num_heads"] == [1] * 6
    assert get_adapter("SwinIR").slim_config(classical, 64)["num_heads"] == [2] * 6
    carn_m = dict(type="CARN_M", num_feat=64, groups=4)
    assert get_adapter("CARN_M").slim_width(carn_m, 64, 0.1, 5) == 8  # rounded up to groups
    assert get_adapter("MSRResNet").slim_width({"type": "MSRResNet"}, 64, 0.1, 8) == 8
    assert get_adapter("MSRResNet").slim_width({"type": "MSRResNet"}, 180, 0.1, 8) == 18


def test_stage_splits():
    assert split_evenly(16, 4) == [(0, 4), (4, 8), (8, 12), (12, 16)]
    assert split_evenly(3, 4) == [(0, 1), (1, 2), (2, 3)]
    assert largest_divisor_at_most(8, 6) == 4 and largest_divisor_at_most(180, 6) == 6
    net, adapter = _build(BACKBONES["MSRResNet"])  # 5 blocks -> 4 stages
    assert adapter.num_stages == 4


def test_mirror_pad_matches_numpy_symmetric():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    out = mirror_pad(x, 8)
    ref = np.pad(x.numpy()[0, 0], ((0, 5), (0, 4)), mode="symmetric")
    assert out.shape == (1, 1, 8, 8)
    np.testing.assert_array_equal(out[0, 0].numpy(), ref)
    assert torch.equal(mirror_pad(torch.ones(1, 1, 1, 1) * 3, 4), torch.full((1, 1, 4, 4), 3.0))
    assert mirror_pad(x, 1) is x


def test_unsupported_backbones():
    with pytest.raises(ValueError, match="RRDBNet"):
        get_adapter("RRDBNet")
    cfg = dict(BACKBONES["SwinIR-light"], upsampler="nearest+conv")
    adapter_cls = get_adapter("SwinIR")
    with pytest.raises(ValueError, match="nearest\\+conv"):
        adapter_cls(adapter_cls.build(cfg))


def test_adapter_file_of_every_backbone_reads_back(backbone_cfg, tmp_path):
    """``read_adapter`` checks the file against the network its metadata describes, built on
    the ``meta`` device (SwinIR's constructor reads small tensors: those are real) without
    touching the global RNG."""
    from clsr_testing import GCM

    from clsr_plugin.inference.adapter_file import read_adapter, save_adapter, unfrozen_state
    from clsr_plugin.inference.api import build_clsr

    opt = {"type": "CLSR", "backbone": backbone_cfg, "roi_pad": 3, "gcm": dict(GCM)}
    net = build_clsr(opt)
    frozen = ["base", "gcm.extractor"]
    path = save_adapter(tmp_path / "a.safetensors", net, opt, frozen)
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    state, meta = read_adapter(path)
    assert torch.equal(torch.rand(3), expected)
    assert sorted(state) == sorted(unfrozen_state(net, frozen)) and meta["frozen"] == frozen


EXTRA_SCALES = [
    dict(type="MSRResNet", num_feat=8, num_block=2, upscale=2),
    dict(type="MSRResNet", num_feat=8, num_block=2, upscale=3),
    dict(type="EDSR", num_in_ch=3, num_out_ch=3, num_feat=8, num_block=2, upscale=2),
    dict(type="EDSR", num_in_ch=3, num_out_ch=3, num_feat=8, num_block=2, upscale=3),
]


def test_tail_on_boxes_equals_cropped_full_tail(backbone_cfg):
    _check_tail_on_boxes(backbone_cfg)


@pytest.mark.parametrize("cfg", EXTRA_SCALES, ids=lambda c: f"{c['type']}x{c['upscale']}")
def test_tail_on_boxes_other_scales(cfg):
    _check_tail_on_boxes(cfg)


def _check_tail_on_boxes(cfg):
    """``run(x, boxes=...)`` gives the full output's pixels at the boxes (the tail's margin
    covers its receptive field), at the image edges too, and crops before the tail where the
    adapter knows its margin."""
    torch.manual_seed(0)
    net, adapter = _build(cfg)
    s = adapter.scale
    x = torch.rand(4, 3, 21, 24)
    boxes = torch.tensor([[0, 0, 6, 5], [9, 7, 6, 5], [18, 16, 6, 5], [3, 16, 6, 5]])
    seen = []
    tail = adapter.tail
    adapter.tail = lambda feat, state: seen.append(tuple(feat.shape[-2:])) or tail(feat, state)
    with torch.no_grad():
        full = adapter.run(x)
        out = adapter.run(x, boxes=boxes)
    for i, (bx, by, bw, bh) in enumerate(boxes.tolist()):
        ref = full[i, :, s * by : s * (by + bh), s * bx : s * (bx + bw)]
        torch.testing.assert_close(out[i], ref, atol=2e-5, rtol=1e-4)
    m = adapter.tail_margin
    if m is not None:
        assert seen[-1] == (5 + 2 * m, 6 + 2 * m)  # the tail ran on the boxes plus the margin
    else:
        assert seen[-1][0] >= 21


def test_every_registered_adapter_has_a_test_config():
    # a new adapter file registers its types; clsr_testing.BACKBONES must build each of them
    assert untested_types(list(ADAPTERS), BACKBONES) == []
    assert untested_types(["MSRResNet", "NewNet"], BACKBONES) == ["NewNet"]


def test_adapters_register_by_decorator():
    assert {"MSRResNet", "EDSR", "RCAN", "SwinIR", "CARN", "CARN_M"} <= set(ADAPTERS)
    assert get_adapter("RCAN") is ADAPTERS["RCAN"] and get_adapter("RCAN").types == ("RCAN",)
    before = dict(ADAPTERS)
    try:

        @register_adapter
        class _Dummy(BackboneAdapter):
            types = ("_DummyNet",)

        assert get_adapter("_DummyNet") is _Dummy
        assert untested_types(list(ADAPTERS), BACKBONES) == ["_DummyNet"]

        class _Clash(BackboneAdapter):
            types = ("EDSR",)

        with pytest.raises(ValueError, match="'EDSR' already has the adapter EDSRAdapter"):
            register_adapter(_Clash)

        class _Nameless(BackboneAdapter):
            pass

        with pytest.raises(ValueError, match="types is empty"):
            register_adapter(_Nameless)
    finally:
        ADAPTERS.clear()
        ADAPTERS.update(before)
    assert ADAPTERS["EDSR"].__name__ == "EDSRAdapter"


def test_an_adapter_with_a_tail_margin_must_crop_its_state():
    with pytest.raises(TypeError, match="_NoCrop sets tail_margin but defines no crop_state"):

        class _NoCrop(BackboneAdapter):
            tail_margin = 2

    class _Crops(BackboneAdapter):  # defining crop_state is enough
        tail_margin = 2

        def crop_state(self, state: dict, crop) -> dict:
            return state

    assert _Crops.tail_margin == 2


@pytest.mark.parametrize("size", [(16, 16), (8, 12), (12, 20)])  # img_size is 16
def test_swinir_stages_equal_basicsr_layers_with_the_shared_masks(size):
    """The adapter's stage (cached masks, no zero mask) is BasicSR's RSTB forward."""
    from clsr_plugin.archs.adapters import swinir

    torch.manual_seed(0)
    cfg = dict(BACKBONES["SwinIR-light"], depths=[2, 2])
    net, adapter = _build(cfg)
    net.eval()
    h, w = size
    feat = torch.randn(2, cfg["embed_dim"], h, w)
    tokens = feat.flatten(2).transpose(1, 2)
    with torch.no_grad():
        for i, layer in enumerate(net.layers):
            ref = layer(tokens, (h, w)).transpose(1, 2).reshape(feat.shape)
            torch.testing.assert_close(adapter.stage(i, feat, {}), ref, rtol=0, atol=1e-6)
    blk = net.layers[0].residual_group.blocks[1]
    assert blk.shift_size > 0 and swinir.shift_mask(net.layers[0].residual_group.blocks[0],
                                                    size, feat.device) is None  # fmt: skip
    torch.testing.assert_close(swinir.shift_mask(blk, size, feat.device),
                               blk.calculate_mask(size), rtol=0, atol=0)  # fmt: skip
    assert swinir.shift_mask(blk, size, feat.device) is swinir.shift_mask(blk, size, feat.device)
