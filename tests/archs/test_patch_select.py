"""``gcm.selection: topk``: patches chosen per ROI by similarity (archs/patch_select.py)."""

import pytest
import torch
from clsr_testing import BACKBONES, GCM, make_clsr, perturb_zero_init

from clsr_plugin.archs.gcm import GCMCache, GCMSelectCache
from clsr_plugin.archs.patch_select import describe_patches, patch_starts, select_patches

H, W = 13, 11  # a 4 x 3 grid of 4 x 4 patches: more than GCM's 6, so topk selects
TOPK = dict(GCM, selection="topk", near_patches=2)


def _pair(cfg, **gcm):
    """A strided and a topk CLSR with the same (perturbed) weights."""
    strided = make_clsr(cfg, gcm=dict(GCM, **gcm)).eval()
    perturb_zero_init(strided)
    topk = make_clsr(cfg, gcm=dict(TOPK, **gcm)).eval()
    topk.load_state_dict(strided.state_dict())
    return strided, topk


def test_patch_starts_cover_with_the_last_cell_inside():
    assert patch_starts(10, 4).tolist() == [0, 4, 6]
    assert patch_starts(3, 4).tolist() == [0]
    assert patch_starts(8, 4).tolist() == [0, 4]


def test_descriptors_ignore_brightness_and_damp_flat_patches():
    p = torch.rand(2, 3, 4, 4)
    d = describe_patches(p)
    assert d.shape == (2, 48)
    torch.testing.assert_close(describe_patches(p + 0.2), d)
    assert torch.all(d.norm(dim=-1) > 0.9)
    assert describe_patches(torch.full((1, 3, 4, 4), 0.5)).norm() == 0


def test_selection_keeps_the_nearest_then_the_most_similar():
    context = torch.nn.functional.normalize(torch.randn(1, 10, 5), dim=-1)
    query = context[:, [7]] * 3  # the ROI looks exactly like patch 7
    xy = torch.stack([torch.arange(10.0), torch.zeros(10)], -1)  # patches on a line
    window = torch.tensor([[0.2, 0.0]])  # next to patches 0 and 1
    zero = torch.zeros(1, dtype=torch.long)
    assert select_patches(context, query, zero, xy, window, 1, 0).tolist() == [[7]]
    assert select_patches(context, query, zero, xy, window, 3, 2).tolist() == [[0, 1, 7]]
    assert select_patches(context, query, zero, xy, window, 2, 2).tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="near"):
        select_patches(context, query, zero, xy, window, 3, 4)


def test_topk_finds_a_far_copy_of_the_roi_that_strided_misses():
    """A textured 8 x 8 block and its exact copy far away in a flat image: the copy is chosen."""
    gcm = make_clsr(BACKBONES["MSRResNet"], pim=False,
                    gcm=dict(TOPK, num_patches=8, near_patches=0)).gcm  # fmt: skip
    lq = torch.full((1, 3, 40, 40), 0.5)
    block = torch.rand(3, 8, 8)
    lq[0, :, 0:8, 0:8] = block  # the ROI's window
    lq[0, :, 28:36, 32:40] = block  # its copy, on the patch grid
    cache = gcm.encode(lq)
    assert isinstance(cache, GCMSelectCache)  # 100 patches > 8
    win = torch.tensor([[0, 0, 8, 8]])
    cells = torch.tensor([[0, 0], [0, 4], [4, 0], [4, 4]])
    query = describe_patches(torch.stack([lq[0, :, y : y + 4, x : x + 4] for y, x in cells]))
    keep = gcm.select(cache.descriptors, query[None], torch.zeros(1, dtype=torch.long),
                      cache.origins.flip(-1).float() + 1.5, win[:, :2].float() + 3.5)  # fmt: skip
    chosen = {tuple(cache.origins[i].tolist()) for i in keep[0]}
    copy = {(28, 32), (28, 36), (32, 32), (32, 36)}
    assert chosen == copy | {(0, 0), (0, 4), (4, 0), (4, 4)}  # the copy and the window itself
    oy, ox = gcm.patch_origins(40, 40)  # strided: an evenly spaced sub-grid
    assert not copy <= set(zip(oy.tolist(), ox.tolist()))


