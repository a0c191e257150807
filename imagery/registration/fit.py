"""Robust fit of a translation or an affine displacement model to tie points.

Tie points are window centres in reference pixel coordinates with the displacement
measured there. Windows over moving ships, new cargo, water or clouds give wrong
displacements, so both models are fitted robustly: a consensus step (the displacement
most windows agree with; for the affine model, RANSAC over window triplets) followed by
least squares on the inliers with a threshold that adapts to the scatter of the inliers
(3 sigma of their Rayleigh-distributed residual lengths), repeated until the inlier set
stops changing. The affine model is kept only when the data can carry it and need it:
enough, well-spread inliers and a residual reduction that is significant (F-test) and
large enough to matter (``min_effect_px`` somewhere in the covered area).

References
----------
Fischler, M. A. & Bolles, R. C. (1981). Random sample consensus. Communications of the
    ACM 24(6), 381-395. doi:10.1145/358669.358692
Scheffler, D. et al. (2017). AROSICS. Remote Sensing 9(7), 676. doi:10.3390/rs9070676
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

__all__ = ["Fit", "affine_supported", "fit_affine", "fit_translation", "select_model"]

#: Median of a Rayleigh distribution over its sigma: turns median residual lengths into
#: a per-axis standard deviation.
_RAYLEIGH_MEDIAN = float(np.sqrt(2.0 * np.log(2.0)))
#: Residual sigma floor (px): windows agreeing better than this are not told apart.
_SIGMA_FLOOR = 0.02
#: Inlier threshold floor (px).
_MIN_THRESHOLD = 0.2
#: Consensus radius (px) of the first, model-free step.
_CONSENSUS_PX = 1.0


@dataclasses.dataclass(frozen=True, eq=False)
class Fit:
    """A displacement model fitted to tie points.

    Attributes
    ----------
    model : {"translation", "affine"}
    params : ndarray, shape (2, 3)
        Displacement in pixels ``d(x, y) = params @ [x, y, 1]`` at reference pixel
        coordinates (x, y); rows dx, dy.
    inliers : ndarray of bool, shape (n,)
    residuals : ndarray, shape (n, 2)
        Measured minus modelled displacement, pixels.
    rmse_px : float
        Root mean square residual length over the inliers.
    centre_se_px : float
        Standard error of the modelled displacement at the centre of the fit.
    """

    model: str
    params: np.ndarray
    inliers: np.ndarray
    residuals: np.ndarray
    rmse_px: float
    centre_se_px: float

    @property
    def n_used(self) -> int:
        return int(self.inliers.sum())

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """Modelled displacement (n, 2) at reference pixel coordinates ``points`` (n, 2)."""
        points = np.atleast_2d(points)
        return points @ self.params[:, :2].T + self.params[:, 2]


def _design(u: np.ndarray, model: str) -> np.ndarray:
    if model == "translation":
        return np.ones((len(u), 1))
    return np.column_stack([u, np.ones(len(u))])


def _lstsq(u: np.ndarray, d: np.ndarray, model: str) -> np.ndarray:
    """Least-squares coefficients (k, 2) of the displacement in normalised coordinates."""
    coef, *_ = np.linalg.lstsq(_design(u, model), d, rcond=None)
    return coef


def _predict(u: np.ndarray, coef: np.ndarray, model: str) -> np.ndarray:
    return _design(u, model) @ coef


def _iterate(u: np.ndarray, d: np.ndarray, inliers: np.ndarray, model: str, k: int):
    """Alternate least squares on the inliers and re-thresholding until stable."""
    coef = _lstsq(u[inliers], d[inliers], model)
    for _ in range(20):
        length = np.linalg.norm(d - _predict(u, coef, model), axis=1)
        sigma = max(float(np.median(length[inliers])) / _RAYLEIGH_MEDIAN, _SIGMA_FLOOR)
        updated = length < max(3.0 * sigma, _MIN_THRESHOLD)
        if updated.sum() < k + 1 or np.array_equal(updated, inliers):
            break
        inliers = updated
        coef = _lstsq(u[inliers], d[inliers], model)
    return coef, inliers


def _finish(u, d, coef, inliers, model, centre, scale) -> Fit:
    design = _design(u[inliers], model)
    residuals = d - _predict(u, coef, model)
    n, k = design.shape
    rss = (residuals[inliers] ** 2).sum(axis=0)
    sigma2 = rss / max(n - k, 1)
    cov_unit = np.linalg.pinv(design.T @ design)
    se = float(np.sqrt(sigma2.sum() * cov_unit[-1, -1]))
    rmse = float(np.sqrt((residuals[inliers] ** 2).sum(axis=1).mean())) if n else float("nan")
    params = np.zeros((2, 3))
    if model == "translation":
        params[:, 2] = coef[0]
    else:
        linear = coef[:2].T / scale  # (2, 2): d/dx, d/dy in pixel units
        params[:, :2] = linear
        params[:, 2] = coef[2] - linear @ centre
    return Fit(model, params, inliers, residuals, rmse, se)


def _normalise(points: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, float]:
    spread = np.ptp(points, axis=0).max() if len(points) else 1.0
    scale = max(float(spread) / 2.0, 1.0)
    return (points - centre) / scale, scale


def fit_translation(points: np.ndarray, shifts: np.ndarray, *, centre: np.ndarray) -> Fit:
    """Robust translation: the displacement most windows agree on, refined on its inliers.

    Parameters
    ----------
    points : ndarray, shape (n, 2)
        Window centres, reference pixel coordinates (x, y).
    shifts : ndarray, shape (n, 2)
        Measured displacement (dx, dy) in pixels.
    centre : ndarray, shape (2,)
        Where the standard error is evaluated (the reference centre).
    """
    u, scale = _normalise(points, centre)
    # Consensus: the measured shift with most others within _CONSENSUS_PX (a mode, not
    # a median, so that half the windows may be wrong).
    pick = shifts if len(shifts) <= 512 else shifts[:: int(np.ceil(len(shifts) / 512))]
    votes = (np.linalg.norm(pick[:, None, :] - shifts[None, :, :], axis=2) < _CONSENSUS_PX).sum(1)
    start = pick[int(np.argmax(votes))]
    inliers = np.linalg.norm(shifts - start, axis=1) < _CONSENSUS_PX
    coef, inliers = _iterate(u, shifts, inliers, "translation", 1)
    return _finish(u, shifts, coef, inliers, "translation", centre, scale)


def fit_affine(
    points: np.ndarray,
    shifts: np.ndarray,
    *,
    centre: np.ndarray,
    start: np.ndarray | None = None,
    hypotheses: int = 256,
    seed: int = 0,
) -> Fit:
    """Robust affine displacement: RANSAC over window triplets, then iterated least squares.

    Parameters
    ----------
    points, shifts, centre
        As for :func:`fit_translation`; at least 4 points.
    start : ndarray of bool, shape (n,), optional
        Inliers of a previous fit, tried as one more hypothesis.
    hypotheses : int
        Random triplets drawn (vectorised).
    seed : int
        Seed of the triplet draw, for reproducible results.
    """
    u, scale = _normalise(points, centre)
    n = len(u)
    rng = np.random.default_rng(seed)
    triplets = np.stack([rng.choice(n, 3, replace=False) for _ in range(hypotheses)])
    design = np.concatenate([u[triplets], np.ones((hypotheses, 3, 1))], axis=2)  # (h, 3, 3)
    ok = np.abs(np.linalg.det(design)) > 1e-6
    coefs = np.linalg.solve(design[ok], shifts[triplets[ok]])  # (h, 3, 2)
    if start is not None and start.sum() >= 3:
        coefs = np.concatenate([coefs, _lstsq(u[start], shifts[start], "affine")[None]])
    full = np.column_stack([u, np.ones(n)])
    predicted = np.einsum("nk,hkc->hnc", full, coefs)
    votes = (np.linalg.norm(predicted - shifts[None], axis=2) < _CONSENSUS_PX).sum(axis=1)
    best = coefs[int(np.argmax(votes))]
    inliers = np.linalg.norm(full @ best - shifts, axis=1) < _CONSENSUS_PX
    if inliers.sum() < 4:
        inliers = np.ones(n, dtype=bool)
    coef, inliers = _iterate(u, shifts, inliers, "affine", 3)
    return _finish(u, shifts, coef, inliers, "affine", centre, scale)


def affine_supported(points: np.ndarray, *, extent: tuple[float, float], min_points: int) -> bool:
    """Whether ``points`` (n, 2) are enough and spread enough to pin an affine model.

    They must number at least ``min_points`` and span a third of ``extent`` (width,
    height in pixels of the overlap) in both directions.
    """
    if len(points) < max(min_points, 4):
        return False
    span = np.ptp(points, axis=0)
    return bool(span[0] >= extent[0] / 3 and span[1] >= extent[1] / 3)


def select_model(
    translation: Fit,
    affine: Fit,
    points: np.ndarray,
    *,
    independence: float = 1.0,
    p_value: float = 1e-3,
    min_effect_px: float = 0.05,
) -> Fit:
    """Keep the affine fit only if it lowers the residual significantly and noticeably.

    The two models are compared on the affine fit's inliers with an F-test of the
    4 extra parameters; the affine model must also move some inlier window by more than
    ``min_effect_px`` compared with the translation. Overlapping windows share pixels
    and so their errors: ``independence`` (0-1, see
    :attr:`imagery.registration.windows.Grid.independence`) scales the number of observations and the F statistic, so that a
    dense grid of overlapping windows does not make noise look significant.
    """
    inl = affine.inliers
    n_obs = 2 * int(inl.sum())
    n_eff = n_obs * min(max(independence, 0.0), 1.0)
    if n_eff <= 8:
        return translation
    rss_affine = float((affine.residuals[inl] ** 2).sum())
    measured = affine.residuals[inl] + affine.displacement(points[inl])
    rss_translation = float(((measured - measured.mean(axis=0)) ** 2).sum())
    if rss_affine <= 0:
        return affine
    f_stat = ((rss_translation - rss_affine) / 4.0) / (rss_affine / (n_obs - 6)) * independence
    significant = f_stat > stats.f.ppf(1.0 - p_value, 4, n_eff - 6)
    modelled = affine.displacement(points[inl])
    effect = np.linalg.norm(modelled - modelled.mean(axis=0), axis=1).max()
    return affine if significant and effect > min_effect_px else translation
