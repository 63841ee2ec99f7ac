"""The method registry: lookups, the one amortisation, batching, and a new method as one entry."""

import json

import cv2
import numpy as np
import pytest
import torch
from _clsr_tiny import tiny_clsr, write_checkpoint
from torch.nn import functional as F

from clsr_plugin.evaluation.engine import restore_rois
from clsr_plugin.evaluation.methods import METHODS, Method, by_size, get_method, register_method
from clsr_plugin.evaluation.roi_cost import RoiCostCounter, cost_methods


def test_lookup_and_registration_errors():
    assert list(METHODS) == ["pre_nopad", "pre_pad", "post", "clsr"]
    with pytest.raises(ValueError, match="Unknown method 'nope'"):
        get_method("nope")
    with pytest.raises(ValueError, match="registered already"):
        register_method(METHODS["post"])
    with pytest.raises(ValueError, match="Unknown method"):
        restore_rois(tiny_clsr(), torch.rand(1, 3, 20, 20), torch.tensor([[0, 0, 8, 8]]), ("x",))


def test_macs_per_roi_amortises_only_the_image_work():
    f = {"pre_nopad": 1.0, "pre_pad": 2.0, "post": 100.0, "clsr_decode": 3.0, "clsr_context": 40.0}
    assert [get_method(m).macs_per_roi(f) for m in METHODS] == [1.0, 2.0, 100.0, 43.0]
    assert [get_method(m).macs_per_roi(f, 4) for m in METHODS] == [1.0, 2.0, 25.0, 13.0]
    with pytest.raises(ValueError, match="n_rois"):
        get_method("clsr").macs_per_roi(f, 0)


def test_by_size_batches_rois_of_one_size():
    rois = torch.tensor([[0, 0, 8, 8], [1, 1, 4, 8], [2, 2, 8, 8], [3, 3, 8, 8], [4, 4, 4, 8]])
    assert by_size(rois, 2) == [[1, 4], [0, 2], [3]]
    with pytest.raises(ValueError, match="roi_batch"):
        by_size(rois, 0)


@pytest.fixture
def bicubic():
    """A new method registered for one test (and removed after)."""

    def restore(net, lq, rois, roi_batch, share_windows):
        s = int(net.scale)
        up = F.interpolate(lq, scale_factor=s, mode="bicubic", align_corners=False)
        return [up[0, :, s * y : s * (y + h), s * x : s * (x + w)] for x, y, w, h in rois.tolist()]

    method = register_method(Method("bicubic", "Bicubic", "bic", restore))
    yield method
    del METHODS["bicubic"]


def test_a_new_method_is_one_registry_entry(bicubic, tmp_path):
    net = tiny_clsr()
    lq = torch.rand(1, 3, 24, 28)
    rois = torch.tensor([[0, 0, 8, 8], [12, 10, 8, 8]])
    with torch.no_grad():
        out = restore_rois(net, lq, rois, ("bicubic", "clsr"))
    assert [o.shape for o in out["bicubic"]] == [(3, 32, 32)] * 2
    assert "bicubic" in cost_methods()
    costs = RoiCostCounter().image_costs(net, lq, rois)
    assert costs["bicubic"] == [0.0, 0.0]  # no MACs declared
    # clsr-bench reports it like the others, with its label
    from clsr_plugin.bench import main

    data = tmp_path / "data"
    data.mkdir()
    img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(data / "a.png"), img)
    weights, opt = write_checkpoint(net, str(tmp_path))
    argv = ["--opt", opt, "--weights", weights, "--data", str(data), "--roi", "8", "--out",
            str(tmp_path / "o"), "--device", "cpu", "--repeats", "1", "--warmup", "0",
            "--timing-images", "0", "--multi-roi", "1", "--context-windows", "0"]  # fmt: skip
    assert main(argv) == 0
    rep = json.loads((tmp_path / "o" / "bench.json").read_text())
    assert rep["results"][0]["methods"]["bicubic"]["psnr_roi_mean"] > 10
    assert "| Bicubic |" in (tmp_path / "o" / "bench.md").read_text()
