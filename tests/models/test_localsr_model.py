import json
import math
import os

import cv2
import numpy as np
import pytest
import torch
from basicsr.archs import build_network
from basicsr.data import build_dataloader, build_dataset
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim
from basicsr.models import build_model
from basicsr.utils import tensor2img

from clsr_plugin.evaluation.roi_crops import crop_rois
from clsr_plugin.losses.lambda_schedule import LambdaSchedule
from clsr_plugin.models.metrics_files import history_name
from clsr_plugin.utils.comparison_sheet import BOX_COLOUR


@pytest.fixture
def val_loader(synth_pairs, dataset_opt):
    def make(**kw):
        ds = build_dataset(dataset_opt(*synth_pairs, "val", **kw))
        return build_dataloader(ds, dict(phase="val"), num_gpu=0)

    return make


def test_optimize_parameters_reduces_loss_and_logs_lambda(make_opt, fixed_batch):
    torch.manual_seed(0)  # the initial weights: the test's outcome must not depend on test order
    model = build_model(make_opt())
    batch = fixed_batch
    schedule = LambdaSchedule(0.5, 0.0, 0, 100, "linear")
    logs = []
    for it in range(1, 31):
        model.feed_data(batch)
        model.optimize_parameters(it)
        logs.append(dict(model.get_current_log()))
    assert set(logs[0]) == {"l_pix", "l_context", "lambda_context"}
    assert logs[9]["lambda_context"] == pytest.approx(schedule(10))
    assert logs[0]["l_pix"] > 1.2 * min(log["l_pix"] for log in logs[-5:])
    assert logs[-1]["l_context"] < logs[0]["l_context"]
    # the context branches now contribute: CLSR no longer equals the bare base branch
    net = model.get_bare_model(model.net_g).eval()
    with torch.no_grad():
        lq, box = batch["lq"][:1], batch["roi"][:1]
        assert not torch.allclose(net(lq, box)[0], net.base_only(lq, box), atol=1e-6)


def test_optimizers_and_option_errors(make_opt, fixed_batch, tiny_backbone):
    for optim in ("Adam", "AdamW", "SGD"):
        model = build_model(make_opt(train=dict(optim_g=dict(type=optim, lr=1e-3))))
        assert type(model.optimizer_g).__name__ == optim
    with pytest.raises(ValueError, match="optim_g type"):
        build_model(make_opt(train=dict(optim_g=dict(type="Lion", lr=1e-3))))
    for metrics, match in (
        (dict(psnr=dict(type="calculate_nope", crop_border=4)), r"val\.metrics\.psnr\.type"),
        (dict(psnr=dict(crop_border=4)), r"val\.metrics\.psnr: expected"),
        (dict(psnr_roi=dict(type="calculate_psnr", crop_border=0)), "val.metrics.psnr_roi"),
        (dict(psnr=dict(type="calculate_psnr", crop_border=-1)), "psnr.crop_border"),
    ):
        with pytest.raises(ValueError, match=match):
            build_model(make_opt(val=dict(metrics=metrics)))
    with pytest.raises(ValueError, match="CLSR network_g"):
        build_model(dict(make_opt(), network_g=tiny_backbone))
    opt = make_opt()
    opt["network_g"]["pim"] = False
    model = build_model(opt)
    model.feed_data(fixed_batch)
    with pytest.raises(ValueError, match="context_opt"):
        model.optimize_parameters(1)


def _direct_roi_images(net, lq, rois, fn):
    out = []
    for box in rois:
        with torch.no_grad():
            out.append(tensor2img(fn(net, lq, box[None])[0]))
    return out


#: BasicSR's val.metrics as BasicSR users write them (Y channel, border crop)
VAL_METRICS = dict(
    psnr_y=dict(type="calculate_psnr", crop_border=4, test_y_channel=True),
    ssim=dict(type="calculate_ssim", crop_border=2, test_y_channel=False),
)


