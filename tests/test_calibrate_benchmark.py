"""benchmarks/calibrate.py --models: refits the models named and keeps the others."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import load_benchmark

from imagery import calibration

calibrate = load_benchmark("calibrate")

STORED = {
    "s1/vessel": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "s1/cargo": [2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "s2/vessel": [3.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "s2/cargo": [4.0, 0.0, 0.0, 0.0, 0.0, 0.0],
}


def _flags(n: int, seed: int) -> pd.DataFrame:
    """Flags of both kinds whose rightness follows their change's strength."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(2, 30, n)
    return pd.DataFrame(
        {
            "kind": np.where(np.arange(n) % 2, "vessel", "cargo"),
            "z_mean": z,
            "area_m2": rng.uniform(500, 8000, n),
            "length_m": rng.uniform(30, 200, n),
            "width_m": rng.uniform(10, 40, n),
            "evidence": np.full(n, 0.999),
            "right": (z + rng.normal(0, 4, n) > 12).astype(float),
        }
    )


@pytest.fixture
def stored(tmp_path, monkeypatch):
    path = tmp_path / "calibration.json"
    doc = {"features": list(calibration.FEATURES), "fitted_on": "seeds 1-2", "models": STORED}
    path.write_text(json.dumps(doc))
    monkeypatch.setattr(calibration, "MODELS_PATH", path)
    monkeypatch.setattr(calibrate, "collect", lambda seeds, sensor, size: _flags(200, len(seeds)))
    calibration.load_models.cache_clear()
    yield path
    calibration.load_models.cache_clear()


def test_refitting_one_model_keeps_the_others(stored, tmp_path):
    report = tmp_path / "report.json"
    code = calibrate.main(["--models", "s2/cargo", "--write", "--report", str(report)])
    assert code == 0
    doc = json.loads(stored.read_text())
    for key in ("s1/vessel", "s1/cargo", "s2/vessel"):
        assert doc["models"][key] == STORED[key]
    assert doc["models"]["s2/cargo"] != STORED["s2/cargo"]
    assert doc["models"]["s2/cargo"][1] > 0  # stronger change, more often right
    assert doc["fitted_on"].startswith("seeds 1-2; s2/cargo refitted")
    assert list(json.loads(report.read_text())) == ["s2/cargo"]


def test_a_partial_refit_needs_the_models_it_keeps(stored, tmp_path):
    doc = json.loads(stored.read_text())
    del doc["models"]["s1/vessel"]
    stored.write_text(json.dumps(doc))
    with pytest.raises(SystemExit):
        calibrate.main(["--models", "s2/cargo", "--write", "--report", str(tmp_path / "r.json")])
    assert json.loads(stored.read_text()) == doc


def test_unknown_or_empty_model_names_are_refused(stored, tmp_path):
    for names in ("s3/cargo", " , "):
        with pytest.raises(SystemExit):
            calibrate.main(["--models", names, "--report", str(tmp_path / "r.json")])
