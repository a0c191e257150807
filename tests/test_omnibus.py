from __future__ import annotations

import numpy as np
import pytest

from imagery.errors import InputError
from imagery.omnibus import sequential_omnibus


def _series(k=6, shape=(120, 120), looks=4.4, seed=0):
    rng = np.random.default_rng(seed)
    mean = np.exp(rng.normal(np.log(0.05), 0.7, size=(1, 2, *shape)))
    return mean * rng.gamma(looks, 1 / looks, size=(k, 2, *shape))


def test_no_change_false_alarm_rate():
    result = sequential_omnibus(_series(), looks=4.4, alpha=1e-3)
    rate = result.changed.mean()
    assert rate < 3e-3
    assert (result.first_change == -1).mean() > 0.99


def test_change_time_recovered():
    stack = _series()
    stack[3:, :, 40:60, 40:60] *= 10.0  # a stack appears between date 2 and 3
    stack[2:4, :, 80:100, 80:100] *= 30.0  # a ship present on dates 2 and 3 only
    result = sequential_omnibus(stack, looks=4.4, alpha=1e-4)
    patch = result.first_change[40:60, 40:60]
    assert np.mean(patch == 3) > 0.9
    assert np.mean(result.direction[2, 40:60, 40:60] == 1) > 0.9
    # The ship arrives at 2 and leaves at 4: two change points, up then down.
    assert np.mean(result.changed[1, 80:100, 80:100]) > 0.9
    assert np.mean(result.direction[3, 80:100, 80:100] == -1) > 0.9
    # After the stack appeared the series restarts: no further change flagged.
    assert result.changed[3:, 40:60, 40:60].mean() < 0.02


def test_needs_a_series():
    with pytest.raises(InputError, match="2\\+ dates"):
        sequential_omnibus(np.ones((1, 1, 5, 5)), looks=4.4)
