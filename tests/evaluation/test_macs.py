"""FLOPs accounting: the paper's pre-cropping numbers and the CLSR split."""

import copy
import functools

import pytest
import torch
from _clsr_tiny import tiny_clsr

from clsr_plugin.archs.adapters import get_adapter
from clsr_plugin.evaluation.macs import (
    PAPER_BACKBONES,
    backbone_macs,
    build_backbone,
    clsr_macs,
    count_macs,
    gflops,
)
from clsr_plugin.evaluation.methods import get_method

#: the backbones with a pre-cropping GFLOPs value in the paper's Table 1
TABLE1 = {name: entry for name, entry in PAPER_BACKBONES.items() if entry[1] is not None}

# Deep models are counted from two shallow copies (the JIT trace of the full RCAN / SwinIR takes
# tens of seconds on a loaded CPU); the extrapolation is cross-checked against full traces below.
DEEP = {"RCAN": "num_group", "SwinIR": "depths"}


def depth_extrapolated_macs(opt: dict, depth_key: str, height: int, width: int) -> int:
    """Backbone MACs from two shallow copies, for deep models the tracer is slow on.

    MACs are affine in the number of identical stages (``num_group`` of RCAN, ``num_block``,
    the ``depths`` list of SwinIR with its ``num_heads``): ``M(D) = M(1) + (D - 1) * (M(2) -
    M(1))``, exact when every stage has the same shape (as in all of the paper's backbones).

    Args:
        opt: backbone options.
        depth_key: the key holding the stage count (int) or per-stage list.
        height, width: input size.
    """
    full = opt[depth_key]
    depth = len(full) if isinstance(full, (list, tuple)) else int(full)
    if depth < 2:
        return backbone_macs(build_backbone(opt), height, width)

    def at(d: int) -> dict:
        o = copy.deepcopy(opt)
        if isinstance(full, (list, tuple)):
            o[depth_key] = list(full[:d])
            if isinstance(o.get("num_heads"), (list, tuple)):
                o["num_heads"] = list(o["num_heads"][:d])
        else:
            o[depth_key] = d
        return o

    m1 = backbone_macs(build_backbone(at(1)), height, width)
    m2 = backbone_macs(build_backbone(at(2)), height, width)
    return m1 + (depth - 1) * (m2 - m1)


@functools.cache
def traced(name: str) -> int:
    """Full-trace MACs at 24x24 (analysed once per backbone per session)."""
    return backbone_macs(build_backbone(PAPER_BACKBONES[name][0]), 24, 24)


@pytest.mark.parametrize("name", list(TABLE1))
def test_paper_precropping_gflops_within_2_percent(name):
    opt, paper = PAPER_BACKBONES[name]
    if name in DEEP:
        macs = depth_extrapolated_macs(opt, DEEP[name], 24, 24)
    else:
        macs = traced(name)
    assert gflops(macs) == pytest.approx(paper, rel=0.02), (name, macs / 1e9)


@pytest.mark.parametrize(("name", "key"), [("SRResNet", "num_block"), ("SwinIR-light", "depths")])
def test_depth_extrapolation_equals_full_trace(name, key):
    opt = PAPER_BACKBONES[name][0]
    assert depth_extrapolated_macs(opt, key, 24, 24) == traced(name)


def test_gflops_is_twice_macs():
    net = torch.nn.Conv2d(3, 8, 3, padding=1)
    macs = count_macs(net, (torch.zeros(1, 3, 10, 10),))
    assert macs == 3 * 8 * 9 * 100
    assert gflops(macs) == pytest.approx(2 * macs / 1e9)


def test_callable_needs_owner():
    with pytest.raises(ValueError, match="owner"):
        count_macs(lambda x: x * 2, (torch.zeros(1),))