def test_validation_equals_direct_per_roi_computation(make_opt, fixed_batch, val_loader):
    model = build_model(make_opt(val=dict(metrics=VAL_METRICS)))
    batch = fixed_batch
    for it in range(1, 6):  # move away from the identity init so CLSR != base_only
        model.feed_data(batch)
        model.optimize_parameters(it)
    loader = val_loader()
    model.validation(loader, 5, None, save_img=False)
    res = model.metric_results
    net = model.get_bare_model(model.net_g).eval()
    methods = {
        "clsr": lambda n, x, b: n(x, b)[0],  # forward(), one ROI at a time
        "pre_pad": lambda n, x, b: n.base_only(x, b),
        "pre_nopad": lambda n, x, b: n.base_only(x, b, roi_pad=0),
        # post-cropping: the backbone on the whole LR image, then cropped
        "post": lambda n, x, b: crop_rois(n.base(x), b, 4),
    }
    for name, fn in methods.items():
        psnrs, ssims, img_psnrs, psnr_y, ssim_c2 = [], [], [], [], []
        for data in loader:
            lq, gt, rois = data["lq"], data["gt"], data["rois"][0]
            srs = _direct_roi_images(net, lq, rois, fn)
            gts = [tensor2img(crop_rois(gt, b[None], 4)[0]) for b in rois]
            psnrs += [min(100.0, calculate_psnr(s, g, 0)) for s, g in zip(srs, gts)]
            psnr_y += [calculate_psnr(s, g, 4, test_y_channel=True) for s, g in zip(srs, gts)]
            ssim_c2 += [calculate_ssim(s, g, 2) for s, g in zip(srs, gts)]
            ssims += [calculate_ssim(s, g, 0) for s, g in zip(srs, gts)]
            sq = np.concatenate(
                [(s.astype(float) - g.astype(float)).ravel() ** 2 for s, g in zip(srs, gts)]
            )
            img_psnrs.append(10 * math.log10(255**2 / sq.mean()))
        assert res[f"{name}/n_rois"] == len(psnrs) == 3 * 3 * 3  # 24x30 LR -> 3x3 ROIs of 8
        assert res[f"{name}/psnr_roi"] == pytest.approx(np.mean(psnrs), abs=1e-9), name
        assert res[f"{name}/ssim_roi"] == pytest.approx(np.mean(ssims), abs=1e-9), name
        assert res[f"{name}/psnr_img"] == pytest.approx(np.mean(img_psnrs), abs=1e-9), name
        # BasicSR's val.metrics, per ROI through its registry, mean over ROIs
        assert res[f"{name}/psnr_y"] == pytest.approx(np.mean(psnr_y), abs=1e-9), name
        assert res[f"{name}/ssim"] == pytest.approx(np.mean(ssim_c2), abs=1e-9), name
        assert res[f"{name}/psnr_y"] != pytest.approx(res[f"{name}/psnr_roi"], abs=1e-3)
    assert res["clsr/psnr_roi"] != res["pre_pad/psnr_roi"]
    # MACs: the bare ROI is cheapest, the whole image dearest; CLSR pays the context once
    assert 0 < res["pre_nopad/gmacs"] < res["pre_pad/gmacs"] < res["clsr/gmacs"]
    assert res["clsr_amortized/gmacs"] < res["clsr/gmacs"]
    assert res["post/gflops"] == pytest.approx(2 * res["post/gmacs"])
    # the same numbers are written next to the experiment for scripts to read
    with open(os.path.join(model.opt["path"]["experiments_root"], "metrics_synth.json")) as f:
        written = json.load(f)
    assert written["iter"] == 5 and written["dataset"] == "synth"
    assert written["clsr/psnr_roi"] == pytest.approx(res["clsr/psnr_roi"])
    assert written["clsr/psnr_y"] == pytest.approx(res["clsr/psnr_y"])
    assert model.best_metric_results["synth"]["clsr/psnr_y"]["val"] == res["clsr/psnr_y"]
    # paired differences per image and per ROI, from the same per-item values
    paired = written["paired"]
    assert set(paired) == {"image", "roi"}
    assert set(paired["image"]) == {"clsr - post", "clsr - pre_pad", "pre_pad - post"}
    d = paired["image"]["clsr - post"]
    assert d["n"] == 3 and d["gain"] + d["lose"] + d["tie"] == 3
    assert d["mean"] == pytest.approx(res["clsr/psnr_img"] - res["post/psnr_img"], abs=1e-9)
    assert d["low"] <= d["mean"] <= d["high"]
    assert paired["roi"]["clsr - post"]["n"] == 27
    assert paired["roi"]["clsr - post"]["mean"] == pytest.approx(
        res["clsr/psnr_roi"] - res["post/psnr_roi"], abs=1e-9
    )
    # training keeps every validation, by iteration (a re-validation replaces its entry)
    model.validation(loader, 5, None, save_img=False)
    model.validation(loader, 7, None, save_img=False)
    # BasicSR's validation after its loop (total_iter + 1, the last weights) is the last one's
    model.opt["train"]["total_iter"] = 7
    model.validation(loader, 8, None, save_img=False)
    with open(os.path.join(model.opt["path"]["experiments_root"], history_name("synth"))) as f:
        history = json.load(f)
    assert [h["iter"] for h in history] == [5, 7]
    assert history[0]["clsr/psnr_img"] == pytest.approx(res["clsr/psnr_img"])


