"""BasicSR's own train_pipeline drives LocalSRModel: loss goes down, --auto_resume continues."""

import glob
import os.path as osp
import sys

import pytest
import torch
import yaml
from _localsr_data import (
    disk_pair,
    localsr_model_opt,
    pim_context_opt,
    tiny_clsr_net,
    tiny_train_set,
)
from _synthetic import write_synthetic_pairs
from basicsr.archs import build_network
from basicsr.train import train_pipeline

from clsr_plugin.losses.lambda_schedule import LambdaSchedule
from clsr_plugin.models.localsr_model import LocalSRModel


def _options(hr, lr, backbone, total_iter, backbone_ckpt=None):
    return localsr_model_opt(
        "pipeline",
        manual_seed=0,
        datasets=dict(
            # one 16x16 LR image, context = the whole image, centred ROI, no augmentation:
            # every batch is the same
            train=tiny_train_set(
                hr, lr, roi_placement="center", batch_size_per_gpu=2, dataset_enlarge_ratio=2
            ),
            val=dict(disk_pair(hr, lr), name="synth_val", roi_size=8),
        ),
        network_g=tiny_clsr_net(backbone),
        path=dict(
            pretrain_network_backbone_g=backbone_ckpt,
            pretrain_network_g=None,
            strict_load_g=True,
            resume_state=None,
        ),
        train=dict(
            ema_decay=0.5,
            optim_g=dict(type="AdamW", lr=2e-3, weight_decay=0, betas=[0.9, 0.99]),
            scheduler=dict(type="MultiStepLR", milestones=[6], gamma=0.5),
            total_iter=total_iter,
            warmup_iter=-1,
            pixel_opt=dict(type="L1Loss", loss_weight=1.0, reduction="mean"),
            context_opt=pim_context_opt(end_iter=12),
        ),
        val=dict(val_freq=8, save_img=False, baselines=True),
        logger=dict(
            print_freq=1, save_checkpoint_freq=4, use_tb_logger=True, wandb=dict(project=None)
        ),
    )


def _run(monkeypatch, root, opt, auto_resume):
    path = osp.join(root, f"opt_{opt['train']['total_iter']}.yml")
    with open(path, "w") as f:
        yaml.safe_dump(opt, f)
    argv = ["train.py", "-opt", path] + (["--auto_resume"] if auto_resume else [])
    monkeypatch.setattr(sys, "argv", argv)
    train_pipeline(root)


def test_train_pipeline_reduces_loss_and_auto_resumes(tmp_path, monkeypatch, tiny_backbone):
    root = str(tmp_path)
    hr, lr = write_synthetic_pairs(osp.join(root, "data"), num_images=1, hr_size=(64, 64), seed=2)
    records = []
    original = LocalSRModel.optimize_parameters

    def spy(self, current_iter):
        state = self.optimizer_g.state_dict()["state"]
        record = dict(
            iter=current_iter,
            lr=self.get_current_learning_rate()[0],
            adam_step=float(state[0]["step"]) if state else 0.0,
            ema=[p.detach().clone() for p in self.net_g_ema.parameters()],
        )
        original(self, current_iter)
        record.update(self.get_current_log())
        records.append(record)

    monkeypatch.setattr(LocalSRModel, "optimize_parameters", spy)

    # start from a plain BasicSR backbone checkpoint, through BasicSR's own option handling
    backbone = build_network(dict(tiny_backbone))
    ckpt = osp.join(root, "backbone.pth")
    torch.save({"params": backbone.state_dict()}, ckpt)
    opt = _options(hr, lr, tiny_backbone, total_iter=8, backbone_ckpt=ckpt)
    _run(monkeypatch, root, opt, auto_resume=True)
    assert osp.isfile(ckpt)  # BasicSR's make_exp_dirs left the checkpoint path alone
    assert [r["iter"] for r in records] == list(range(1, 9))
    assert records[-1]["l_pix"] < records[0]["l_pix"]
    assert records[-1]["l_context"] < records[0]["l_context"]
    states = sorted(
        osp.basename(p) for p in glob.glob(osp.join(root, "experiments/pipeline/training_states/*"))
    )
    assert states == ["4.state", "8.state"]

    first_run = len(records)
    _run(monkeypatch, root, _options(hr, lr, tiny_backbone, total_iter=12), auto_resume=True)
    resumed = records[first_run:]
    assert [r["iter"] for r in resumed] == [9, 10, 11, 12]
    schedule = LambdaSchedule(0.5, 0.0, 0, 12, "linear")
    for r in resumed:
        assert r["lambda_context"] == pytest.approx(schedule(r["iter"]))
    assert resumed[0]["lr"] == pytest.approx(1e-3)  # MultiStepLR halved at 6, state restored
    assert resumed[0]["adam_step"] == 8.0  # optimizer moments restored
    saved = torch.load(osp.join(root, "experiments/pipeline/models/net_g_8.pth"), weights_only=True)
    for p, q in zip(resumed[0]["ema"], saved["params_ema"].values()):
        assert torch.equal(p, q)  # EMA restored, not re-copied from net_g

    # losses, lambda and the ROI-wise validation reach tensorboard
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(osp.join(root, "tb_logger", "pipeline"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in (
        "losses/l_pix",
        "losses/l_context",
        "lambda_context",
        "metrics/synth_val/clsr/psnr_roi",
    ):
        assert tag in tags, sorted(tags)
    assert {"metrics/synth_val/post/gflops", "metrics/synth_val/pre_nopad/psnr_img"} <= tags
    lambdas = {e.step: e.value for e in acc.Scalars("lambda_context")}
    assert lambdas[10] == pytest.approx(schedule(10))
