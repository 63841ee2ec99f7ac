"""LocalSR options shared by the data, model and hostile tests: datasets and tiny models."""

from __future__ import annotations


def localsr_dataset_opt(hr: str, lr: str | None, phase: str = "train", **overrides) -> dict:
    """Options of a tiny x4 ``LocalSRPairedDataset`` on disk (ROI 8, LR context 16)."""
    opt = dict(
        name="synth",
        type="LocalSRPairedDataset",
        dataroot_gt=hr,
        dataroot_lq=lr,
        io_backend=dict(type="disk"),
        scale=4,
        phase=phase,
        roi_size=8,
        lq_size=16,
        use_hflip=True,
        use_rot=True,
    )
    opt.update(overrides)
    return opt


def disk_pair(hr: str, lr: str) -> dict:
    """The keys of a ``LocalSRPairedDataset`` that name its HR/LR folders on disk."""
    return {
        "type": "LocalSRPairedDataset",
        "dataroot_gt": hr,
        "dataroot_lq": lr,
        "io_backend": {"type": "disk"},
    }


def tiny_train_set(hr: str, lr: str, **overrides) -> dict:
    """``datasets.train`` of a tiny training job as its options file spells it (BasicSR adds
    phase and scale): LR context 16, ROI 8, no augmentation, no loader workers, batch 1."""
    opt = dict(
        disk_pair(hr, lr),
        name="synth",
        lq_size=16,
        roi_size=8,
        use_hflip=False,
        use_rot=False,
        num_worker_per_gpu=0,
        batch_size_per_gpu=1,
        dataset_enlarge_ratio=1,
        prefetch_mode=None,
    )
    opt.update(overrides)
    return opt


def tiny_clsr_net(backbone: dict) -> dict:
    """``network_g`` of the tiny LocalSR jobs: a CLSR (ROI pad 4, 16 GCM patches) around
    ``backbone``."""
    return {"type": "CLSR", "backbone": backbone, "roi_pad": 4, "gcm": {"num_patches": 16}}


def localsr_model_opt(name: str, **opts) -> dict:
    """Options of an x4 ``LocalSRModel`` on the CPU: name, model type, scale 4, no GPU, then
    ``opts`` in the order given."""
    return {"name": name, "model_type": "LocalSRModel", "scale": 4, "num_gpu": 0, **opts}


def pim_context_opt(end_iter: int) -> dict:
    """``train.context_opt``: PIMContextLoss with lambda going linearly from 0.5 at iteration 0
    to 0 at ``end_iter``."""
    return {
        "type": "PIMContextLoss",
        "start": 0.5,
        "end": 0.0,
        "start_iter": 0,
        "end_iter": end_iter,
        "mode": "linear",
    }
