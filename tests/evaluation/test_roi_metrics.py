import math

import numpy as np
import pytest
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

from clsr_plugin.evaluation.roi_metrics import RoiMetricAccumulator, psnr_from_mse


def _img(seed, shape=(32, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def test_two_protocols_against_direct_formulas():
    gts = [[_img(1), _img(2)], [_img(3)]]
    srs = [
        [np.clip(g.astype(int) + d, 0, 255).astype(np.uint8) for g, d in zip(img, (3, 9))]
        for img in gts
    ]
    acc = RoiMetricAccumulator()
    for s, g in zip(srs, gts):
        acc.add_image(s, g)
    res = acc.results()
    flat_s, flat_g = [a for s in srs for a in s], [a for g in gts for a in g]
    assert res["n_rois"] == 3 and res["n_inf_psnr"] == 0
    assert res["psnr_roi"] == pytest.approx(
        np.mean([calculate_psnr(a, b, 0) for a, b in zip(flat_s, flat_g)])
    )
    assert res["ssim_roi"] == pytest.approx(
        np.mean([calculate_ssim(a, b, 0) for a, b in zip(flat_s, flat_g)])
    )
    per_image = []
    for s, g in zip(srs, gts):
        mse = np.mean(
            np.concatenate([(a.astype(float) - b.astype(float)).ravel() ** 2 for a, b in zip(s, g)])
        )
        per_image.append(10 * math.log10(255**2 / mse))
    assert res["psnr_img"] == pytest.approx(np.mean(per_image))
    assert res["psnr_img"] != pytest.approx(res["psnr_roi"])


def test_exact_roi_is_capped_and_counted():
    acc = RoiMetricAccumulator(psnr_cap=100.0)
    flat = np.full((16, 16, 3), 128, np.uint8)
    noisy = _img(4, (16, 16, 3))
    acc.add_image(
        [flat, noisy], [flat.copy(), np.clip(noisy.astype(int) + 5, 0, 255).astype(np.uint8)]
    )
    res = acc.results()
    assert res["n_inf_psnr"] == 1
    other = calculate_psnr(noisy, np.clip(noisy.astype(int) + 5, 0, 255).astype(np.uint8), 0)
    assert res["psnr_roi"] == pytest.approx((100.0 + other) / 2)
    assert math.isfinite(res["psnr_img"]) and res["psnr_img"] < 100
    assert psnr_from_mse(0.0) == 100.0 and psnr_from_mse(0.0, 60.0) == 60.0


def test_errors():
    with pytest.raises(ValueError, match="psnr_cap"):
        RoiMetricAccumulator(psnr_cap=0)
    with pytest.raises(ValueError, match="No ROI"):
        RoiMetricAccumulator().results()
    with pytest.raises(ValueError, match="matching"):
        RoiMetricAccumulator().add_image([_img(1)], [])


def test_val_metrics_per_roi_through_basicsr_registry():
    metrics = {"psnr_y": {"type": "calculate_psnr", "crop_border": 3, "test_y_channel": True}}
    acc = RoiMetricAccumulator(psnr_cap=80, metrics=metrics)
    gts = [_img(1), _img(2)]
    srs = [np.clip(gts[0].astype(int) + 5, 0, 255).astype(np.uint8), gts[1].copy()]  # 2nd exact
    acc.add_image(srs, gts)
    direct = calculate_psnr(srs[0], gts[0], 3, test_y_channel=True)
    assert acc.results()["psnr_y"] == pytest.approx((direct + 80) / 2)  # inf counts as the cap
    with pytest.raises(ValueError, match=r"^val\.metrics\.psnr_y \(calculate_psnr\): "):
        RoiMetricAccumulator(metrics={"psnr_y": {"type": "calculate_psnr"}}).add_image(srs, gts)
    with pytest.raises(ValueError, match=r"val\.metrics\.s\.crop_border: 16 leaves nothing"):
        RoiMetricAccumulator(
            metrics={"s": {"type": "calculate_ssim", "crop_border": 16}}
        ).add_image(srs, gts)
    with pytest.raises(ValueError, match=r"val\.metrics must map"):
        RoiMetricAccumulator(metrics=["psnr"])
