"""Inference API: equals the model's encode_context + decode path; context windows; tiled PIM;
loading; ROI parsing and validation; image conversions."""

import json

import cv2
import numpy as np
import pytest
import torch
from _clsr_tiny import TINY_OPT, tiny_clsr, write_checkpoint

from clsr_plugin.inference import (
    context_windows,
    load_clsr,
    load_rois_json,
    parse_roi,
    upscale_rois,
    validate_rois,
)
from clsr_plugin.inference.tiling import pim_features_tiled, receptive_field
from clsr_plugin.utils.image_io import image_to_tensor, read_image, to_float01

ROIS = [(0, 0, 12, 12), (20, 14, 12, 12), (58, 38, 12, 12), (3, 30, 8, 16), (61, 0, 9, 5)]


@pytest.fixture(scope="module")
def model():
    return tiny_clsr()


@pytest.fixture(scope="module")
def image():
    return (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)


def reference(model, image, rois):
    """The validation path: encode the whole image once, decode each ROI."""
    lq = image_to_tensor(image)
    with torch.no_grad():
        cache = model.encode_context(lq)
        return [model.decode(cache, torch.tensor([r]))[0].clamp(0, 1).permute(1, 2, 0).numpy()
                for r in rois]  # fmt: skip


def test_upscale_rois_equals_encode_decode(model, image):
    out = upscale_rois(model, image, ROIS, context_window=None)
    ref = reference(model, image, ROIS)
    for o, r, (_, _, w, h) in zip(out, ref, ROIS):
        assert o.shape == (4 * h, 4 * w, 3) and o.dtype == np.float32
        np.testing.assert_allclose(o, r, atol=1e-6)
    # the context matters for this (perturbed) model: pre-cropping differs
    with torch.no_grad():
        pre = model.base_only(image_to_tensor(image), torch.tensor([ROIS[1]]))
    assert np.abs(pre[0].clamp(0, 1).permute(1, 2, 0).numpy() - out[1]).max() > 1e-3


def test_equals_forward_roi_by_roi(model, image):
    lq = image_to_tensor(image)
    out = upscale_rois(model, image, ROIS[:3], context_window=None)
    with torch.no_grad():
        for o, r in zip(out, ROIS[:3]):
            sr, _ = model(lq, torch.tensor([r]))
            np.testing.assert_allclose(o, sr[0].clamp(0, 1).permute(1, 2, 0).numpy(), atol=1e-5)


def test_input_types_agree(model, image):
    a = upscale_rois(model, image, ROIS[:2], context_window=None)
    b = upscale_rois(model, image.astype(np.float32) / 255, ROIS[:2], context_window=None)
    c = upscale_rois(model, image_to_tensor(image), ROIS[:2], context_window=None)
    for x, y, z in zip(a, b, c):
        np.testing.assert_allclose(x, y, atol=1e-6)
        np.testing.assert_allclose(x, z, atol=1e-6)


def test_window_covering_the_image_is_the_whole_context(model, image):
    whole = upscale_rois(model, image, ROIS, context_window=None)
    big = upscale_rois(model, image, ROIS, context_window=20)
    for a, b in zip(whole, big):
        np.testing.assert_array_equal(a, b)


def test_small_window_keeps_base_window_and_changes_little(model):
    img = (np.random.default_rng(1).random((120, 160, 3)) * 255).astype(np.uint8)
    rois = [(70, 50, 12, 12)]
    whole = upscale_rois(model, img, rois, context_window=None)[0]
    win = upscale_rois(model, img, rois, context_window=3)[0]
    assert 0 < np.abs(whole - win).max() < 0.05


def test_context_windows_merge_and_cover():
    rois = [(0, 0, 10, 10), (12, 0, 10, 10), (200, 200, 10, 10)]
    groups = context_windows(rois, 300, 300, k=2, min_pad=0)
    assert sorted(i for _, idx in groups for i in idx) == [0, 1, 2]
    assert len(groups) == 2  # the first two windows overlap mostly and merge
    # a diagonal chain of overlapping windows is not merged into one huge box
    chain = [(30 * i, 30 * i, 10, 10) for i in range(8)]
    chained = context_windows(chain, 300, 300, k=4, min_pad=0)
    assert len(chained) > 1 and max(w * h for (_, _, w, h), _ in chained) <= 2 * 40 * 40
    for (x, y, w, h), idx in groups:
        for i in idx:
            rx, ry, rw, rh = rois[i]
            assert x <= rx and y <= ry and rx + rw <= x + w and ry + rh <= y + h
    assert len(context_windows(rois, 300, 300, k=2, merge=False)) == 3
    assert context_windows(rois, 300, 300, k=None) == [((0, 0, 300, 300), [0, 1, 2])]
    with pytest.raises(ValueError, match="factor"):
        context_windows(rois, 300, 300, k=0.5)


