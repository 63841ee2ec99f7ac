import pytest
import torch
from basicsr.archs import build_network
from mmengine.analysis import FlopAnalyzer

from clsr_plugin.evaluation.macs import clsr_macs
from clsr_plugin.evaluation.roi_cost import RoiCostCounter

TINY_BACKBONE = dict(
    type="MSRResNet", num_in_ch=3, num_out_ch=3, num_feat=8, num_block=2, upscale=4
)


def _macs(module, shape):
    analyzer = FlopAnalyzer(module, (torch.rand(*shape),))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total()


def test_baseline_costs_equal_the_bare_backbone_on_the_same_input():
    tiny_backbone = dict(TINY_BACKBONE)
    net = build_network(
        dict(type="CLSR", backbone=tiny_backbone, roi_pad=4, gcm=dict(num_patches=16))
    ).eval()
    backbone = build_network(dict(tiny_backbone)).eval()
    lq = torch.rand(1, 3, 24, 40)
    rois = torch.tensor([[0, 0, 8, 8], [16, 8, 8, 8], [32, 16, 8, 8]])
    counter = RoiCostCounter()
    costs = counter.image_costs(net, lq, rois)
    assert costs["pre_nopad"] == [_macs(backbone, (1, 3, 8, 8))] * 3
    # the padded window is 8 + 2 * 4, clamped inside; the tail runs on the ROI plus its
    # margin only (the exact split: tests/test_flops.py)
    assert len(set(costs["pre_pad"])) == 1
    assert _macs(backbone, (1, 3, 8, 8)) < costs["pre_pad"][0] < _macs(backbone, (1, 3, 16, 16))
    assert costs["post"] == [_macs(backbone, (1, 3, 24, 40))] * 3
    clsr, amortized = costs["clsr"][0], costs["clsr_amortized"][0]
    assert clsr > costs["pre_pad"][0]  # the base branch plus the context branches
    assert costs["pre_pad"][0] < amortized < clsr
    # (context + 3 decodes) / 3 = clsr - 2/3 * context: the context is paid once per image
    context = (clsr - amortized) * 3 / 2
    assert clsr - context == pytest.approx(clsr_macs(net, (24, 40), (8, 8))["clsr_decode"])
    cached = len(counter._cache)
    counter.image_costs(net, lq, rois)
    assert len(counter._cache) == cached  # same shapes: nothing traced again