def test_val_metrics_crop_border_larger_than_the_roi_is_one_line_error(make_opt, val_loader):
    metrics = dict(psnr4=dict(type="calculate_psnr", crop_border=16))  # ROI 8 LR = 32 HR
    model = build_model(make_opt(is_train=False, val=dict(baselines=False, metrics=metrics)))
    with pytest.raises(ValueError, match=r"^val\.metrics\.psnr4\.crop_border: 16 ") as err:
        model.validation(val_loader(), "unit", None, save_img=False)
    assert "\n" not in str(err.value) and "32x32" in str(err.value)


def test_post_cropping_equals_whole_image_sr_cropped(make_opt, val_loader):
    model = build_model(make_opt(is_train=False))
    net = model.get_bare_model(model.net_g).eval()
    data = next(iter(val_loader(roi_remainder="shift")))
    lq, rois = data["lq"], data["rois"][0]
    outs = model.restore_rois(lq, rois, ("post", "clsr", "pre_pad"), roi_batch=4)
    with torch.no_grad():
        whole = net.base(lq)
        for i, box in enumerate(rois):
            torch.testing.assert_close(
                outs["post"][i][None], crop_rois(whole, box[None], 4), rtol=0, atol=1e-5
            )
            # a fresh CLSR is the identity over the base branch
            torch.testing.assert_close(outs["clsr"][i], outs["pre_pad"][i], rtol=0, atol=1e-6)


def test_pretrain_backbone_loads_a_plain_basicsr_checkpoint(make_opt, tmp_path, tiny_backbone):
    backbone = build_network(dict(tiny_backbone))
    path = str(tmp_path / "msrresnet_plain.pth")
    torch.save({"params": backbone.state_dict()}, path)
    with pytest.raises(ValueError, match="pretrain_network_backbone_g"):
        build_model(make_opt(path=dict(pretrain_backbone_g=path)))
    model = build_model(make_opt(path=dict(pretrain_network_backbone_g=path)))
    net = model.get_bare_model(model.net_g).eval()
    for k, v in backbone.state_dict().items():
        assert torch.equal(net.base.state_dict()[k], v), k
    lq = torch.rand(1, 3, 20, 24)
    box = torch.tensor([[4, 6, 8, 8]])
    with torch.no_grad():
        # pre-cropping with padding p: the backbone on the clamped padded window, cropped
        ref = backbone.eval()(lq[:, :, 2:18, 0:16])[:, :, 4 * 4 : 4 * 12, 4 * 4 : 4 * 12]
        torch.testing.assert_close(net.base_only(lq, box), ref)
        torch.testing.assert_close(net(lq, box)[0], ref)


def _perturb_fusions(model):
    """Make the context branches of ``model``'s network trained (non-zero fusion layers)."""
    net = model.get_bare_model(model.net_g)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith(("pim.fuse", "gcm.fuse")):
                p.add_(0.05 * torch.randn_like(p))
    return model


