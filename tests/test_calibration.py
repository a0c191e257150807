from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imagery import calibration


def test_logistic_fit_recovers_a_known_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    truth = np.array([-0.5, 2.0, -1.0])
    p = 1 / (1 + np.exp(-(truth[0] + x @ truth[1:])))
    y = (rng.random(4000) < p).astype(float)
    fitted = calibration.fit_logistic(x, y, l2=0.01)
    np.testing.assert_allclose(fitted, truth, atol=0.2)


def _flags(kind="vessel", n=5):
    return pd.DataFrame(
        {
            "kind": [kind] * n,
            "z_mean": np.linspace(1, 20, n),
            "area_m2": np.linspace(500, 5000, n),
            "length_m": np.linspace(40, 200, n),
            "width_m": np.full(n, 20.0),
            "evidence": np.full(n, 0.999),
        }
    )


def test_stored_models_give_probabilities_that_grow_with_the_change():
    models = calibration.load_models()
    assert {"s1/vessel", "s1/cargo", "s2/vessel", "s2/cargo"} <= set(models)
    scores = calibration.calibrate(_flags("cargo"), "s1")
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores[-1] > scores[0]


def test_without_a_model_the_score_is_the_evidence():
    frame = _flags("unknown-kind")
    np.testing.assert_allclose(calibration.calibrate(frame, "s1"), 0.999)


@pytest.mark.parametrize("sensor", ["s1", "s2"])
def test_features_are_finite_for_degenerate_flags(sensor):
    frame = _flags().assign(
        z_mean=[-3, 0, np.nan, 1, 2], width_m=[0, 1, 2, 3, 4], evidence=[1, 0, 0.5, 1, 1]
    )
    frame["z_mean"] = frame["z_mean"].fillna(0)
    assert np.isfinite(calibration.features(frame)).all()
    assert np.isfinite(calibration.calibrate(frame, sensor)).all()
