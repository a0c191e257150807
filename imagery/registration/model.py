"""The result of a co-registration: a value type that travels to ``apply`` and to reports."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Proj, Transformer
from rasterio.crs import CRS

__all__ = ["Georeferenced", "Registration", "ground_metres"]


@dataclasses.dataclass(frozen=True, eq=False)
class Registration:
    """How the moving scene sits on the reference scene's grid.

    Conventions
    -----------
    Pixel coordinates are rasterio's continuous ones: ``(x, y) = (col, row)`` with the
    upper-left *corner* of the upper-left pixel at (0, 0), so a pixel centre is at
    ``(col + 0.5, row + 0.5)``. ``matrix`` maps a reference pixel position to the
    position, in reference pixel units, where the same ground feature appears in the
    moving scene *as georeferenced* (the moving scene resampled onto the reference grid
    with its own, uncorrected transform)::

        [x_mov, y_mov] = matrix @ [x_ref, y_ref, 1]

    A shift of +1 px in x means the moving scene shows everything one pixel east (to the
    right) of where the reference shows it; :func:`apply_registration` samples the
    moving scene at ``matrix @ p`` for every reference pixel ``p``.

    Attributes
    ----------
    model : {"translation", "affine"}
    matrix : ndarray, shape (2, 3)
        Reference pixel -> moving pixel (on the reference grid), as above.
    shift_x_px, shift_y_px : float
        Displacement at the reference centre, reference pixels (x east, y down).
    shift_x_m, shift_y_m : float
        The same in ground metres (x east, y north), corrected for the map projection's
        scale (Web Mercator units are not metres).
    rmse_px : float
        Root mean square length of the tie-point residuals to the model (inliers), px.
    confidence : float
        0-1: ``agreement * precision`` where agreement is the share of correlated
        windows that agree with the model and precision is
        ``1 / (1 + (se / 0.1 px)^2)`` with ``se`` the standard error of the shift at the
        reference centre. 0.5 means e.g. all windows agree but the centre shift is only
        known to 0.1 px; above 0.9 the shift is known to ~0.03 px or better.
    n_windows : int
        Windows in the grid.
    n_valid : int
        Windows with enough usable pixels (not nodata, cloud, water or excluded) in
        both scenes.
    n_correlated : int
        Valid windows whose correlation peak passed the quality tests.
    n_used : int
        Correlated windows that agree with the model (inliers).
    tie_points : ndarray, shape (k, 2)
        Window centres (x, y) of the correlated windows, reference pixel coordinates.
    tie_shifts : ndarray, shape (k, 2)
        Measured displacement (dx, dy) at each tie point, px.
    tie_coherence : ndarray, shape (k,)
        Correlation peak coherence of each tie point (0-1).
    tie_inliers : ndarray of bool, shape (k,)
    reference_transform : affine.Affine
    reference_crs : rasterio.crs.CRS
    reference_shape : (rows, cols)
    sensor : str or None
    window_px, spacing_px : int
        Window size and grid spacing used.
    """

    model: str
    matrix: np.ndarray
    shift_x_px: float
    shift_y_px: float
    shift_x_m: float
    shift_y_m: float
    rmse_px: float
    confidence: float
    n_windows: int
    n_valid: int
    n_correlated: int
    n_used: int
    tie_points: np.ndarray
    tie_shifts: np.ndarray
    tie_coherence: np.ndarray
    tie_inliers: np.ndarray
    reference_transform: Affine
    reference_crs: CRS
    reference_shape: tuple[int, int]
    sensor: str | None = None
    window_px: int = 0
    spacing_px: int = 0

    @property
    def affine(self) -> Affine:
        """``matrix`` as an :class:`affine.Affine` (reference px -> moving px)."""
        m = self.matrix
        return Affine(m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2])

    @property
    def rotation_deg(self) -> float:
        """Rotation of the moving scene relative to the reference, degrees (clockwise on
        the map, since pixel y points down)."""
        m = self.matrix
        return math.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1]))

    @property
    def scale(self) -> float:
        """Mean scale of the moving scene relative to the reference (1 = same)."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def shift_at(self, x: float, y: float) -> tuple[float, float]:
        """Displacement (dx, dy) in pixels at reference pixel position (x, y)."""
        mx, my = self.matrix @ np.array([x, y, 1.0])
        return float(mx - x), float(my - y)

    def to_dict(self, *, tie_points: bool = False) -> dict[str, Any]:
        """A JSON-safe summary; ``tie_points=True`` adds the per-window measurements."""
        out: dict[str, Any] = {
            "model": self.model,
            "shift_x_px": round(self.shift_x_px, 4),
            "shift_y_px": round(self.shift_y_px, 4),
            "shift_x_m": round(self.shift_x_m, 3),
            "shift_y_m": round(self.shift_y_m, 3),
            "rmse_px": round(self.rmse_px, 4),
            "confidence": round(self.confidence, 3),
            "rotation_deg": round(self.rotation_deg, 5),
            "scale": round(self.scale, 6),
            "matrix": [[float(v) for v in row] for row in self.matrix],
            "n_windows": self.n_windows,
            "n_valid": self.n_valid,
            "n_correlated": self.n_correlated,
            "n_used": self.n_used,
            "window_px": self.window_px,
            "spacing_px": self.spacing_px,
            "sensor": self.sensor,
            "reference_crs": self.reference_crs.to_string(),
            "reference_transform": [float(v) for v in tuple(self.reference_transform)[:6]],
            "reference_shape": [int(v) for v in self.reference_shape],
        }
        if tie_points:
            out["tie_points"] = [
                {
                    "x": float(p[0]),
                    "y": float(p[1]),
                    "dx": float(s[0]),
                    "dy": float(s[1]),
                    "coherence": float(c),
                    "inlier": bool(i),
                }
                for p, s, c, i in zip(
                    self.tie_points,
                    self.tie_shifts,
                    self.tie_coherence,
                    self.tie_inliers,
                    strict=True,
                )
            ]
        return out