def test_save_img_writes_comparison_sheets(make_opt, val_loader):
    model = build_model(
        make_opt(is_train=False, val=dict(baselines=False, flops=False, sheet_rois=2))
    )
    _perturb_fusions(model)
    model.opt["val"]["suffix"] = "t"
    model.validation(val_loader(), "unit", None, save_img=True)
    files = sorted(os.listdir(os.path.join(model.opt["path"]["visualization"], "synth")))
    assert files == ["img_000_t.png", "img_001_t.png", "img_002_t.png"]
    sheet = cv2.imread(os.path.join(model.opt["path"]["visualization"], "synth", files[0]))
    assert (sheet == np.array(BOX_COLOUR, np.uint8)).all(-1).sum() > 100  # boxes on the image
    assert sheet.shape[0] > 32 * 2 * 2  # the overview above two magnified ROI rows
    assert (
        "pre_pad/psnr_roi" not in model.metric_results and "clsr/psnr_roi" in model.metric_results
    )
    assert not any(k.endswith("gmacs") for k in model.metric_results)


def test_test_and_visuals_follow_the_fed_rois(make_opt, val_loader):
    model = build_model(make_opt(is_train=False))
    data = next(iter(val_loader()))
    model.feed_data(data)
    model.test()
    visuals = model.get_current_visuals()
    n = data["rois"].shape[1]
    assert visuals["result"].shape == (n, 3, 32, 32) and visuals["gt"].shape == (n, 3, 32, 32)
    ref = model.restore_rois(data["lq"], data["rois"][0])["clsr"]
    torch.testing.assert_close(visuals["result"], torch.stack(ref))


@pytest.mark.parametrize("baselines", [True, False])
def test_untrained_clsr_is_reported_as_padded_precropping(
    make_opt, val_loader, baselines, tmp_path
):
    import logging

    opt = make_opt(
        is_train=False,
        val=dict(baselines=baselines, flops=baselines),
        path=dict(results_root=str(tmp_path)),
    )
    written = tmp_path / "metrics_synth.json"
    model = build_model(opt)  # fresh: every fusion layer zero -> exactly pre_pad
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("basicsr")
    logger.addHandler(handler)
    try:
        model.validation(val_loader(), "unit", None, save_img=False)
        res = dict(model.metric_results)
        warned = [r for r in records if r.levelno == logging.WARNING]
        assert json.loads(written.read_text())["context_untrained"] is True
        records.clear()
        _perturb_fusions(model).validation(val_loader(), "unit2", None, save_img=False)
    finally:
        logger.removeHandler(handler)
    assert len(warned) == 1 and "untrained" in warned[0].getMessage()
    assert "\n" not in warned[0].getMessage()
    assert not any(k.startswith("clsr") for k in res) and "pre_pad/psnr_roi" in res
    assert ("post/psnr_roi" in res) is baselines and ("pre_pad/gmacs" in res) is baselines
    assert json.loads(written.read_text())["context_untrained"] is False  # the trained run
    assert not [r for r in records if r.levelno == logging.WARNING]
    assert "clsr/psnr_roi" in model.metric_results


def test_lr_multipliers_make_their_own_groups():
    from torch import nn

    from clsr_plugin.models.localsr_model import lr_groups

    net = nn.Sequential()
    net.add_module("base", nn.Linear(2, 2))
    net.add_module("pim", nn.Linear(2, 2))
    net.add_module("gcm", nn.Linear(2, 2))
    net.gcm.weight.requires_grad_(False)  # frozen: in no group
    one = lr_groups(net, None, 1e-3)
    assert len(one) == 1 and one[0]["lr"] == 1e-3 and len(one[0]["params"]) == 5
    groups = lr_groups(net, {"base": 0.01}, 1e-3)
    assert [g["lr"] for g in groups] == [1e-3, 1e-5]
    assert groups[1]["params"] == list(net.base.parameters()) and len(groups[0]["params"]) == 3
    for bad in ({"nope": 0.1}, {"base": -1}, {"base": True}, ["base"]):
        with pytest.raises(ValueError, match="lr_multipliers"):
            lr_groups(net, bad, 1e-3)
