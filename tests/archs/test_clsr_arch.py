import pytest
import torch
from basicsr.archs import build_network
from clsr_testing import BACKBONES, make_clsr, perturb_zero_init

from clsr_plugin.archs import load_backbone_weights
from clsr_plugin.archs.adapters import get_adapter, mirror_pad
from clsr_plugin.archs.clsr_arch import CLSR
from clsr_plugin.archs.roi import padded_window

H, W = 13, 11  # odd context, not a multiple of SwinIR's window


def _boxes(*boxes):
    return torch.tensor(boxes, dtype=torch.long)


def test_forward_backward_shapes(backbone_cfg):
    model = make_clsr(backbone_cfg).train()
    lq = torch.rand(2, 3, H, W)
    boxes = _boxes([0, 0, 5, 3], [6, 10, 5, 3])
    roi_sr, context_sr = model(lq, boxes)
    assert roi_sr.shape == (2, 3, 12, 20)
    assert context_sr.shape == (2, 3, 4 * H, 4 * W)
    (roi_sr.abs().mean() + context_sr.abs().mean()).backward()
    assert model.base.conv_first.weight.grad.abs().sum() > 0
    assert model.pim.net.conv_first.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model(lq, boxes)[1] is None  # no context output outside training


def test_identity_at_init_random_weights(backbone_cfg):
    model = make_clsr(backbone_cfg).eval()
    lq = torch.rand(3, 3, H, W)
    boxes = _boxes([0, 0, 4, 4], [7, 9, 4, 4], [3, 5, 4, 4])
    with torch.no_grad():
        out, _ = model(lq, boxes)
        assert torch.equal(out, model.base_only(lq, boxes))
        # and base_only is the backbone itself on the padded window, cropped to the ROI
        adapter_cls = get_adapter(backbone_cfg["type"])
        for b, box in enumerate(boxes.tolist()):
            wx, wy, ww, wh = padded_window(box, model.roi_pad, H, W)
            window = lq[b : b + 1, :, wy : wy + wh, wx : wx + ww]
            m = adapter_cls(model.base).pad_multiple
            full = model.base(mirror_pad(window, m))
            x, y = (box[0] - wx) * 4, (box[1] - wy) * 4
            ref = full[..., y : y + 16, x : x + 16]  # batch of 1: equal up to kernel choice
            torch.testing.assert_close(out[b : b + 1], ref, atol=1e-5, rtol=0)


def _checkpoint(cfg, tmp_path, seed=123):
    torch.manual_seed(seed)
    net = build_network(dict(cfg))
    ema = {
        k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
        for k, v in net.state_dict().items()
    }
    path = tmp_path / "backbone.pth"
    torch.save({"params": net.state_dict(), "params_ema": ema}, path)
    return path, ema


def test_identity_at_init_with_loaded_backbone(backbone_cfg, tmp_path):
    path, ema = _checkpoint(backbone_cfg, tmp_path)
    model = make_clsr(backbone_cfg)
    load_backbone_weights(model, path)
    state = model.base.state_dict()
    assert all(torch.equal(state[k], v) for k, v in ema.items())  # params_ema preferred
    g_state = model.gcm.extractor.state_dict()
    assert g_state and all(torch.equal(v, ema[k]) for k, v in g_state.items())
    model.eval()
    lq = torch.rand(2, 3, H, W)
    boxes = _boxes([0, 7, 6, 6], [5, 0, 6, 6])
    with torch.no_grad():
        assert torch.equal(model(lq, boxes)[0], model.base_only(lq, boxes))


def test_loading_reports_mismatched_keys(tmp_path):
    cfg = BACKBONES["MSRResNet"]
    path, ema = _checkpoint(dict(cfg, num_feat=8), tmp_path)
    model = make_clsr(cfg)
    with pytest.raises(ValueError, match=r"shape mismatch.*conv_first\.weight"):
        load_backbone_weights(model, path)
    good = dict(_checkpoint(cfg, tmp_path)[1])
    del good["conv_last.bias"]
    good["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing.*conv_last\.bias.*unexpected.*extra\.weight"):
        load_backbone_weights(model, {"params": good})
    with pytest.warns(UserWarning, match="conv_last.bias"):
        load_backbone_weights(model, {"params": good}, strict=False)
    assert torch.equal(model.base.conv_first.weight, good["conv_first.weight"])
    assert torch.equal(model.gcm.extractor.conv_first.weight, good["conv_first.weight"])


