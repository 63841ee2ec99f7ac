import pytest
import torch
from basicsr.losses import build_loss


def test_weighted_l1_follows_the_schedule():
    loss = build_loss(
        dict(type="PIMContextLoss", start=0.5, end=0.0, start_iter=0, end_iter=100, mode="linear")
    )
    pred, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    l1 = (pred - target).abs().mean()
    assert loss(pred, target, 0) == pytest.approx(0.5 * float(l1))
    assert loss(pred, target, 50) == pytest.approx(0.25 * float(l1))
    assert float(loss(pred, target, 100)) == 0.0
    assert loss.weight(25) == pytest.approx(0.375)
    pred.requires_grad_(True)
    loss(pred, target, 10).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_errors():
    with pytest.raises(ValueError, match="reduction"):
        build_loss(dict(type="PIMContextLoss", reduction="none"))
    loss = build_loss(dict(type="PIMContextLoss"))
    with pytest.raises(ValueError, match="differ in shape"):
        loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9), 0)
