"""``context: window``, the no-context control: context branches see only the base window."""

import pytest
import torch
from clsr_testing import BACKBONES, make_clsr, perturb_zero_init

from clsr_plugin.archs.roi import padded_windows

CNN = BACKBONES["MSRResNet"]


def _trained(context, seed=0):
    torch.manual_seed(seed)
    net = make_clsr(CNN, context=context)
    perturb_zero_init(net, 0.2)
    return net.eval()


def test_window_mode_is_identity_at_init():
    torch.manual_seed(0)
    net = make_clsr(CNN, context="window").eval()
    lq = torch.rand(1, 3, 30, 34)
    boxes = torch.tensor([[0, 0, 8, 8], [13, 11, 8, 8], [26, 22, 8, 8]])
    with torch.no_grad():
        assert torch.equal(net.decode(net.encode_context(lq), boxes), net.base_only(lq, boxes))


def test_window_mode_ignores_pixels_outside_the_base_window():
    net = _trained("window")
    image = _trained("image")
    image.load_state_dict(net.state_dict())
    lq = torch.rand(1, 3, 30, 34)
    boxes = torch.tensor([[2, 3, 8, 8], [20, 15, 8, 8]])
    windows = padded_windows(boxes, net.roi_pad, 30, 34)
    changed = lq.clone()
    keep = torch.zeros(30, 34, dtype=torch.bool)
    for wx, wy, ww, wh in windows.tolist():
        keep[wy : wy + wh, wx : wx + ww] = True
    changed[:, :, ~keep] = torch.rand_like(changed[:, :, ~keep])
    with torch.no_grad():
        a = net.decode(net.encode_context(lq), boxes)
        b = net.decode(net.encode_context(changed), boxes)
        assert torch.equal(a, b)
        # the same weights with the whole image as context do see the change
        c = image.decode(image.encode_context(lq), boxes)
        d = image.decode(image.encode_context(changed), boxes)
        assert not torch.allclose(c, d)
        assert not torch.allclose(a, c)


def test_window_mode_forward_equals_decode_one_by_one():
    net = _trained("window")
    lq = torch.rand(3, 3, 24, 24)
    boxes = torch.tensor([[0, 0, 8, 8], [9, 5, 8, 8], [16, 16, 8, 8]])
    with torch.no_grad():
        batched = net(lq, boxes)[0]
        for i in range(3):
            one = net.decode(net.encode_context(lq[i : i + 1]), boxes[i : i + 1])
            torch.testing.assert_close(batched[i : i + 1], one, rtol=0, atol=1e-6)


def test_context_boxes_and_option_check():
    net = _trained("window")
    boxes = torch.tensor([[0, 0, 8, 8], [20, 15, 8, 8]])
    assert net.context_boxes(boxes, 30, 34).tolist() == padded_windows(boxes, 3, 30, 34).tolist()
    whole = _trained("image").context_boxes(boxes, 30, 34)
    assert whole.tolist() == [[0, 0, 34, 30]] * 2
    with pytest.raises(ValueError, match="context must be one of"):
        make_clsr(CNN, context="roi")
    net.train()
    _, ctx = net(torch.rand(2, 3, 24, 24), torch.tensor([[0, 0, 8, 8], [10, 10, 8, 8]]))
    assert ctx.shape == (2, 3, 4 * 14, 4 * 14)  # the PIM's HR output of the 14x14 windows
