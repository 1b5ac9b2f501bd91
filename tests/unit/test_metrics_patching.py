"""Activation-patching arithmetic by hand."""
import math

import numpy as np
import pytest

from pytest_qfacts.metrics.patching import necessity, recovery


def test_recovery_by_hand():
    assert recovery(7.0, 4.0, 10.0) == pytest.approx(0.5)   # (7-4)/(10-4)
    assert recovery(10.0, 4.0, 10.0) == 1.0
    assert recovery(4.0, 4.0, 10.0) == 0.0
    assert recovery(2.0, 4.0, 10.0) == pytest.approx(-1 / 3)  # not clipped
    assert recovery(13.0, 4.0, 10.0) == pytest.approx(1.5)    # overshoot, not clipped
    assert recovery(-1.0, 1.0, -3.0) == pytest.approx(0.5)    # quantized above reference
    assert isinstance(recovery(7.0, 4.0, 10.0), float)


def test_recovery_zero_gap():
    assert recovery(5.0, 5.0, 5.0) == 1.0
    assert recovery(5.5, 5.0, 5.0) == 0.0


def test_recovery_vectorised():
    got = recovery(np.array([7.0, 5.0, 6.0]), np.array([4.0, 5.0, 5.0]), np.array([10.0, 5.0, 5.0]))
    assert got.tolist() == [0.5, 1.0, 0.0]


def test_necessity_by_hand():
    assert necessity(2.0, 8.0) == pytest.approx(0.75)
    assert necessity(8.0, 8.0) == 0.0
    assert necessity(-4.0, 8.0) == pytest.approx(1.5)
    assert necessity(10.0, 8.0) == pytest.approx(-0.25)
    assert necessity(-6.0, -4.0) == pytest.approx(0.5)   # |clean| in the denominator
    assert necessity(0.0, 0.0) == 0.0
    assert math.isnan(necessity(1.0, 0.0))
    got = necessity(np.array([2.0, 0.0]), np.array([8.0, 0.0]))
    assert got.tolist() == [0.75, 0.0]