@dataclasses.dataclass(frozen=True)
class Georeferenced:
    """A moving scene put on the reference grid by its georeferencing alone: nothing
    was measured (open water holds no fixed feature to register on).

    Attributes
    ----------
    reason : str
        Why no shift was measured, for the run's record.
    water_share : float
        Share of the reference scene's valid pixels that are water, 0-1.
    refused : str
        What co-registration reported.
    """

    reason: str
    water_share: float
    refused: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary, keyed as :meth:`Registration.to_dict` where it applies."""
        return {
            "model": "none",
            "reason": self.reason,
            "water_share": round(self.water_share, 4),
            "refused": self.refused,
        }


def ground_metres(
    dx_px: float, dy_px: float, *, transform: Affine, crs: CRS, at: tuple[float, float]
) -> tuple[float, float]:
    """A pixel displacement as ground metres (east, north) at pixel position ``at``.

    The displacement is taken through the grid's transform into CRS units and then
    divided by the projection's point scale there (about 1/cos(latitude) for Web
    Mercator, ~1 for UTM), or converted from degrees for a geographic CRS.
    """
    east = transform.a * dx_px + transform.b * dy_px
    north = transform.d * dx_px + transform.e * dy_px
    x, y = transform * at
    proj_crs = ProjCRS.from_user_input(crs.to_wkt())
    if proj_crs.is_geographic:
        lat = math.radians(y)
        return east * 111_320.0 * math.cos(lat), north * 110_574.0
    unit = proj_crs.axis_info[0].unit_conversion_factor if proj_crs.axis_info else 1.0
    try:
        to_lonlat = Transformer.from_crs(proj_crs, "EPSG:4326", always_xy=True)
        lon, lat = to_lonlat.transform(x, y)
        factors = Proj(proj_crs).get_factors(lon, lat)
        sx, sy = factors.parallel_scale, factors.meridional_scale
    except Exception:  # pragma: no cover - exotic CRS without factors: take units as metres
        sx = sy = 1.0
    if not (math.isfinite(sx) and math.isfinite(sy)) or sx <= 0 or sy <= 0:
        sx = sy = 1.0
    return east * unit / sx, north * unit / sy
