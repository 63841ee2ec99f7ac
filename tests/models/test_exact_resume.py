"""Exact resume: N + M iterations in two pieces equal N + M in one, bit for bit on the CPU."""

import json
import os
import os.path as osp
import random
import sys

import numpy as np
import pytest
import torch
import yaml
from _synthetic import write_synthetic_pairs
from basicsr.train import train_pipeline

from clsr_plugin.models import training_state
from clsr_plugin.models.localsr_model import LocalSRModel
from clsr_plugin.models.metrics_files import history_name

TOTAL, STOP_AFTER = 6, 4


class Interrupted(Exception):
    pass


def _options(hr, lr, backbone, samples_per_epoch=4):
    dataset = dict(
        type="LocalSRPairedDataset", dataroot_gt=hr, dataroot_lq=lr, io_backend=dict(type="disk")
    )
    train = dict(dataset, name="synth", lq_size=12, roi_size=6, roi_placement="random",
                 use_hflip=True, use_rot=True, num_worker_per_gpu=0, batch_size_per_gpu=2,
                 prefetch_mode=None, samples_per_epoch=samples_per_epoch)  # fmt: skip
    return dict(
        name="exact", model_type="LocalSRModel", scale=4, num_gpu=0, manual_seed=0,
        datasets=dict(train=train, val=dict(dataset, name="synth_val", roi_size=8)),
        network_g=dict(type="CLSR", backbone=backbone, roi_pad=2, gcm=dict(num_patches=8)),
        path=dict(pretrain_network_g=None, strict_load_g=True, resume_state=None),
        train=dict(
            ema_decay=0.9,
            optim_g=dict(type="Adam", lr=2e-3, weight_decay=0, betas=[0.9, 0.99]),
            scheduler=dict(type="CosineAnnealingRestartLR", periods=[TOTAL], restart_weights=[1],
                           eta_min=1e-5),  # fmt: skip
            total_iter=TOTAL, warmup_iter=-1,
            pixel_opt=dict(type="L1Loss", loss_weight=1.0, reduction="mean"),
            context_opt=dict(type="PIMContextLoss", start=0.5, end=0.0, start_iter=0,
                             end_iter=TOTAL, mode="linear"),  # fmt: skip
        ),
        val=dict(val_freq=2, save_img=False),
        logger=dict(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False,
                    wandb=dict(project=None)),  # fmt: skip
    )  # fmt: skip


def _train(monkeypatch, root, opt, stop_after=None):
    """BasicSR's train_pipeline in ``root`` (auto-resume); ``stop_after``: killed there."""
    os.makedirs(root, exist_ok=True)
    path = osp.join(root, "opt.yml")
    with open(path, "w") as f:
        yaml.safe_dump(opt, f)
    monkeypatch.setattr(sys, "argv", ["train.py", "-opt", path, "--auto_resume"])
    original = LocalSRModel.optimize_parameters

    def step(self, current_iter):
        if stop_after is not None and current_iter > stop_after:
            raise Interrupted
        original(self, current_iter)

    monkeypatch.setattr(LocalSRModel, "optimize_parameters", step)
    random.seed(1234), np.random.seed(1234), torch.manual_seed(1234)  # a fresh process's luck
    if stop_after is None:
        train_pipeline(root)
    else:
        with pytest.raises(Interrupted):
            train_pipeline(root)
    monkeypatch.setattr(LocalSRModel, "optimize_parameters", original)


def _final(root):
    ckpt = torch.load(osp.join(root, f"experiments/exact/models/net_g_{TOTAL}.pth"),
                      weights_only=True)  # fmt: skip
    return ckpt["params"], ckpt["params_ema"]


def _equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


@pytest.fixture
def data(tmp_path_factory, tiny_backbone):
    root = str(tmp_path_factory.mktemp("data"))
    hr, lr = write_synthetic_pairs(root, num_images=3, hr_size=(64, 64), seed=3)
    return hr, lr, tiny_backbone