def test_tiled_pim_equals_untiled(model, image):
    lq = image_to_tensor(image)
    halo = receptive_field(model.pim)
    assert halo == 9  # conv_first + 4 residual blocks of two 3x3 convs
    with torch.no_grad():
        full = model.encode_context(lq).pim_features
        tiled = pim_features_tiled(model.pim, lq, tile=16, halo=halo)
        short = pim_features_tiled(model.pim, lq, tile=16, halo=2)

    def rel_err(a, b):  # max error relative to the feature scale (float summation order only)
        return max(float((x[..., :50, :70] - y).abs().max() / x.abs().max()) for x, y in zip(a, b))

    assert rel_err(full, tiled) < 1e-5
    assert rel_err(full, short) > 1e-2  # a halo below the receptive field is visibly wrong
    out = upscale_rois(model, image, ROIS, context_window=None, pim_tile=16)
    for a, b in zip(out, reference(model, image, ROIS)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_bad_rois_raise_value_error(model, image):
    for bad, msg in [((60, 0, 12, 12), "outside"), ((0, 0, 0, 12), "empty"),
                     ((0, 0, 12, -3), "empty"), ((-1, 0, 4, 4), "outside")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            upscale_rois(model, image, [bad])
    with pytest.raises(ValueError, match="No ROI"):
        validate_rois([], 10, 10)


def test_parse_roi():
    assert parse_roi("3, 4,24,24") == (3, 4, 24, 24)
    for bad in ["1,2,3", "a,b,c,d", "1,2,3,4,5", "1.5,2,3,4", "1,2,0,4", "1,2,4,-4"]:
        with pytest.raises(ValueError):
            parse_roi(bad)


def test_load_rois_json(tmp_path):
    f = tmp_path / "rois.json"
    f.write_text(json.dumps({"a.png": [[1, 2, 3, 4]], "b": [{"x": 0, "y": 1, "w": 2, "h": 3}]}))
    assert load_rois_json(str(f), "/x/a.png") == [(1, 2, 3, 4)]
    assert load_rois_json(str(f), "/x/b.png") == [(0, 1, 2, 3)]
    with pytest.raises(ValueError, match="no entry"):
        load_rois_json(str(f), "c.png")
    d = tmp_path / "per_image"
    d.mkdir()
    (d / "c.json").write_text("[[5, 6, 7, 8]]")
    assert load_rois_json(str(d), "c.png") == [(5, 6, 7, 8)]
    (d / "e.json").write_text("[[5, 6, 7]]")
    with pytest.raises(ValueError, match=r"\[x, y, w, h\]"):
        load_rois_json(str(d), "e.png")
    (d / "f.json").write_text("{not json")
    with pytest.raises(ValueError, match="Cannot parse"):
        load_rois_json(str(d), "f.png")


def test_load_clsr_prefers_params_ema(tmp_path, image):
    trained = tiny_clsr(seed=1)
    weights, opt = write_checkpoint(trained, str(tmp_path))
    other = tiny_clsr(seed=2).state_dict()
    torch.save({"params_ema": trained.state_dict(), "params": other}, weights)
    model = load_clsr(weights, opt, "cpu")
    assert not model.training
    for a, b in zip(upscale_rois(model, image, ROIS[:2]), upscale_rois(trained, image, ROIS[:2])):
        np.testing.assert_array_equal(a, b)
    torch.save({"params": other}, weights)
    model = load_clsr(weights, opt, "cpu")
    torch.testing.assert_close(model.state_dict(), other)


def test_load_backbone_checkpoint_gives_fresh_clsr(tmp_path, image):
    from basicsr.archs.srresnet_arch import MSRResNet

    net = MSRResNet(num_feat=16, num_block=4, upscale=4).eval()
    path = tmp_path / "backbone.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    model = load_clsr(str(path), TINY_OPT)
    out = upscale_rois(model, image, [(20, 14, 12, 12)], context_window=None)[0]
    with torch.no_grad():  # fresh CLSR == backbone on the padded window (roi_pad 4)
        ref = net(image_to_tensor(image[10:30, 16:36]))[0, :, 16:64, 16:64]
    np.testing.assert_allclose(out, ref.clamp(0, 1).permute(1, 2, 0).numpy(), atol=1e-6)


def test_load_clsr_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_clsr(str(tmp_path / "missing.pth"), TINY_OPT)
    with pytest.raises(ValueError, match="Options file not found"):
        load_clsr(None, str(tmp_path / "missing.yml"))
    with pytest.raises(ValueError, match="no network"):
        load_clsr(None, {"name": "x"})
    bad = tmp_path / "bad.pth"
    sd = tiny_clsr().state_dict()
    sd["base.extra"] = torch.zeros(1)
    torch.save({"params": sd}, bad)
    with pytest.raises(RuntimeError, match="unexpected keys.*base.extra"):
        load_clsr(str(bad), TINY_OPT)
    with pytest.raises(ValueError, match="half"):
        load_clsr(None, TINY_OPT, half="fp8")


def test_half_precision_runs_on_cpu(image):
    model = load_clsr(None, TINY_OPT, "cpu", half="bf16")
    assert model.amp_dtype == torch.bfloat16
    out = upscale_rois(model, image, ROIS[:1])
    ref = upscale_rois(load_clsr(None, TINY_OPT, "cpu"), image, ROIS[:1])
    assert out[0].dtype == np.float32 and np.abs(out[0] - ref[0]).mean() < 0.02


def test_read_image_conversions(tmp_path):
    rng = np.random.default_rng(0)
    gray = (rng.random((9, 7)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    img = read_image(str(tmp_path / "g.png"))
    assert img.rgb.shape == (9, 7, 3) and img.bit_depth == 8
    assert any("grayscale" in c for c in img.conversions)
    np.testing.assert_array_equal(img.rgb[..., 0], gray)
    bgra = (rng.random((9, 7, 4)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    img = read_image(str(tmp_path / "a.png"))
    assert any("RGBA" in c for c in img.conversions)
    np.testing.assert_array_equal(img.rgb, bgra[..., 2::-1])
    deep = (rng.random((9, 7, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    img = read_image(str(tmp_path / "d.png"))
    assert img.bit_depth == 16 and any("16-bit" in c for c in img.conversions)
    np.testing.assert_allclose(to_float01(img.rgb), deep[..., ::-1] / 65535.0, atol=1e-6)
    (tmp_path / "t.png").write_text("not an image")
    with pytest.raises(ValueError, match="Not a readable image"):
        read_image(str(tmp_path / "t.png"))


def test_equals_localsr_model_validation_path(model, image, tmp_path):
    """The API and the bench's baselines equal ``LocalSRModel.restore_rois`` (validation)."""
    from basicsr.models import build_model

    from clsr_plugin.evaluation.benchmark import run_method

    opt = dict(name="val", model_type="LocalSRModel", scale=4, num_gpu=0, is_train=False,
               dist=False, rank=0, world_size=1, network_g=dict(TINY_OPT),
               path=dict(visualization=str(tmp_path)), val=dict(baselines=True))  # fmt: skip
    srmodel = build_model(opt)
    srmodel.net_g.load_state_dict(model.state_dict())
    srmodel.net_g.eval()
    lq = image_to_tensor(image)
    boxes = torch.tensor([r for r in ROIS if r[2:] == (12, 12)])
    methods = ("clsr", "pre_pad", "pre_nopad", "post")
    val = srmodel.restore_rois(lq, boxes, methods=methods)
    api = upscale_rois(model, image, boxes.tolist(), context_window=None)
    for a, v in zip(api, val["clsr"]):
        np.testing.assert_allclose(a, v.clamp(0, 1).permute(1, 2, 0).numpy(), atol=1e-6)
    for m in methods:
        torch.testing.assert_close(run_method(model, m, lq, boxes), torch.stack(val[m]))


def test_topk_selection_through_the_api(image):
    """gcm.selection topk: the API (context windows, tiled PIM) equals encode + decode."""
    from clsr_plugin.archs.gcm import GCMSelectCache

    model = tiny_clsr()
    model.gcm.selection = "topk"
    assert isinstance(model.encode_context(image_to_tensor(image)).gcm, GCMSelectCache)
    ref = reference(model, image, ROIS)
    runs = [upscale_rois(model, image, ROIS, context_window=None),
            upscale_rois(model, image, ROIS, context_window=20),
            upscale_rois(model, image, ROIS, context_window=None, pim_tile=16)]  # fmt: skip
    for out in runs:
        for a, b in zip(out, ref):
            np.testing.assert_allclose(a, b, atol=1e-5)
    small = upscale_rois(model, image, ROIS[1:2], context_window=2)[0]  # a smaller context
    assert small.shape == ref[1].shape and np.isfinite(small).all()


def test_pim_tiles_by_default_on_large_contexts_only_where_exact(model, image, monkeypatch):
    """``pim_tile="auto"``: contexts longer than DEFAULT_PIM_TILE are encoded in tiles when
    the PIM's receptive field is finite (then exactly), else in one pass; clsr-infer's flag."""
    import clsr_plugin.inference.api as api
    import clsr_plugin.inference.tiling as tiling
    from clsr_plugin.infer import _pim_tile_arg

    calls = []
    tiled = tiling.encode_context_tiled
    monkeypatch.setattr(tiling, "encode_context_tiled",
                        lambda *a: calls.append(a[2]) or tiled(*a))  # fmt: skip
    ref = upscale_rois(model, image, ROIS, context_window=None, pim_tile=None)
    assert upscale_rois(model, image, ROIS, context_window=None) and calls == []  # 70 <= 512
    monkeypatch.setattr(api, "DEFAULT_PIM_TILE", 16)
    out = upscale_rois(model, image, ROIS, context_window=None)
    assert calls == [16]
    for a, b in zip(out, ref):
        np.testing.assert_allclose(a, b, atol=1e-5)
    monkeypatch.setattr(tiling, "RF_LIMIT", 5)  # a field as wide as the probe: no tiles
    upscale_rois(model, image, ROIS, context_window=None)
    assert calls == [16]
    assert _pim_tile_arg("auto") == "auto" and _pim_tile_arg("off") is None
    assert _pim_tile_arg("64") == 64
    for bad in ("0", "x", "-3"):
        with pytest.raises(Exception, match="positive integer, 'auto' or 'off'"):
            _pim_tile_arg(bad)


@pytest.mark.parametrize("name", ["MSRResNet", "EDSR", "CARN_M", "RCAN", "SwinIR-light"])
def test_pim_only_where_the_rois_need_it_is_exact(name, monkeypatch):
    """CLSR's restore runs the PIM over the ROIs' windows grown by its receptive field where
    that is bounded (else over the image), and gives the whole-image encode's pixels."""
    from archs.clsr_testing import BACKBONES, GCM

    from clsr_plugin.archs.clsr_arch import CLSR
    from clsr_plugin.evaluation.methods import CLSR_METHOD, get_method
    from clsr_plugin.inference.restore import decode_rois
    from clsr_plugin.inference.tiling import RF_LIMIT, cached_receptive_field

    torch.manual_seed(0)
    net = CLSR(dict(BACKBONES[name]), roi_pad=2, gcm=GCM).eval()
    with torch.no_grad():
        for fuse in [*net.pim.fuse, net.gcm.fuse]:
            for p in fuse.parameters():
                p.normal_(0, 0.1)
    lq = torch.rand(1, 3, 64, 96)
    rois = torch.tensor([[4, 4, 8, 8], [12, 6, 8, 8], [20, 40, 12, 12]])
    seen = []
    encode = net.pim.encode
    monkeypatch.setattr(net.pim, "encode", lambda x, w: seen.append(x.shape[-2:]) or encode(x, w))
    with torch.no_grad():
        out = get_method(CLSR_METHOD).restore(net, lq, rois, 64, True)
        ref = decode_rois(net, net.encode_context(lq), rois, 64, True)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    bounded = name in ("MSRResNet", "EDSR", "CARN_M")
    assert net.pim.local == bounded
    if name == "SwinIR-light":  # the gradient probe finds a bounded field: not enough
        assert cached_receptive_field(net.pim) < RF_LIMIT
    assert (seen[0] != (64, 96)) == bounded  # only the needed region where that is exact
    assert tuple(seen[1]) == (64, 96)  # the reference: the whole image