def test_swinir_checkpoint_of_other_img_size_loads(tmp_path):
    """Shifted-window masks are derived buffers: a checkpoint trained at img_size 8 loads
    into a model configured with img_size 16 (the model keeps its own masks)."""
    cfg = BACKBONES["SwinIR-light"]
    path, _ = _checkpoint(dict(cfg, img_size=8), tmp_path)
    model = make_clsr(cfg)
    load_backbone_weights(model, path)
    mask = model.base.layers[0].residual_group.blocks[0].attn_mask
    assert mask is None or mask.shape[0] == (16 // 4) ** 2


def test_scale_modules_equal_bilinear_in_model(backbone_cfg):
    import torch.nn.functional as F

    gcm = make_clsr(backbone_cfg).gcm
    x = torch.randn(2, gcm.fuse.in_channels, 7, 5)
    down = gcm.down_q(x)
    assert torch.equal(down, F.interpolate(x, size=(4, 3), mode="bilinear", align_corners=False))
    up = gcm.up(down, (7, 5))
    assert torch.equal(up, F.interpolate(down, size=(7, 5), mode="bilinear", align_corners=False))


def _positions(size_h, size_w):
    """Boxes of one size at the 4 corners, the 4 edges and the centre of the context."""
    xs = [0, (W - size_w) // 2, W - size_w]
    ys = [0, (H - size_h) // 2, H - size_h]
    return sorted({(x, y, size_w, size_h) for x in xs for y in ys})


def test_rois_everywhere_batched_equals_one_by_one(backbone_cfg):
    model = make_clsr(backbone_cfg).eval()
    perturb_zero_init(model)
    lq = torch.rand(1, 3, H, W)
    with torch.no_grad():
        cache = model.encode_context(lq)
        for size in [(1, 1), (3, 5), (6, 4), (H, W)]:
            boxes = _boxes(*_positions(*size))
            batched = model.decode(cache, boxes)
            assert batched.shape == (len(boxes), 3, 4 * size[0], 4 * size[1])
            assert torch.isfinite(batched).all()
            for i, box in enumerate(boxes):
                one, _ = model(lq, box[None])
                torch.testing.assert_close(batched[i : i + 1], one, atol=1e-5, rtol=1e-5)
            base = model.base_only(lq, boxes)
            assert not torch.allclose(batched, base)  # the context paths are in use


def test_forward_batch_of_contexts_equals_decode_per_context(backbone_cfg):
    model = make_clsr(backbone_cfg).eval()
    perturb_zero_init(model)
    lq = torch.rand(3, 3, H, W)
    boxes = _boxes([0, 0, 3, 3], [8, 10, 3, 3], [4, 5, 3, 3])
    with torch.no_grad():
        out, _ = model(lq, boxes)
        multi = model.decode(model.encode_context(lq), boxes, batch_index=torch.arange(3))
        torch.testing.assert_close(multi, out, atol=1e-5, rtol=1e-5)
        for b in range(3):
            one = model.decode(model.encode_context(lq[b : b + 1]), boxes[b : b + 1])
            torch.testing.assert_close(one, out[b : b + 1], atol=1e-5, rtol=1e-5)


def test_one_step_trains_the_zero_initialised_paths(backbone_cfg):
    model = make_clsr(backbone_cfg).train()
    lq = torch.rand(2, 3, H, W)
    boxes = _boxes([2, 2, 5, 5], [6, 8, 5, 5])
    with torch.no_grad():
        before = model.eval()(lq, boxes)[0]
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    roi_sr, context_sr = model(lq, boxes)
    target = torch.rand_like(roi_sr)
    loss = (roi_sr - target).abs().mean() + 0.5 * (context_sr - 0.5).abs().mean()
    loss.backward()
    for i, conv in enumerate(model.pim.fuse):
        assert conv.weight.grad.abs().sum() > 0, f"pim.fuse[{i}] got no gradient"
    assert model.gcm.fuse.weight.grad.abs().sum() > 0
    opt.step()
    model.eval()
    with torch.no_grad():
        after = model(lq, boxes)[0]
        base = model.base_only(lq, boxes)
    assert not torch.allclose(after, before)
    assert not torch.allclose(after, base)  # context now reaches the base branch


def test_state_dict_round_trip(backbone_cfg):
    model = make_clsr(backbone_cfg).eval()
    perturb_zero_init(model)
    state = model.state_dict()
    backbone_keys = set(build_network(dict(backbone_cfg)).state_dict())
    assert {k[len("base.") :] for k in state if k.startswith("base.")} == backbone_keys
    assert all(k.startswith(("base.", "pim.", "gcm.")) for k in state)
    clone = make_clsr(backbone_cfg).eval()
    clone.load_state_dict(state)
    lq, boxes = torch.rand(1, 3, H, W), _boxes([3, 4, 5, 5])
    with torch.no_grad():
        assert torch.equal(clone(lq, boxes)[0], model(lq, boxes)[0])


def test_branches_can_be_disabled_and_options_checked():
    cfg = BACKBONES["MSRResNet"]
    model = make_clsr(cfg, pim=False, gcm={"enabled": False}).train()
    assert model.pim is None and model.gcm is None
    lq, boxes = torch.rand(1, 3, H, W), _boxes([3, 4, 5, 5])
    out, context_sr = model(lq, boxes)
    assert context_sr is None
    assert torch.equal(out, model.base_only(lq, boxes))
    model = make_clsr(cfg, pim={"channel_ratio": 0.5, "min_channels": 4}, gcm=None)
    assert model.pim.channels == 8 and model.gcm is not None
    with pytest.raises(ValueError, match="ratio"):
        make_clsr(cfg, pim={"ratio": 0.5})
    with pytest.raises(ValueError, match="num_heads=3"):
        make_clsr(cfg, gcm={"num_heads": 3})
    with pytest.raises(ValueError, match="stage=9"):
        make_clsr(cfg, gcm={"stage": 9})
    with pytest.raises(ValueError, match="roi_pad"):
        make_clsr(cfg, roi_pad=-1)
    with pytest.raises(ValueError, match="FooNet"):
        CLSR({"type": "FooNet"})


def test_built_from_yaml_options():
    opt = {
        "type": "CLSR",
        "backbone": dict(BACKBONES["CARN_M"]),
        "roi_pad": 2,
        "pim": {"channel_ratio": 0.1},
        "gcm": {"patch_size": 3, "num_heads": 2},
    }
    model = build_network(opt)
    assert isinstance(model, CLSR) and model.scale == 4 and model.roi_pad == 2
    assert opt["backbone"]["type"] == "CARN_M"  # the options are not consumed


def test_base_only_padding_override():
    model = make_clsr(BACKBONES["MSRResNet"]).eval()
    lq, boxes = torch.rand(1, 3, H, W), _boxes([4, 4, 3, 3], [0, 0, 3, 3])
    with torch.no_grad():
        bare = model.base_only(lq, boxes, roi_pad=0)
        ref = torch.cat([model.base(lq[..., 4:7, 4:7]), model.base(lq[..., 0:3, 0:3])])
        assert torch.equal(bare, ref)
        assert not torch.allclose(model.base_only(lq, boxes), bare)


@pytest.mark.parametrize(
    "lq, boxes, match",
    [
        (torch.rand(1, 3, H, W), [[0, 0, 4, 4]], "tensor"),
        (torch.rand(1, 3, H, W), torch.tensor([[0, 0, 4.0, 4.0]]), "float32"),
        (torch.rand(1, 3, H, W), torch.tensor([0, 0, 4, 4]), r"\(4,\)"),
        (torch.rand(1, 3, H, W), torch.tensor([[9, 0, 4, 4]]), r"\(9, 0, 4, 4\).*outside"),
        (torch.rand(1, 3, H, W), torch.tensor([[0, 10, 4, 4]]), "outside"),
        (torch.rand(1, 3, H, W), torch.tensor([[-1, 0, 4, 4]]), "outside"),
        (torch.rand(1, 3, H, W), torch.tensor([[0, 0, 0, 4]]), "w=0"),
        (torch.rand(1, 3, H, W), torch.tensor([[0, 0, 4, -3]]), "h=-3"),
        (torch.rand(2, 3, H, W), torch.tensor([[0, 0, 4, 4], [0, 0, 3, 4]]), "one size"),
        (torch.rand(2, 3, H, W), torch.tensor([[0, 0, 4, 4]]), "2 contexts but 1 boxes"),
        (torch.rand(1, 4, H, W), torch.tensor([[0, 0, 4, 4]]), "4 channels"),
        (
            torch.randint(0, 255, (1, 3, H, W), dtype=torch.uint8),
            torch.tensor([[0, 0, 4, 4]]),
            "uint8",
        ),
        (torch.rand(1, 3, H, W, dtype=torch.float64), torch.tensor([[0, 0, 4, 4]]), "float64"),
        (torch.rand(3, H, W), torch.tensor([[0, 0, 4, 4]]), r"\(3, 13, 11\)"),
    ],
)
def test_bad_input_errors(lq, boxes, match):
    model = make_clsr(BACKBONES["MSRResNet"])
    with pytest.raises(ValueError, match=match):
        model(lq, boxes)


def test_decode_errors():
    model = make_clsr(BACKBONES["MSRResNet"]).eval()
    with torch.no_grad():
        cache = model.encode_context(torch.rand(2, 3, H, W))
        with pytest.raises(ValueError, match="batch_index"):
            model.decode(cache, _boxes([0, 0, 2, 2]))
        with pytest.raises(ValueError, match=r"\[5\]"):
            model.decode(cache, _boxes([0, 0, 2, 2]), batch_index=torch.tensor([5]))
        with pytest.raises(ValueError, match="outside"):
            model.decode(cache, _boxes([0, 0, 20, 2]), batch_index=torch.tensor([0]))
        with pytest.raises(ValueError, match="3 contexts and 2 boxes"):
            model.base_only(torch.rand(3, 3, H, W), _boxes([0, 0, 2, 2], [1, 1, 2, 2]))


def test_bf16_weights_run_and_stay_close_to_fp32():
    """A CLSR cast to bfloat16 (weights and input) runs end to end, GCM included."""
    backbone = dict(type="MSRResNet", num_feat=16, num_block=4, upscale=4)
    net = CLSR(backbone, roi_pad=4, gcm=dict(num_patches=16)).eval()
    for p in net.parameters():  # leave identity-at-init so the GCM and PIM paths matter
        p.data.normal_(0, 0.05)
    lq, boxes = torch.rand(1, 3, 40, 40), torch.tensor([[4, 4, 12, 12]])
    with torch.no_grad():
        ref = net(lq, boxes)[0]
        out = net.to(torch.bfloat16)(lq.bfloat16(), boxes)[0]
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05


def test_context_untrained_decides_on_the_fusion_layers():
    from clsr_plugin.archs.clsr_arch import context_untrained

    cfg = BACKBONES["MSRResNet"]
    model = make_clsr(cfg)
    assert context_untrained(model)  # fresh: every fusion layer is zero
    perturb_zero_init(model)
    assert not context_untrained(model)
    for branch in ("pim", "gcm"):  # one fusion layer that is not zero is enough
        model = make_clsr(cfg)
        with torch.no_grad():
            getattr(model, branch).fuse.parameters().__next__().view(-1)[0] = 1e-3
        assert not context_untrained(model), branch
    model = make_clsr(cfg)
    with torch.no_grad():
        model.gcm.beta.add_(1.0)  # other GCM weights changed, fusion still zero
    assert context_untrained(model)
    assert context_untrained(make_clsr(cfg, gcm=False))
    assert context_untrained(make_clsr(cfg, gcm=False, pim=False))
    assert context_untrained(torch.nn.DataParallel(make_clsr(cfg)))