def test_two_pieces_equal_one_run_bit_for_bit(tmp_path, monkeypatch, data):
    opt = _options(*data)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    _train(monkeypatch, one, opt)
    _train(monkeypatch, two, opt, stop_after=STOP_AFTER)
    state = torch.load(osp.join(two, f"experiments/exact/training_states/{STOP_AFTER}.state"),
                       weights_only=True)  # fmt: skip
    assert state["exact_resume"] and state["epoch"] == STOP_AFTER // 2  # the next epoch
    _train(monkeypatch, two, opt)
    for a, b in zip(_final(one), _final(two)):
        assert _equal(a, b)


def test_without_the_random_state_the_pieces_differ(tmp_path, monkeypatch, data):
    """The control: a resume without the saved random state (BasicSR's own) is not exact, so
    the test above can fail."""
    opt = _options(*data)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    _train(monkeypatch, one, opt)
    _train(monkeypatch, two, opt, stop_after=STOP_AFTER)
    monkeypatch.setattr(training_state, "set_rng_state", lambda state: None)
    _train(monkeypatch, two, opt)
    assert not _equal(_final(one)[0], _final(two)[0])


def test_epoch_position_and_rng_round_trip():
    no_length = {"datasets": {"train": {"batch_size_per_gpu": 8}}}
    assert training_state.iters_per_epoch(no_length) is None
    opt = {"datasets": {"train": {"samples_per_epoch": 400, "batch_size_per_gpu": 8,
                                  "dataset_enlarge_ratio": 1}}}  # fmt: skip
    assert training_state.iters_per_epoch(opt) == 50
    assert training_state.epoch_to_resume(1, 100, 50) == (2, True)
    assert training_state.epoch_to_resume(2, 120, 50) == (2, False)
    assert training_state.epoch_to_resume(0, 100, None) == (0, False)
    saved = training_state.rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    training_state.set_rng_state(saved)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_small_state_continues_in_a_fresh_folder(tmp_path, monkeypatch, data):
    """The committed small state (trainable weights, optimizer, RNG) of an interrupted run,
    rebuilt around the backbone checkpoint in an empty folder, continues it exactly."""
    from basicsr.archs import build_network

    from clsr_plugin.models import run_state

    hr, lr, backbone = data
    torch.manual_seed(0)
    ckpt = str(tmp_path / "backbone.pth")
    torch.save({"params": build_network(dict(backbone)).state_dict()}, ckpt)
    opt = _options(hr, lr, backbone)
    opt["path"].update(pretrain_network_backbone_g=ckpt, param_key_backbone_g="params")
    opt["train"]["freeze"] = ["base", "gcm.extractor"]
    one, two, three = (str(tmp_path / n) for n in ("one", "two", "three"))
    _train(monkeypatch, one, opt)
    _train(monkeypatch, two, opt, stop_after=STOP_AFTER)
    small = str(tmp_path / "state")
    meta = run_state.export_run_state(osp.join(two, "experiments/exact"), small, ["base",
                                      "gcm.extractor"])  # fmt: skip
    assert meta["iter"] == STOP_AFTER
    from safetensors.torch import load_file

    names = load_file(osp.join(small, run_state.TRAINABLE)).keys()
    assert names and not any(
        n.split("/", 1)[1].startswith(("base.", "gcm.extractor.")) for n in names
    )
    assert run_state.import_run_state(small, osp.join(three, "experiments/exact"),
                                      opt["network_g"], ckpt) == STOP_AFTER  # fmt: skip
    history = history_name("synth_val")
    with open(osp.join(small, history)) as f:  # the learning curve so far travels with it
        assert [h["iter"] for h in json.load(f)] == [2, 4]
    _train(monkeypatch, three, opt)
    for a, b in zip(_final(one), _final(three)):
        assert _equal(a, b)

    def curve(root):
        with open(osp.join(root, "experiments/exact", history)) as f:
            return [(h["iter"], h["clsr/psnr_img"]) for h in json.load(f)]

    assert curve(three) == curve(one) and len(curve(one)) >= TOTAL // 2
    # another backbone is refused
    other = str(tmp_path / "other.pth")
    torch.save({"params": build_network(dict(backbone)).state_dict()}, other)
    with pytest.raises(ValueError, match="another backbone"):
        run_state.import_run_state(small, str(tmp_path / "four"), opt["network_g"], other)


