import pytest
import torch
import torch.nn.functional as F
from clsr_testing import BACKBONES, make_clsr

from clsr_plugin.archs.gcm import BilinearDownsample, BilinearUpsample


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (8, 8), (13, 6)])
@pytest.mark.parametrize("factor", [1, 2, 3])
def test_scale_modules_equal_bilinear_at_init(size, factor):
    x = torch.randn(2, 4, *size)
    down = BilinearDownsample(4, factor)(x)
    out_size = (-(-size[0] // factor), -(-size[1] // factor))
    assert down.shape[-2:] == out_size
    ref = F.interpolate(x, size=out_size, mode="bilinear", align_corners=False)
    assert torch.equal(down, ref)
    up = BilinearUpsample(4, factor)(down, size)
    assert torch.equal(up, F.interpolate(down, size=size, mode="bilinear", align_corners=False))


def test_scale_modules_learn():
    down, up = BilinearDownsample(3, 2), BilinearUpsample(3, 2)
    x = torch.randn(1, 3, 6, 6)
    up(down(x), (6, 6)).square().sum().backward()
    assert down.conv.weight.grad.abs().sum() > 0  # the zero-init conv gets a gradient


def _gcm(**kwargs):
    return make_clsr(BACKBONES["MSRResNet"], pim=False, gcm=dict(kwargs)).gcm


def test_patch_grid_covers_the_context_without_invented_pixels():
    gcm = _gcm(patch_size=4, num_patches=1000, num_heads=2)
    oy, ox = gcm.patch_origins(10, 13)
    assert sorted(set(oy.tolist())) == [0, 4, 6]  # last row shifted inside (10 - 4)
    assert sorted(set(ox.tolist())) == [0, 4, 8, 9]
    assert len(oy) == 12
    oy, ox = gcm.patch_origins(3, 2)  # smaller than one patch: a single patch
    assert oy.tolist() == [0] and ox.tolist() == [0]


def test_patch_subsampling_is_uniform_and_deterministic():
    gcm = _gcm(patch_size=2, num_patches=12, num_heads=2)
    oy, ox = gcm.patch_origins(40, 60)  # 20 x 30 grid
    assert len(oy) <= 12
    ys, xs = sorted(set(oy.tolist())), sorted(set(ox.tolist()))
    assert len(oy) == len(ys) * len(xs)  # a sub-grid
    assert ys[0] == 0 and ys[-1] == 38 and xs[0] == 0 and xs[-1] == 58  # spans the context
    oy2, ox2 = gcm.patch_origins(40, 60)
    assert torch.equal(oy, oy2) and torch.equal(ox, ox2)


def test_encode_batch_equals_per_image():
    gcm = _gcm(patch_size=4, num_patches=5, num_heads=2)
    lq = torch.rand(3, 3, 11, 9)
    with torch.no_grad():
        batch = gcm.encode(lq)
        for b in range(3):
            one = gcm.encode(lq[b : b + 1])
            assert torch.allclose(batch.key[b], one.key[0], atol=1e-6)
            assert torch.allclose(batch.value[b], one.value[0], atol=1e-6)
    assert batch.key.shape[2] == batch.key_xy.shape[0]
    assert torch.allclose(batch.key.norm(dim=-1), torch.ones(()), atol=1e-5)


def _attend(gcm, lq, windows, z):
    cache = gcm.encode(lq)
    return gcm(z, cache, windows, torch.zeros(len(z), dtype=torch.long))


def test_null_slot_alpha_is_not_a_no_op():
    """alpha is the logit of a null key: large alpha -> the GCM returns the null value."""
    gcm = _gcm(patch_size=4, num_patches=8, num_heads=2)
    with torch.no_grad():
        gcm.fuse.weight.copy_(torch.eye(16).view(16, 16, 1, 1))
        gcm.null_value.copy_(torch.randn_like(gcm.null_value))
        lq, z = torch.rand(1, 3, 12, 12), torch.randn(1, 16, 6, 6)
        windows = torch.tensor([[2, 3, 6, 6]])
        base = _attend(gcm, lq, windows, z)
        gcm.alpha.fill_(1e4)
        out = _attend(gcm, lq, windows, z)
    assert not torch.allclose(base, out)
    expected = z + gcm.null_value.reshape(1, 16, 1, 1)  # bilinear up of a constant map
    assert torch.allclose(out, expected, atol=1e-5)


def test_distance_bias_prefers_near_keys():
    """With identical key features everywhere the distance bias alone decides: the output
    must follow the values of the keys nearest the query."""
    gcm = _gcm(patch_size=2, num_patches=100, num_heads=2, down_factor=1)
    with torch.no_grad():
        gcm.distance_weight.fill_(5.0)  # steep proximity bias
        gcm.alpha.fill_(-1e4)  # the null slot takes nothing
        gcm.fuse.weight.copy_(torch.eye(16).view(16, 16, 1, 1))
        lq = torch.zeros(1, 3, 2, 20)
        cache = gcm.encode(lq)
        cache.key = torch.ones_like(cache.key) / cache.key.shape[-1] ** 0.5  # equal similarity
        cache.value = cache.key_xy[:, 0].view(1, 1, -1, 1).expand_as(cache.value).clone()
        z = torch.zeros(2, 16, 1, 1)
        windows = torch.tensor([[1, 0, 1, 1], [18, 0, 1, 1]])
        out = gcm(z, cache, windows, torch.zeros(2, dtype=torch.long))
    left, right = out[0].mean().item(), out[1].mean().item()
    assert left < 5 and right > 14  # attended mostly to keys near x=1 and x=18
