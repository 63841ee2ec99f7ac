"""PIM context loss: L1 between the PIM HR context output and the HR context, x lambda(iter)."""

from __future__ import annotations

import torch
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn
from torch.nn import functional as F

from clsr_plugin.losses.lambda_schedule import LambdaSchedule

_REDUCTIONS = ("mean", "sum")


@LOSS_REGISTRY.register()
class PIMContextLoss(nn.Module):
    """Second term of the paper's Eq. 7: ``lambda(iter) * || Y_P - Y ||_1``.

    It supervises the slim proximity-integration branch over the whole context, which the ROI
    loss alone reaches only inside the cropped ROI window. The weight follows a
    :class:`~clsr_plugin.losses.lambda_schedule.LambdaSchedule` (paper: 0.5 decayed to 0);
    the YAML keys below are the schedule's.

    Args:
        start, end, start_iter, end_iter, mode, num_steps: the lambda schedule.
        reduction: ``mean`` | ``sum`` of the absolute errors.
    """

    # the schedule's keyword arguments again, not ``**kwargs``: they are the YAML keys of
    # ``train.context_opt`` (BasicSR builds ``type(**opt)``), checked by name
    def __init__(
        self,
        start: float = 0.5,
        end: float = 0.0,
        start_iter: int = 0,
        end_iter: int = 0,
        mode: str = "constant",
        num_steps: int = 1,
        reduction: str = "mean",
    ):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}.")
        self.schedule = LambdaSchedule(start, end, start_iter, end_iter, mode, num_steps)
        self.reduction = reduction

    def weight(self, current_iter: int) -> float:
        """lambda at ``current_iter``."""
        return self.schedule(current_iter)

    def forward(self, context_sr: torch.Tensor, context_gt: torch.Tensor, current_iter: int):
        """Weighted context loss.

        Args:
            context_sr: (B, 3, sH, sW) HR context restored by the PIM branch.
            context_gt: (B, 3, sH, sW) HR context.
            current_iter: training iteration (BasicSR's, 1-based).

        Returns:
            Scalar tensor ``lambda(current_iter) * L1``.
        """
        if context_sr.shape != context_gt.shape:
            raise ValueError(
                f"PIM context output {tuple(context_sr.shape)} and HR context "
                f"{tuple(context_gt.shape)} differ in shape."
            )
        return self.weight(current_iter) * F.l1_loss(
            context_sr, context_gt, reduction=self.reduction
        )
