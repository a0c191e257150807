"""Estimator options, and the decision: refuse, or fit a model and build a :class:`Registration`.

The method follows AROSICS (Scheffler et al. 2017) in outline: many windows on a grid,
a sub-pixel shift per window (:mod:`imagery.registration.measure`), outlier rejection,
a global model (:mod:`imagery.registration.fit`). It differs in what is correlated
(gradient orientation rather than intensity), in processing each grid row as one FFT
batch, and in refusing to answer (:class:`~imagery.errors.CoregistrationError`) when
the data do not support one.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from imagery.errors import CoregistrationError, InputError
from imagery.registration.features import SensorProfile
from imagery.registration.fit import (
    Fit,
    affine_supported,
    fit_affine,
    fit_translation,
    select_model,
)
from imagery.registration.measure import MEASURED, NODATA
from imagery.registration.model import Registration, ground_metres
from imagery.registration.windows import Grid

__all__ = ["MODELS", "Options", "decide"]

log = logging.getLogger(__name__)

MODELS = ("auto", "translation", "affine")


@dataclasses.dataclass(frozen=True)
class Options:
    """Keyword options of the estimators, validated once."""

    window_px: int = 128
    spacing_px: int | None = None
    max_shift_px: float = 5.0
    model: str = "auto"
    min_windows: int = 6
    min_confidence: float = 0.2
    min_coherence: float | None = None
    min_psr: float = 8.0
    min_valid_fraction: float = 0.4
    max_windows: int = 2048
    refine: bool = True

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InputError(f"model must be one of {MODELS}, got {self.model!r}")
        if not 16 <= self.window_px <= 1024:
            raise InputError(f"window_px must be 16-1024 pixels, got {self.window_px}")
        if self.spacing_px is not None and self.spacing_px < 1:
            raise InputError(
                f"spacing_px must be a positive number of pixels, got {self.spacing_px}"
            )
        if not 0 < self.max_shift_px < self.window_px / 4:
            raise InputError(
                f"max_shift_px must be positive and below a quarter of window_px "
                f"({self.window_px / 4:g}), got {self.max_shift_px}"
            )
        if self.min_windows < 1:
            raise InputError(f"min_windows must be at least 1, got {self.min_windows}")
        if not 0 < self.min_valid_fraction <= 1:
            raise InputError(f"min_valid_fraction must be in (0, 1], got {self.min_valid_fraction}")

    @property
    def margin_px(self) -> int:
        """Extra pixels read around each window: re-centring range plus gradient reach."""
        return math.ceil(self.max_shift_px) + 4


def _fit(points, shifts, *, options: Options, centre, extent, independence: float) -> Fit:
    translation = fit_translation(points, shifts, centre=centre)
    if options.model == "translation":
        return translation
    inliers = points[translation.inliers]
    if not affine_supported(points, extent=extent, min_points=max(12, options.min_windows)):
        if options.model == "affine":
            raise CoregistrationError(
                f"an affine model needs at least {max(12, options.min_windows)} correlated "
                f"windows spread over a third of the overlap in x and y; got {len(points)} "
                f"({len(inliers)} agreeing): use model='translation' or a larger overlap",
                reason="windows",
            )
        return translation
    affine = fit_affine(points, shifts, centre=centre, start=translation.inliers)
    if options.model == "affine":
        return affine
    return select_model(translation, affine, points, independence=independence)


def decide(
    meas,
    grid: Grid,
    *,
    options: Options,
    profile: SensorProfile,
    reference_shape: tuple[int, int],
    reference_transform,
    reference_crs,
    sensor: str | None,
) -> Registration:
    """Refuse, or fit the model and build the :class:`Registration`."""
    n = grid.size
    has_data = meas.status != NODATA
    if not has_data.any():
        raise CoregistrationError(
            f"the valid pixels of the two scenes overlap in none of the {n} windows of "
            f"{grid.window_px} px (each needs {options.min_valid_fraction:.0%} valid pixels in "
            f"both scenes)",
            reason="overlap",
        )
    valid = meas.status == MEASURED
    n_valid = int(valid.sum())
    if n_valid < options.min_windows:
        raise CoregistrationError(
            f"only {n_valid} valid windows of {n} (need {options.min_windows}): "
            f"{meas.unusable_moving:.0%} of the moving scene under the windows is cloud, "
            f"water, excluded or nodata ({meas.cloud_moving:.0%} cloud), and "
            f"{meas.unusable_reference:.0%} of the reference",
            reason="windows",
        )
    min_coherence = (
        options.min_coherence if options.min_coherence is not None else profile.min_coherence
    )
    limit = grid.window_px / 2 - 2
    good = (
        valid
        & (meas.coherence >= min_coherence)
        & (meas.psr >= options.min_psr)
        & (np.abs(np.nan_to_num(meas.shift, nan=limit)) < limit).all(axis=1)
    )
    n_corr = int(good.sum())
    if n_corr < options.min_windows:
        best = float(meas.coherence[valid].max()) if n_valid else 0.0
        raise CoregistrationError(
            f"weak correlation: only {n_corr} of {n_valid} valid windows correlate (need "
            f"{options.min_windows} with coherence >= {min_coherence:.2f} and peak-to-sidelobe "
            f">= {options.min_psr:g}; best coherence {best:.2f}, median "
            f"{float(np.median(meas.coherence[valid])):.2f})",
            reason="correlation",
        )
    points, shifts = meas.centres[good], meas.shift[good]
    height, width = reference_shape
    centre = np.array([width / 2.0, height / 2.0])
    span = (
        float(grid.cols[-1] - grid.cols[0] + grid.window_px),
        float(grid.rows[-1] - grid.rows[0] + grid.window_px),
    )
    # Overlapping windows share pixels, hence errors: count them as fewer observations.
    independence = grid.independence
    fit = _fit(
        points, shifts, options=options, centre=centre, extent=span, independence=independence
    )
    if fit.n_used < options.min_windows:
        raise CoregistrationError(
            f"weak correlation: only {fit.n_used} of {n_corr} correlated windows agree on one "
            f"{fit.model} (need {options.min_windows}); the scenes may differ too much",
            reason="correlation",
        )
    used = points[fit.inliers]
    corners = np.array(
        [
            [x, y]
            for x in (used[:, 0].min(), used[:, 0].max())
            for y in (used[:, 1].min(), used[:, 1].max())
        ]
    )
    reach = np.linalg.norm(fit.displacement(np.vstack([centre, corners])), axis=1)
    dx, dy = fit.displacement(centre)[0]
    if reach.max() > options.max_shift_px:
        raise CoregistrationError(
            f"shift of {reach.max():.2f} px exceeds max_shift_px={options.max_shift_px:g} "
            f"(at the reference centre x {dx:+.2f} px, y {dy:+.2f} px; {fit.model} model, "
            f"{fit.n_used} windows agree); check the inputs or raise max_shift_px",
            reason="max_shift",
        )
    agreement = fit.n_used / n_corr
    centre_se = fit.centre_se_px / np.sqrt(independence)
    precision = 1.0 / (1.0 + (centre_se / 0.1) ** 2)
    confidence = float(agreement * precision)
    if confidence < options.min_confidence:
        raise CoregistrationError(
            f"weak correlation: confidence {confidence:.2f} below min_confidence="
            f"{options.min_confidence:g} ({fit.n_used} of {n_corr} correlated windows agree, "
            f"residual RMSE {fit.rmse_px:.2f} px, centre shift known to +/-{centre_se:.2f} px)",
            reason="correlation",
        )
    matrix = fit.params.copy()
    matrix[0, 0] += 1.0
    matrix[1, 1] += 1.0
    east, north = ground_metres(
        float(dx), float(dy), transform=reference_transform, crs=reference_crs, at=tuple(centre)
    )
    log.info(
        "registration: %s, shift x %+.3f px y %+.3f px, rmse %.3f px, %d/%d windows, confidence %.2f",
        fit.model,
        dx,
        dy,
        fit.rmse_px,
        fit.n_used,
        n,
        confidence,
    )
    return Registration(
        model=fit.model,
        matrix=matrix,
        shift_x_px=float(dx),
        shift_y_px=float(dy),
        shift_x_m=float(east),
        shift_y_m=float(north),
        rmse_px=fit.rmse_px,
        confidence=confidence,
        n_windows=n,
        n_valid=n_valid,
        n_correlated=n_corr,
        n_used=fit.n_used,
        tie_points=points,
        tie_shifts=shifts,
        tie_coherence=meas.coherence[good],
        tie_inliers=fit.inliers.copy(),
        reference_transform=reference_transform,
        reference_crs=reference_crs,
        reference_shape=(int(height), int(width)),
        sensor=sensor,
        window_px=grid.window_px,
        spacing_px=grid.spacing_px,
    )
