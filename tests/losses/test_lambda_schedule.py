import math

import pytest

from clsr_plugin.losses.lambda_schedule import LambdaSchedule


def test_values_at_chosen_iterations():
    lin = LambdaSchedule(0.5, 0.0, 100, 300, "linear")
    assert [lin(i) for i in (0, 100, 150, 200, 300, 10_000)] == pytest.approx(
        [0.5, 0.5, 0.375, 0.25, 0.0, 0.0]
    )
    cos = LambdaSchedule(0.5, 0.0, 0, 200_000, "cosine")
    assert cos(0) == 0.5 and cos(200_000) == 0.0 and cos(300_000) == 0.0
    assert cos(100_000) == pytest.approx(0.25)
    assert cos(50_000) == pytest.approx(0.25 * (1 + math.cos(math.pi / 4)))
    step = LambdaSchedule(0.5, 0.1, 0, 100, "step", num_steps=4)
    assert [step(i) for i in (0, 24, 25, 50, 99, 100)] == pytest.approx(
        [0.5, 0.5, 0.4, 0.3, 0.2, 0.1]
    )
    one_step = LambdaSchedule(0.5, 0.0, 0, 100, "step")
    assert (one_step(99), one_step(100)) == (0.5, 0.0)
    const = LambdaSchedule(0.3, 0.0, mode="constant")
    assert const(0) == const(10**9) == 0.3
    rising = LambdaSchedule(0.0, 1.0, 0, 10, "linear")
    assert rising(5) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(mode="exp"), "mode"),
        (dict(mode="linear", start_iter=10, end_iter=10), "end_iter"),
        (dict(start=-0.1), "start"),
        (dict(end=float("nan")), "end"),
        (dict(mode="step", end_iter=5, num_steps=0), "num_steps"),
        (dict(start_iter=-1), "start_iter"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LambdaSchedule(**kwargs)
