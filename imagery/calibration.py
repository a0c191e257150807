"""Calibrated scores: the probability that a flag is a real new vessel or stack.

The statistical evidence behind a flag (the change test's p-value against speckle or
sensor noise, corrected for the number of pixels tested) says how unlikely the change is
under the noise model; almost every flag has evidence near 1, true or not, because what
fools the detector is not noise but moving cranes, blurred quay walls and clouds. The
analyst needs something else: of the flags given 0.8, about 80 % should be right.

So the score is a logistic model of a few measurable features of the flag (how strong
and how large its change is, its shape, its evidence), one model per sensor and kind,
fitted on simulated pairs whose truth is known (``benchmarks/calibrate.py``, seeds kept
apart from the evaluation seeds) and stored in ``calibration.json`` beside this module.
Its reliability on held-out pairs is reported in the benchmarks. Without a model for a
sensor and kind, the score is the evidence.

References
----------
Platt, J. (1999). Probabilistic outputs for support vector machines and comparisons to
regularized likelihood methods. Advances in Large Margin Classifiers, 61-74.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "calibrate", "features", "fit_logistic", "load_models"]

MODELS_PATH = Path(__file__).with_name("calibration.json")

#: Names of the features, in model order (after the intercept).
FEATURES = ("log_z", "log_area", "width_10m", "log_elongation", "log_evidence")


def features(frame: pd.DataFrame) -> np.ndarray:
    """Feature matrix (n, len(FEATURES)) of flags with ``z_mean``, ``area_m2``,
    ``length_m``, ``width_m`` and ``evidence`` columns."""
    z = np.clip(frame["z_mean"].to_numpy(dtype=float), 0.0, None)
    area = np.clip(frame["area_m2"].to_numpy(dtype=float), 1.0, None)
    length = np.clip(frame["length_m"].to_numpy(dtype=float), 1.0, None)
    width = np.clip(frame["width_m"].to_numpy(dtype=float), 1.0, None)
    evidence = np.clip(frame["evidence"].to_numpy(dtype=float), 0.0, 1.0)
    return np.column_stack(
        [
            np.log10(1.0 + z),
            np.log10(area),
            width / 10.0,
            np.log10(length / width),
            np.minimum(-np.log10(np.clip(1.0 - evidence, 1e-12, 1.0)), 12.0) / 12.0,
        ]
    )


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iterations: int = 50
) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (IRLS).

    Features are standardised inside; the returned coefficients (intercept first) apply
    to the raw features. The intercept is not penalised.
    """
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + penalty * w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    raw = w[1:] / scale
    return np.concatenate([[w[0] - np.sum(raw * mean)], raw])


@lru_cache(maxsize=1)
def load_models(path: str | None = None) -> dict[str, list[float]]:
    """The stored models, ``"<sensor>/<kind>" -> coefficients``; empty when none."""
    target = Path(path) if path else MODELS_PATH
    if not target.is_file():
        return {}
    doc = json.loads(target.read_text())
    if list(doc.get("features", [])) != list(FEATURES):
        return {}
    return {key: list(value) for key, value in doc.get("models", {}).items()}


def calibrate(frame: pd.DataFrame, sensor: str) -> np.ndarray:
    """Calibrated score of each flag of ``frame`` (columns as for :func:`features` and
    ``kind``); the evidence where no model exists."""
    scores = frame["evidence"].to_numpy(dtype=float).copy()
    if frame.empty:
        return scores
    models = load_models()
    x = features(frame)
    for kind in np.unique(frame["kind"]):
        coefficients = models.get(f"{sensor}/{kind}")
        if coefficients is None:
            continue
        rows = (frame["kind"] == kind).to_numpy()
        logit = coefficients[0] + x[rows] @ np.asarray(coefficients[1:])
        scores[rows] = 1.0 / (1.0 + np.exp(-logit))
    return np.clip(scores, 0.0, 1.0)
