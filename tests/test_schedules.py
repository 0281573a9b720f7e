import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrpo import Schedule


def test_exponential_is_the_reference_rule():
    tau = Schedule(kind="exponential", start=1.0, end=0.3, decay=0.999)
    assert tau.value(0) == 1.0
    assert tau.value(100) == pytest.approx(0.999**100)
    assert tau.value(10_000) == 0.3  # floor


def test_linear_and_cosine_reach_end_after_steps_and_stay():
    linear = Schedule(kind="linear", start=0.2, end=0.0, steps=10)
    cosine = Schedule(kind="cosine", start=0.2, end=0.0, steps=10)
    assert linear.value(5) == pytest.approx(0.1)
    assert cosine.value(5) == pytest.approx(0.1)
    assert cosine.value(2) == pytest.approx(0.2 - 0.2 * 0.5 * (1 - math.cos(math.pi * 0.2)))
    assert linear.value(10) == linear.value(50) == 0.0


def test_constant():
    assert Schedule(kind="constant", start=0.5).value(12345) == 0.5


@given(
    kind=st.sampled_from(["exponential", "linear", "cosine"]),
    start=st.floats(0.01, 10),
    end_share=st.floats(0, 1),
    step=st.integers(0, 100_000),
)
def test_values_stay_between_start_and_end(kind, start, end_share, step):
    schedule = Schedule(kind=kind, start=start, end=start * end_share, decay=0.99, steps=500)
    assert schedule.minimum - 1e-12 <= schedule.value(step) <= schedule.maximum + 1e-12