def test_the_committed_state_files_are_not_ignored_by_git():
    """Every file of a run's small state lands in a commit (``*.state`` is in .gitignore:
    a state written as ``training.state`` once lost its optimizer and RNG on a fresh clone)."""
    import shutil
    import subprocess

    from clsr_plugin.models import run_state

    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    if shutil.which("git") is None or not osp.isdir(osp.join(root, ".git")):
        pytest.skip("not a git checkout")
    paths = [f"docs/results/state/r1/{n}" for n in (run_state.TRAINABLE, run_state.TRAINING,
             run_state.META, history_name("Urban100_dev_val"))]  # fmt: skip
    out = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=root,
                         capture_output=True, text=True)  # fmt: skip
    assert out.stdout.split() == [], f"ignored by .gitignore: {out.stdout.split()}"
    bad = subprocess.run(["git", "check-ignore", "--no-index", "docs/results/state/r1/x.state"],
                         cwd=root, capture_output=True, text=True)  # fmt: skip
    assert bad.stdout.strip()  # the check can fail: a .state file there would be ignored


def test_small_state_leaves_out_derived_buffers_and_rebuilds_them(tmp_path):
    """A SwinIR CLSR's attention masks and position indices (its PIM's are not frozen) are
    computed from the configuration: the small state leaves them out, the import restores the
    whole checkpoint bit for bit."""
    from basicsr.archs import build_network
    from safetensors.torch import load_file

    from clsr_plugin.archs import load_backbone_weights
    from clsr_plugin.inference.api import build_clsr
    from clsr_plugin.models import run_state

    backbone = dict(type="SwinIR", upscale=4, img_size=16, window_size=4, embed_dim=12,
                    depths=[2], num_heads=[2], mlp_ratio=2,
                    upsampler="pixelshuffledirect")  # fmt: skip
    network = dict(type="CLSR", backbone=backbone, roi_pad=2, gcm=dict(num_patches=8))
    ckpt = str(tmp_path / "backbone.pth")
    torch.save({"params": build_network(dict(backbone)).state_dict()}, ckpt)
    net = build_clsr(network)
    load_backbone_weights(net, ckpt, strict=True)
    frozen = ["base", "gcm.extractor"]
    with torch.no_grad():  # trained-looking adapters
        for name, p in net.named_parameters():
            if not run_state.under(name, frozen):
                p.add_(torch.randn_like(p))
    full = {k: {n: t.clone() for n, t in net.state_dict().items()} for k in run_state.KEYS}
    exp = tmp_path / "exp"
    (exp / "models").mkdir(parents=True)
    (exp / "training_states").mkdir()
    torch.save(full, exp / "models" / "net_g_2.pth")
    torch.save({"iter": 2}, exp / "training_states" / "2.state")
    derived = [n for n in full["params"] if run_state.derived(n) and not run_state.under(n, frozen)]
    assert any(n.endswith("attn_mask") for n in derived)  # the PIM's shifted blocks

    run_state.export_run_state(str(exp), str(tmp_path / "small"), frozen)
    names = {n.split("/", 1)[1] for n in load_file(tmp_path / "small" / run_state.TRAINABLE)}
    assert names and not names & set(derived)
    out = tmp_path / "again"
    assert run_state.import_run_state(str(tmp_path / "small"), str(out), network, ckpt) == 2
    again = torch.load(out / "models" / "net_g_2.pth", weights_only=True)
    for key in run_state.KEYS:
        assert again[key].keys() == full[key].keys()
        assert all(torch.equal(again[key][n], full[key][n]) for n in full[key])
