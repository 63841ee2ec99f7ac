"""Every YAML in options/ parses, and its datasets, network and model build (data overridden)."""

import copy
import glob
import os.path as osp

import pytest
import torch
import yaml
from _synthetic import write_synthetic_pairs
from basicsr.data import build_dataset
from basicsr.models import build_model
from basicsr.utils.options import ordered_yaml

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FILES = sorted(glob.glob(osp.join(ROOT, "options", "**", "*.yml"), recursive=True))
NAMES = [osp.relpath(f, ROOT) for f in FILES]
BACKBONES = ("srresnet", "edsr", "rcan", "carn", "swinir_light", "swinir")
LIGHT = ("srresnet", "edsr", "carn", "swinir_light", "demo")  # full-size forward pass in the test


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """HR 336x344 (LR 84x86: fits the 54 and 80 px contexts) with LR named '{}' and '{}x4'."""
    root = tmp_path_factory.mktemp("opts")
    plain = write_synthetic_pairs(str(root / "plain"), num_images=2, hr_size=(336, 344))
    x4 = write_synthetic_pairs(str(root / "x4"), num_images=2, hr_size=(336, 344), lq_suffix="x4")
    return {"{}": plain, "{}x4": x4}


def _load(path):
    with open(path) as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def test_the_expected_files_exist():
    for bb in BACKBONES:
        assert f"options/clsr_{bb}_x4.yml" in NAMES and f"options/test_clsr_{bb}_x4.yml" in NAMES
    assert {"options/demo/clsr_demo_x4.yml", "options/demo/test_clsr_demo_x4.yml"} <= set(NAMES)


@pytest.mark.parametrize("bb", BACKBONES)
def test_training_options_follow_the_paper_recipe(bb):
    opt = _load(osp.join(ROOT, "options", f"clsr_{bb}_x4.yml"))
    test = _load(osp.join(ROOT, "options", f"test_clsr_{bb}_x4.yml"))
    train = opt["datasets"]["train"]
    assert opt["model_type"] == test["model_type"] == "LocalSRModel" and opt["scale"] == 4
    assert train["dataroot_gt"] == "datasets/DIV2K/DIV2K_train_HR_sub.lmdb"
    assert train["dataroot_lq"] == "datasets/DIV2K/DIV2K_train_LR_bicubic_X4_sub.lmdb"
    assert train["io_backend"]["type"] == "lmdb"
    assert (train["lq_size"], train["roi_size"]) == (54, 48)
    assert opt["train"]["optim_g"]["lr"] == 1e-4 and opt["train"]["total_iter"] == 200000
    assert opt["train"]["scheduler"]["type"] == "CosineAnnealingRestartLR"
    ctx = opt["train"]["context_opt"]
    assert (ctx["type"], ctx["start"], ctx["end"], ctx["end_iter"]) == (
        "PIMContextLoss",
        0.5,
        0.0,
        200000,
    )
    assert opt["path"]["pretrain_network_backbone_g"].startswith("experiments/pretrained_models/")
    assert test["network_g"] == opt["network_g"]  # the test file evaluates what was trained
    assert (
        test["path"]["pretrain_network_g"] == f"experiments/{opt['name']}/models/net_g_latest.pth"
    )
    sets = [d["name"] for d in test["datasets"].values()]
    assert sets == ["Set5", "Set14", "BSD100", "Urban100", "Manga109"]
    assert all(d["roi_size"] == 24 for d in test["datasets"].values())
    assert test["val"]["baselines"] is True


def _parsed(path, synthetic, tmp_path):
    """What basicsr's parse_options would make, with every dataset on synthetic images."""
    opt = _load(path)
    is_train = "train" in opt["datasets"]
    opt.update(is_train=is_train, dist=False, rank=0, world_size=1, num_gpu=0, auto_resume=False)
    for phase, ds in opt["datasets"].items():
        ds["phase"], ds["scale"] = phase.split("_")[0], opt["scale"]
        hr, lr = synthetic[ds.get("filename_tmpl", "{}")]
        ds["dataroot_gt"] = hr
        if ds.get("dataroot_lq") is not None:
            ds["dataroot_lq"] = lr
        ds["io_backend"] = dict(type="disk")
    for key in [k for k in opt["path"] if k.startswith("pretrain_")]:
        opt["path"][key] = None  # the checkpoints are not here
    opt["path"].update(
        models=str(tmp_path / "models"),
        training_states=str(tmp_path / "states"),
        visualization=str(tmp_path / "vis"),
    )
    return opt


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_options_parse_and_build(path, synthetic, tmp_path):
    opt = _parsed(path, synthetic, tmp_path)
    for ds_opt in opt["datasets"].values():
        ds = build_dataset(copy.deepcopy(ds_opt))
        item = ds[0]
        if ds_opt["phase"] == "train":
            size = ds_opt["lq_size"]
            assert item["lq"].shape[-2:] == (size, size) and item["roi"].shape == (4,)
        else:
            assert item["rois"].shape[1] == 4 and item["gt"].shape[-1] == 4 * item["lq"].shape[-1]
    model = build_model(opt)
    net = model.get_bare_model(model.net_g)
    if opt["model_type"] == "SRModel":  # the demo's backbone trained alone: a plain backbone
        assert path.endswith("backbone_demo_x4.yml") and type(net).__name__ == "MSRResNet"
        out = net.eval()(torch.rand(1, 3, 8, 8))
        assert out.shape == (1, 3, 32, 32) and model.cri_pix is not None
        return
    assert type(net).__name__ == "CLSR" and net.scale == 4
    assert net.pim is not None and net.gcm is not None
    if opt["is_train"]:
        assert model.cri_pix is not None and model.cri_context is not None
    if any(key in path for key in LIGHT):
        # the full-size network restores an ROI of a small image like its bare backbone does
        lq = torch.rand(1, 3, 40, 40)
        rois = torch.tensor([[8, 16, 24, 24]])
        out = model.restore_rois(lq, rois, ("clsr", "pre_pad"), net=net.eval())
        assert out["clsr"][0].shape == (3, 96, 96)
        torch.testing.assert_close(out["clsr"][0], out["pre_pad"][0])
