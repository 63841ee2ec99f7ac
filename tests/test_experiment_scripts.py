"""scripts/experiment_real: runs differ only where intended; parts merge with the right weights."""

import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, "scripts", "experiment_real"))

from exp_options import RUNS, train_options  # noqa: E402
from exp_options import test_options as eval_options  # noqa: E402
from make_results import merge_breakdown, merge_parts  # noqa: E402
from roi_breakdown import border_distance  # noqa: E402

TRAINED = [name for name, run in RUNS.items() if run.trains]


def _train(name, iters=300):
    return train_options(name, iters, "/pack", "/prep", num_gpu=0)


def test_trained_runs_share_seed_budget_and_optimiser():
    shared = []
    for name in TRAINED:
        opt = _train(name)
        tr = opt["train"]
        ds = opt["datasets"]["train"]
        shared.append(
            (
                opt["manual_seed"],
                tr["total_iter"],
                tr["scheduler"]["periods"],
                tr["optim_g"],
                tr["ema_decay"],
                tr["pixel_opt"],
                ds["batch_size_per_gpu"],
                ds["dataroot_gt"],
                ds["dataroot_lq"],
            )
        )
    assert all(s == shared[0] for s in shared)
    assert shared[0][1] == 300 and shared[0][2] == [300]
    assert shared[0][7] == "/prep/train291_HR_sub.lmdb"


def test_srmodel_run_is_the_plain_backbone_on_roi_sized_patches():
    opt = _train("srmodel_msrresnet")
    clsr = _train("clsr_msrresnet")
    assert opt["model_type"] == "SRModel" and opt["network_g"] == clsr["network_g"]["backbone"]
    ds = opt["datasets"]["train"]
    assert ds["type"] == "PairedImageDataset"
    assert ds["gt_size"] == 4 * clsr["datasets"]["train"]["roi_size"]
    assert opt["path"]["pretrain_network_g"] == clsr["path"]["pretrain_network_backbone_g"]
    assert opt["path"]["pretrain_network_g"] == "/pack/weights/MSRResNet_x4_291set.pth"
    assert "context_opt" not in opt["train"]


def test_ablations_change_only_their_branch_or_placement():
    full = _train("clsr_msrresnet")
    pim = _train("clsr_msrresnet_pim")
    gcm = _train("clsr_msrresnet_gcm")
    rnd = _train("clsr_msrresnet_random")
    assert pim["network_g"]["gcm"] is False and pim["network_g"]["pim"] == full["network_g"]["pim"]
    assert pim["train"]["context_opt"]["end_iter"] == 300
    assert gcm["network_g"]["pim"] is False and gcm["network_g"]["gcm"] == full["network_g"]["gcm"]
    assert "context_opt" not in gcm["train"]  # it supervises the PIM's output
    assert rnd["network_g"] == full["network_g"]
    assert (
        rnd["datasets"]["train"]["roi_placement"],
        full["datasets"]["train"]["roi_placement"],
    ) == (
        "random",
        "center",
    )
    assert len({o["name"] for o in (full, pim, gcm, rnd)}) == 4


def test_test_options_pick_weights_datasets_and_rois():
    roots = {"Set5": "/d/Set5", "Urban100_dev": "/d/u1/Urban100_dev"}
    opt = eval_options("srmodel_msrresnet", "/w/srmodel.pth", roots, roi_sizes=(48,), num_gpu=0)
    assert opt["network_g"]["pim"] is False and opt["network_g"]["gcm"] is False
    assert opt["path"]["pretrain_network_backbone_g"] == "/w/srmodel.pth"
    assert opt["path"]["pretrain_network_g"] is None
    names = [d["name"] for d in opt["datasets"].values()]
    assert names == ["Set5_r48", "Urban100_dev_r48"]
    assert opt["datasets"]["test_2"]["dataroot_lq"] == "/d/u1/Urban100_dev/LR_bicubic/X4"
    clsr = eval_options("clsr_msrresnet_gcm", "/w/c.pth", {"Set14": "/d/Set14"}, flops=False)
    assert clsr["network_g"]["pim"] is False and clsr["network_g"]["gcm"] is not False
    assert clsr["path"]["pretrain_network_g"] == "/w/c.pth" and clsr["val"]["flops"] is False
    assert clsr["val"]["baselines"] is True
    with pytest.raises(ValueError, match="BSD100"):
        eval_options("clsr_msrresnet", "/w/c.pth", {"BSD100": "/d"})
    with pytest.raises(ValueError, match="no training stage"):
        train_options("pretrained_msrresnet", 10, "/p", "/q")


def test_parts_merge_weighted_by_rois_and_by_images():
    def part(name, n_images, n_rois, psnr_roi, psnr_img, gmacs):
        metrics = {
            "post/n_rois": n_rois,
            "post/n_inf_psnr": 1,
            "post/psnr_roi": psnr_roi,
            "post/ssim_roi": 0.5,
            "post/psnr_img": psnr_img,
            "post/ssim_img": 0.5,
            "post/gmacs": gmacs,
            "post/gflops": 2 * gmacs,
        }
        return {"part": name, "n_images": n_images, "metrics": metrics}

    merged = merge_parts(
        [part("urban_1", 1, 30, 30.0, 20.0, 1.0), part("urban_2", 3, 10, 34.0, 24.0, 5.0)]
    )
    assert merged["n_images"] == 4 and merged["parts"] == ["urban_1", "urban_2"]
    assert merged["post/n_rois"] == 40 and merged["post/n_inf_psnr"] == 2
    assert merged["post/psnr_roi"] == pytest.approx((30 * 30 + 10 * 34) / 40)
    assert merged["post/psnr_img"] == pytest.approx((20 + 3 * 24) / 4)
    assert merged["post/gflops"] == pytest.approx(2 * (30 * 1 + 10 * 5) / 40)
    again = merge_parts(
        [part("urban_1", 1, 30, 30.0, 20.0, 1.0), part("urban_1", 1, 30, 31.0, 21.0, 1.0)]
    )
    assert again["post/psnr_roi"] == 31.0 and again["n_images"] == 1  # a re-run part replaces


def test_breakdown_parts_merge_per_bin_and_border_distance():
    a = {"Urban100_dev_r24": {"border": {"n": 2, "clsr": 30.0, "ref_post": 29.0}}}
    b = {"Urban100_dev_r24": {"border": {"n": 6, "clsr": 26.0, "ref_post": 25.0}}}
    merged = merge_breakdown([a, b])["Urban100_dev_r24"]["border"]
    assert merged["n"] == 8 and merged["clsr"] == pytest.approx(27.0)
    assert merged["ref_post"] == pytest.approx(26.0)
    assert border_distance([0, 10, 24, 24], 100, 200) == 0
    assert border_distance([30, 40, 24, 24], 100, 200) == 30  # nearest: left
    assert border_distance([150, 40, 24, 24], 70, 200) == 6  # nearest: bottom (70 - 64)
