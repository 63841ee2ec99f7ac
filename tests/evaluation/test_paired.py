"""The one paired-difference helper: hand-computed cases and one-line errors."""

import numpy as np
import pytest

from clsr_plugin.evaluation.paired import paired_difference, paired_table


def test_two_items_hand_computed():
    # d = [0, 1]: a resample's mean is 0 (p 1/4), 0.5 (p 1/2) or 1 (p 1/4), so the 2.5% and
    # 97.5% quantiles of the bootstrap means are 0 and 1.
    res = paired_difference([30.0, 31.0], [30.0, 30.0])
    assert res.mean == pytest.approx(0.5)
    assert (res.low, res.high) == (0.0, 1.0)
    assert (res.n, res.gain, res.lose, res.tie) == (2, 1, 0, 1)
    assert not res.excludes_zero()


def test_constant_difference_has_a_degenerate_interval():
    res = paired_difference([1.1, 2.1, 3.1], [1.0, 2.0, 3.0])
    assert res.low == pytest.approx(0.1) and res.high == pytest.approx(0.1)
    assert res.gain == 3 and res.excludes_zero()
    assert res.format().startswith("+0.100 dB [95% CI +0.100, +0.100]; 3 of 3 images gain")


def test_large_sample_matches_the_normal_interval():
    rng = np.random.default_rng(1)
    d = rng.normal(0.05, 0.1, size=400)
    res = paired_difference(d, np.zeros_like(d))
    half = 1.96 * d.std() / np.sqrt(d.size)
    assert res.low == pytest.approx(d.mean() - half, abs=0.002)
    assert res.high == pytest.approx(d.mean() + half, abs=0.002)


def test_same_inputs_same_interval_and_sign_flips():
    a, b = [1.0, 2.0, 4.0, 3.5], [1.5, 1.0, 3.0, 3.0]
    assert paired_difference(a, b) == paired_difference(a, b)
    fwd, back = paired_difference(a, b), paired_difference(b, a)
    assert back.mean == pytest.approx(-fwd.mean)
    assert (back.gain, back.lose) == (fwd.lose, fwd.gain)


def test_table_leaves_out_missing_methods():
    table = paired_table({"clsr": [1.0, 2.0], "post": [1.0, 1.0]})
    assert list(table) == ["clsr - post"]
    assert table["clsr - post"]["mean"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "a, b, kwargs, msg",
    [
        ([1.0], [1.0, 2.0], {}, "equal lengths"),
        ([], [], {}, "no items"),
        ([float("nan")], [1.0], {}, "finite"),
        ([1.0], [1.0], {"level": 1.5}, "level"),
        ([1.0], [1.0], {"n_boot": 0}, "n_boot"),
    ],
)
def test_bad_input_is_one_line(a, b, kwargs, msg):
    with pytest.raises(ValueError, match=msg) as err:
        paired_difference(a, b, **kwargs)
    assert "\n" not in str(err.value)
