import pytest
import torch
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY

from clsr_plugin.archs.carn_arch import CARN, CARN_M


def _conv_params(cin, cout, k, groups=1):
    return cin // groups * cout * k * k + cout


def _expected_params(c, blocks, units, scale, groups, shared):
    """Parameter count of CARN / CARN-M derived from the paper's layer list."""
    if groups == 1:
        unit = 2 * _conv_params(c, c, 3)
    else:
        unit = 2 * _conv_params(c, c, 3, groups) + _conv_params(c, c, 1)
    cascade = sum(_conv_params(c * (i + 2), c, 1) for i in range(units))
    block = (1 if shared else units) * unit + cascade
    up = sum(_conv_params(c, 4 * c, 3, groups) for _ in range({2: 1, 4: 2}[scale]))
    return (
        _conv_params(3, c, 3)
        + blocks * block
        + sum(_conv_params(c * (i + 2), c, 1) for i in range(blocks))
        + up
        + _conv_params(c, 3, 3)
    )


@pytest.mark.parametrize("name", ["CARN", "CARN_M"])
def test_registered_and_buildable_from_yaml(name):
    assert ARCH_REGISTRY.get(name) is {"CARN": CARN, "CARN_M": CARN_M}[name]
    net = build_network({"type": name, "num_feat": 16, "upscale": 2})
    x = torch.rand(2, 3, 7, 5)
    out = net(x)
    assert out.shape == (2, 3, 14, 10)
    out.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_scales(scale):
    net = CARN_M(num_feat=8, num_block=1, num_unit=1, upscale=scale)
    assert net(torch.rand(1, 3, 3, 4)).shape == (1, 3, 3 * scale, 4 * scale)


def test_parameter_counts_at_paper_width():
    carn = CARN()
    carn_m = CARN_M()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(carn) == _expected_params(64, 3, 3, 4, 1, False)
    assert count(carn_m) == _expected_params(64, 3, 3, 4, 4, True)
    unshared = CARN_M(shared=False)
    assert count(unshared) == _expected_params(64, 3, 3, 4, 4, False)
    assert len(carn_m.blocks[0].units) == 1 and len(unshared.blocks[0].units) == 3


def test_mean_shift_and_constant_input():
    """A zero-weight network returns the input's mean-shift round trip: the RGB mean."""
    net = CARN(num_feat=8, num_block=1, num_unit=1, upscale=2)
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    out = net(torch.rand(1, 3, 4, 4))
    assert torch.allclose(out, net.mean.expand_as(out))


def test_bad_arguments():
    with pytest.raises(ValueError, match="groups=3"):
        CARN_M(num_feat=16, groups=3)
    with pytest.raises(ValueError, match="groups=1"):
        CARN_M(groups=1)
    with pytest.raises(ValueError, match="upscale=5"):
        CARN(upscale=5)
