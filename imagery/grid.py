"""Grid arithmetic: pixel sizes on the ground and pixel/map coordinate conversion."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from affine import Affine
from pyproj import CRS, Geod, Transformer

__all__ = [
    "SCALE_TOLERANCE",
    "ground_pixel_size",
    "map_units_per_metre",
    "pixel_centres",
    "pixel_size_m",
    "to_lonlat",
]

#: A projected grid whose pixels are within this fraction of their nominal size on the
#: ground is taken at its nominal size (UTM's scale error is at most 0.1 % in a zone).
SCALE_TOLERANCE = 0.01

_GEOD = Geod(ellps="WGS84")


@lru_cache(maxsize=64)
def _to_lonlat(crs_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(crs_wkt), "EPSG:4326", always_xy=True)


def to_lonlat(x, y, crs) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates in ``crs`` to WGS84 (lon, lat) degrees."""
    transformer = _to_lonlat(CRS.from_user_input(crs).to_wkt())
    lon, lat = transformer.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon), np.asarray(lat)


def ground_pixel_size(transform: Affine, crs, shape: tuple[int, int]) -> tuple[float, float]:
    """Size (x, y) of one pixel on the ground at the grid centre, metres.

    In a UTM grid this is the nominal resolution (to within the 0.04 % scale error);
    in Web Mercator (EPSG:3857) a 10-unit pixel is 10 cos(latitude) m on the ground,
    which a size filter in metres must respect. Measured as geodesic distances between
    neighbouring pixel centres, so it holds for any CRS.
    """
    rows, cols = shape
    c, r = cols / 2.0, rows / 2.0
    pts = [transform * (c, r), transform * (c + 1, r), transform * (c, r + 1)]
    lon, lat = to_lonlat([p[0] for p in pts], [p[1] for p in pts], crs)
    _, _, dx = _GEOD.inv(lon[0], lat[0], lon[1], lat[1])
    _, _, dy = _GEOD.inv(lon[0], lat[0], lon[2], lat[2])
    return float(dx), float(dy)


def map_units_per_metre(transform: Affine, crs, shape: tuple[int, int]) -> tuple[float, float]:
    """Map units (x, y) per metre on the ground at the grid centre (UTM: 1; Web
    Mercator: 1 / cos(latitude); geographic: degrees), from :func:`ground_pixel_size`."""
    ground_x, ground_y = ground_pixel_size(transform, crs, shape)
    return abs(transform.a) / ground_x, abs(transform.e) / ground_y


def pixel_size_m(transform: Affine, crs, shape: tuple[int, int]) -> float:
    """Side of one pixel on the ground, metres: the nominal resolution, unless the
    projection's scale at the grid centre departs from it by more than
    :data:`SCALE_TOLERANCE` (Web Mercator: 10 units are 10 cos(latitude) m), then the
    mean of :func:`ground_pixel_size`."""
    nominal = abs(transform.a)
    ground = ground_pixel_size(transform, crs, shape)
    if all(abs(g / nominal - 1.0) <= SCALE_TOLERANCE for g in ground):
        return nominal
    return (ground[0] + ground[1]) / 2.0


def pixel_centres(
    transform: Affine, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates of (fractional) pixel positions, measured to pixel centres."""
    xs, ys = transform * (np.asarray(cols, dtype=float) + 0.5, np.asarray(rows, dtype=float) + 0.5)
    return np.asarray(xs), np.asarray(ys)
