"""Tiny LocalSR setups for the model tests: synthetic images and a CLSR with a 2-block MSRResNet."""

import copy

import pytest
import torch
from _localsr_data import localsr_dataset_opt, localsr_model_opt, pim_context_opt, tiny_clsr_net
from _synthetic import write_synthetic_pairs

TINY_BACKBONE = dict(
    type="MSRResNet", num_in_ch=3, num_out_ch=3, num_feat=8, num_block=2, upscale=4
)


@pytest.fixture(scope="session")
def synth_pairs(tmp_path_factory):
    """(HR folder, LR folder) of 3 synthetic images, HR 96x120 -> LR 24x30."""
    root = str(tmp_path_factory.mktemp("synth"))
    return write_synthetic_pairs(root, num_images=3, hr_size=(96, 120), seed=5)


@pytest.fixture
def make_opt(tmp_path):
    """Options of a tiny LocalSRModel as ``build_model`` receives them (already parsed)."""

    def make(is_train=True, **overrides):
        opt = localsr_model_opt(
            "unit",
            is_train=is_train,
            dist=False,
            rank=0,
            world_size=1,
            network_g=tiny_clsr_net(copy.deepcopy(TINY_BACKBONE)),
            path=dict(
                experiments_root=str(tmp_path),
                models=str(tmp_path / "models"),
                training_states=str(tmp_path / "states"),
                visualization=str(tmp_path / "vis"),
            ),
            train=dict(
                ema_decay=0,
                optim_g=dict(type="Adam", lr=2e-3),
                scheduler=dict(type="MultiStepLR", milestones=[1000], gamma=0.5),
                total_iter=100,
                pixel_opt=dict(type="L1Loss", loss_weight=1.0),
                context_opt=pim_context_opt(end_iter=100),
            ),
            val=dict(baselines=True, save_img=False),
        )
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(opt.get(key), dict):
                opt[key].update(value)
            else:
                opt[key] = value
        return opt

    return make


@pytest.fixture
def fixed_batch(synth_pairs):
    """A train batch of 3 contexts with one ROI size, the ROI positions differing per sample."""
    from basicsr.data import build_dataset

    ds = build_dataset(localsr_dataset_opt(*synth_pairs, "train", roi_placement="random"))
    items = [ds[i] for i in range(3)]
    return {k: torch.stack([it[k] for it in items]) for k in ("lq", "gt", "roi")}


@pytest.fixture(scope="session")
def tiny_backbone():
    """Options of the tiny MSRResNet backbone."""
    return copy.deepcopy(TINY_BACKBONE)


@pytest.fixture(scope="session")
def dataset_opt():
    """``dataset_opt(hr, lr, phase, **overrides)``: LocalSRPairedDataset options."""
    return localsr_dataset_opt


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin-waits on a busy 2-core machine
    (measured 25 ms -> 0.3 ms per tiny conv here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
