"""LocalSRPairedDataset options shared by the data and model tests."""

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
