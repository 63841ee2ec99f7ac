"""The restore engine's shared base windows (``decode_rois(share_windows=True)``)."""

import pytest
import torch

from clsr_plugin.archs import gcm as gcm_module
from clsr_plugin.archs.clsr_arch import CLSR
from clsr_plugin.archs.roi import padded_windows
from clsr_plugin.evaluation.engine import restore_rois
from clsr_plugin.inference.restore import decode_rois
from clsr_plugin.inference.rois import shared_windows

BACKBONE = dict(type="MSRResNet", num_feat=8, num_block=2, upscale=4)


def _clsr(**kw) -> CLSR:
    torch.manual_seed(0)
    net = CLSR(dict(BACKBONE), roi_pad=3, gcm=dict(patch_size=4, num_patches=12, num_heads=2),
               **kw).eval()  # fmt: skip
    with torch.no_grad():  # every context path live
        for p in net.parameters():
            if not p.any():
                p.normal_(0, 0.05)
    return net


def test_shared_windows_group_every_roi_once_within_the_windows_it_replaces():
    torch.manual_seed(1)
    xy = torch.randint(0, 40, (30, 2))
    rois = [(int(x), int(y), 8, 6) for x, y in xy]
    groups = shared_windows(rois, 3, 48, 48)
    members = sorted(i for _, m in groups for i in m)
    assert members == list(range(30))
    for (wx, wy, ww, wh), idx in groups:
        assert 0 <= wx and 0 <= wy and wx + ww <= 48 and wy + wh <= 48
        pads = padded_windows(torch.tensor([rois[i] for i in idx]), 3, 48, 48)
        for px, py, pw, ph in pads.tolist():  # every member's own window is inside
            assert wx <= px and wy <= py and px + pw <= wx + ww and py + ph <= wy + wh
        assert ww * wh <= sum(int(p[2] * p[3]) for p in pads)  # never more pixels
    assert len(groups) < 30  # 30 ROIs in 48x48 do overlap
    far = shared_windows([(0, 0, 4, 4), (30, 30, 4, 4)], 3, 48, 48)
    assert [m for _, m in far] == [[0], [1]]


@pytest.mark.parametrize("context", ["image", "window"])
def test_decode_windows_with_own_windows_is_decode_and_checks_boxes(context):
    net = _clsr(context=context)
    lq = torch.rand(1, 3, 30, 34)
    boxes = torch.tensor([[0, 0, 6, 6], [10, 12, 6, 6], [28, 24, 6, 6]])
    with torch.no_grad():
        cache = net.encode_context(lq)
        ref = net.decode(cache, boxes)
        out = net.decode_windows(cache, padded_windows(boxes, 3, 30, 34), boxes)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="inside its window"):
        net.decode_windows(cache, torch.tensor([[0, 0, 8, 8]]), torch.tensor([[4, 4, 6, 6]]))
    with pytest.raises(ValueError, match="2 windows but 1 boxes"):
        net.decode_windows(cache, torch.tensor([[0, 0, 8, 8]] * 2), torch.tensor([[0, 0, 6, 6]]))


@pytest.mark.parametrize("context", ["image", "window"])
def test_shared_decode_is_one_pass_per_group_and_close_to_roi_by_roi(context):
    net = _clsr(context=context)
    lq = torch.rand(1, 3, 32, 40)
    rois = torch.tensor([[2, 2, 8, 8], [6, 5, 8, 8], [9, 3, 8, 8], [30, 22, 8, 8]])
    with torch.no_grad():
        cache = net.encode_context(lq)
        alone = decode_rois(net, cache, rois)
        shared = decode_rois(net, cache, rois, share_windows=True)
        groups = shared_windows(rois.tolist(), 3, 32, 40)
        assert sorted(m for _, m in groups) == [[0, 1, 2], [3]]
        win = next(w for w, m in groups if len(m) == 3)
        union = net.decode_windows(cache, torch.tensor([win]), torch.tensor([[2, 2, 15, 11]]))
    s = 4
    for i in (0, 1, 2):  # the shared group's ROIs are crops of one pass over its window
        x, y = (rois[i, :2] - torch.tensor([2, 2])).tolist()
        torch.testing.assert_close(shared[i], union[0, :, s * y : s * y + 32, s * x : s * x + 32])
    torch.testing.assert_close(shared[3], alone[3], atol=1e-6, rtol=0)  # alone: decode itself
    for a, b in zip(alone, shared):  # only the extra real context differs
        assert a.shape == b.shape
        assert (a - b).abs().mean() < 0.05
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(alone, shared))


def test_restore_rois_passes_share_windows_only_to_clsr():
    net = _clsr()
    lq = torch.rand(1, 3, 24, 24)
    rois = torch.tensor([[0, 0, 8, 8], [4, 4, 8, 8]])
    with torch.no_grad():
        a = restore_rois(net, lq, rois, ("clsr", "pre_pad"))
        b = restore_rois(net, lq, rois, ("clsr", "pre_pad"), share_windows=True)
    for x, y in zip(a["pre_pad"], b["pre_pad"]):
        assert torch.equal(x, y)
    assert not torch.allclose(a["clsr"][1], b["clsr"][1], atol=1e-6)


def test_attention_in_chunks_equals_one_pass(monkeypatch):
    """The GCM's mask is built in chunks of ROIs (and of queries for one large window): the
    result does not depend on the chunk size."""
    net = _clsr()
    lq = torch.rand(2, 3, 28, 30)
    rois = torch.tensor([[0, 0, 8, 8], [10, 12, 8, 8], [20, 20, 8, 8]])
    index = torch.tensor([0, 1, 1])
    with torch.no_grad():
        cache = net.encode_context(lq)
        ref = net.decode(cache, rois, index)
        big = net.decode_windows(
            cache, torch.tensor([[0, 0, 30, 28]]), torch.tensor([[2, 2, 20, 20]]), torch.tensor([1])
        )
        for limit in (1, 500, 3000):
            monkeypatch.setattr(gcm_module, "MASK_ELEMENTS", limit)
            torch.testing.assert_close(net.decode(cache, rois, index), ref, atol=1e-6, rtol=0)
            out = net.decode_windows(
                cache,
                torch.tensor([[0, 0, 30, 28]]),
                torch.tensor([[2, 2, 20, 20]]),
                torch.tensor([1]),
            )
            torch.testing.assert_close(out, big, atol=1e-6, rtol=0)