def test_selection_is_deterministic():
    _, topk = _pair(BACKBONES["MSRResNet"])
    lq = torch.rand(1, 3, H, W)
    boxes = torch.tensor([[0, 0, 3, 3], [7, 9, 3, 3], [4, 5, 3, 3]])
    with torch.no_grad():
        a = topk.decode(topk.encode_context(lq), boxes)
        b = topk.decode(topk.encode_context(lq), boxes)
    assert torch.equal(a, b)


def test_topk_equals_strided_when_k_covers_every_patch(backbone_cfg):
    strided, topk = _pair(backbone_cfg, num_patches=12)  # the whole 4 x 3 grid
    lq = torch.rand(2, 3, H, W)
    boxes = torch.tensor([[0, 0, 4, 4], [7, 9, 4, 4]])
    with torch.no_grad():
        cache = topk.encode_context(lq)
        assert isinstance(cache.gcm, GCMCache)
        assert torch.equal(topk(lq, boxes)[0], strided(lq, boxes)[0])


def test_topk_differs_from_strided_when_it_selects():
    strided, topk = _pair(BACKBONES["MSRResNet"])
    lq, boxes = torch.rand(1, 3, H, W), torch.tensor([[7, 9, 4, 4]])
    with torch.no_grad():
        assert not torch.allclose(topk(lq, boxes)[0], strided(lq, boxes)[0])


def test_topk_identity_at_init(backbone_cfg):
    model = make_clsr(backbone_cfg, gcm=dict(TOPK)).eval()
    lq = torch.rand(2, 3, H, W)
    boxes = torch.tensor([[0, 0, 4, 4], [7, 9, 4, 4]])
    with torch.no_grad():
        assert isinstance(model.encode_context(lq).gcm, GCMSelectCache)
        assert torch.equal(model(lq, boxes)[0], model.base_only(lq, boxes))


def test_topk_batched_equals_one_by_one(backbone_cfg):
    _, model = _pair(backbone_cfg)
    lq = torch.rand(2, 3, H, W)
    boxes = torch.tensor([[0, 0, 3, 3], [8, 10, 3, 3], [4, 5, 3, 3], [2, 9, 3, 3]])
    index = torch.tensor([0, 0, 1, 1])
    with torch.no_grad():
        batched = model.decode(model.encode_context(lq), boxes, batch_index=index)
        for i, (box, b) in enumerate(zip(boxes, index.tolist())):
            one = model.decode(model.encode_context(lq[b : b + 1]), box[None])
            torch.testing.assert_close(batched[i : i + 1], one, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("freeze", [True, False])
def test_topk_trains_frozen_or_fully(freeze):
    """Gradients reach W_K / W_V through the selected patches (and G when it is trained)."""
    model = make_clsr(BACKBONES["MSRResNet"], gcm=dict(TOPK)).train()
    perturb_zero_init(model)
    if freeze:
        for p in list(model.base.parameters()) + list(model.gcm.extractor.parameters()):
            p.requires_grad_(False)
    roi_sr, context_sr = model(torch.rand(2, 3, H, W), torch.tensor([[2, 2, 4, 4], [6, 8, 4, 4]]))
    (roi_sr.mean() + context_sr.mean()).backward()
    assert model.gcm.to_k.weight.grad.abs().sum() > 0
    assert model.gcm.to_v.weight.grad.abs().sum() > 0
    g = model.gcm.extractor.conv_first.weight.grad
    assert (g is None) if freeze else (g.abs().sum() > 0)


def test_topk_options_are_checked():
    with pytest.raises(ValueError, match="selection must be one of"):
        make_clsr(BACKBONES["MSRResNet"], gcm=dict(GCM, selection="random"))
    with pytest.raises(ValueError, match="near_patches"):
        make_clsr(BACKBONES["MSRResNet"], gcm=dict(GCM, selection="topk", near_patches=7))
    gcm = make_clsr(BACKBONES["MSRResNet"], gcm=dict(GCM, selection="topk")).gcm
    assert gcm.near_patches == 6 // 4
    assert not [n for n, _ in gcm.named_parameters() if n.startswith(("describe", "select"))]