def test_clsr_split_and_amortisation():
    model = tiny_clsr()
    one = clsr_macs(model, (40, 56), (12, 12))
    clsr, post = get_method("clsr"), get_method("post")
    # baselines are the backbone on 12x12, the 20x20 padded window, the whole 40x56 image;
    # on the padded window the tail runs on the ROI plus its margin only (16x16 for MSRResNet)
    adapter = get_adapter("MSRResNet")(model.base)

    def head_body(h: int, w: int) -> int:
        return count_macs(adapter.features, (torch.zeros(1, 3, h, w),), owner=model.base)

    def tail(h: int, w: int) -> int:
        return backbone_macs(model.base, h, w) - head_body(h, w)

    m = 12 + 2 * adapter.tail_margin
    assert one["pre_nopad"] == backbone_macs(model.base, 12, 12)
    assert one["pre_pad"] == head_body(20, 20) + tail(m, m) < backbone_macs(model.base, 20, 20)
    assert one["post"] == backbone_macs(model.base, 40, 56)
    assert one["pre_nopad"] < one["pre_pad"] < one["post"]
    # context work is GCM + PIM, both non-zero; the PIM is the slim copy over the context
    assert one["clsr_context"] == one["clsr_context_gcm"] + one["clsr_context_pim"]
    assert one["clsr_context_gcm"] > 0 and 0 < one["clsr_context_pim"] < one["post"]
    # per-ROI decode: base on the padded window plus GCM attention and 1x1 fusions
    assert one["clsr_decode_gcm"] > 0
    assert one["pre_pad"] <= one["clsr_decode_base"] < 1.1 * one["pre_pad"]
    # the one amortisation: once-per-image work shared by the n ROIs of an image
    assert clsr.macs_per_roi(one) == one["clsr_decode"] + one["clsr_context"]
    assert clsr.macs_per_roi(one, 10) == pytest.approx(
        one["clsr_decode"] + one["clsr_context"] / 10
    )
    assert post.macs_per_roi(one, 10) == pytest.approx(one["post"] / 10)
    assert get_method("pre_pad").macs_per_roi(one, 10) == one["pre_pad"]


def test_topk_moves_g_into_the_per_roi_cost():
    """topk: the image work is only descriptors (0 counted MACs); G runs per ROI in decode."""
    strided = tiny_clsr()
    topk = tiny_clsr()
    topk.gcm.selection = "topk"
    s = clsr_macs(strided, (40, 56), (12, 12))
    t = clsr_macs(topk, (40, 56), (12, 12))
    assert t["clsr_context_gcm"] == 0 and t["clsr_context_pim"] == s["clsr_context_pim"]
    assert s["clsr_decode_select"] == 0 < t["clsr_decode_select"] < 0.01 * t["clsr_decode"]
    assert t["clsr_decode_gcm"] > s["clsr_decode_gcm"] + 0.9 * s["clsr_context_gcm"]
    assert t["clsr_decode_base"] == s["clsr_decode_base"]


def test_clsr_macs_rejects_bad_sizes():
    model = tiny_clsr(trained=False)
    with pytest.raises(ValueError, match="does not fit"):
        clsr_macs(model, (10, 10), (12, 12))
    with pytest.raises(ValueError, match="n_rois"):
        get_method("clsr").macs_per_roi(clsr_macs(model, (20, 20), (12, 12)), 0)


@pytest.mark.parametrize("training", [True, False])
def test_count_macs_leaves_the_owner_in_its_mode(training):
    net = torch.nn.Conv2d(3, 4, 3, padding=1).train(training)
    macs = count_macs(lambda x: net(x) * 2, (torch.zeros(1, 3, 5, 5),), owner=net)
    assert macs == 3 * 4 * 9 * 25
    assert net.training is training


def test_run_macs_counts_the_plan_that_runs():
    """``Method.run_macs`` counts the restore call as it runs: the baselines as the cost model
    has them; CLSR's one ROI as the model where its PIM needs the whole image, less where the
    PIM runs only over the region the ROI needs (a local backbone on a large image)."""
    model = tiny_clsr()
    clsr, post, pre = (get_method(m) for m in ("clsr", "post", "pre_pad"))
    lq = torch.rand(1, 3, 40, 56)
    whole = clsr_macs(model, (40, 56), (36, 52))  # a ROI whose PIM region is the image
    centre = torch.tensor([[2, 2, 52, 36]])
    assert clsr.run_macs(model, lq, centre) == clsr.macs_per_roi(whole)
    assert post.run_macs(model, lq, centre) == whole["post"]
    small = clsr_macs(model, (40, 56), (12, 12))
    two = torch.tensor([[20, 14, 12, 12], [24, 14, 12, 12]])
    assert pre.run_macs(model, lq, two, share_windows=False) == 2 * small["pre_pad"]
    big = torch.rand(1, 3, 96, 128)
    corner = torch.tensor([[4, 4, 12, 12]])
    model_cost = clsr.macs_per_roi(clsr_macs(model, (96, 128), (12, 12)))
    assert clsr.run_macs(model, big, corner) < model_cost
