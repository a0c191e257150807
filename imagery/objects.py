"""Object extraction: from a mask of flagged pixels to measured polygons on the ground.

Connected pixels become one object; each gets its footprint polygon (the pixel outline,
in the raster's CRS), its size in ground metres (from second moments, so a ship seen
at an angle measures its true length), its heading, and its centroid in WGS84.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rasterio import features
from scipy import ndimage
from shapely.geometry import shape
from shapely.ops import unary_union

from imagery.grid import ground_pixel_size, to_lonlat

__all__ = ["label_objects", "measure_objects"]


def label_objects(mask: np.ndarray, *, connectivity: int = 2) -> tuple[np.ndarray, int]:
    """Label connected components of ``mask`` (8-connected by default)."""
    structure = ndimage.generate_binary_structure(2, connectivity)
    labels, n = ndimage.label(mask, structure=structure)
    return labels.astype(np.int32), int(n)


def _moments(labels: np.ndarray, n: int, sx: float, sy: float) -> dict[str, np.ndarray]:
    index = np.arange(1, n + 1)
    rows, cols = np.indices(labels.shape, dtype=np.float64)
    ones = (labels > 0).astype(np.float64)
    count = ndimage.sum_labels(ones, labels, index)
    # Map-aligned metric coordinates: x east, y north (rows grow southward).
    x = cols * sx
    y = -rows * sy
    mx = ndimage.sum_labels(x, labels, index) / count
    my = ndimage.sum_labels(y, labels, index) / count
    sxx = ndimage.sum_labels(x * x, labels, index) / count - mx * mx
    syy = ndimage.sum_labels(y * y, labels, index) / count - my * my
    sxy = ndimage.sum_labels(x * y, labels, index) / count - mx * my
    # Each pixel is a square, not a point: add its own variance (side^2 / 12).
    sxx = sxx + sx * sx / 12.0
    syy = syy + sy * sy / 12.0
    half_trace = (sxx + syy) / 2.0
    root = np.sqrt(np.maximum(((sxx - syy) / 2.0) ** 2 + sxy * sxy, 0.0))
    major = half_trace + root
    minor = np.maximum(half_trace - root, 0.0)
    angle = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)  # major axis, radians from east, CCW
    heading = np.mod(90.0 - np.degrees(angle), 180.0)  # clockwise from north, 0-180
    return {
        "count": count,
        "length": np.sqrt(12.0 * major),  # a uniform bar of length a has variance a^2/12
        "width": np.sqrt(12.0 * minor),
        "heading": heading,
        "row": ndimage.sum_labels(rows, labels, index) / count,
        "col": ndimage.sum_labels(cols, labels, index) / count,
    }


def _polygons(labels: np.ndarray, transform) -> dict[int, object]:
    pieces: dict[int, list] = {}
    for geom, value in features.shapes(
        labels, mask=labels > 0, transform=transform, connectivity=8
    ):
        pieces.setdefault(int(value), []).append(shape(geom))
    return {k: (v[0] if len(v) == 1 else unary_union(v)) for k, v in pieces.items()}


def measure_objects(
    labels: np.ndarray,
    n: int,
    *,
    transform,
    crs,
    values: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Measure labelled objects on the ground.

    Parameters
    ----------
    labels : ndarray of int, (row, col)
        0 is background, 1..n the objects.
    n : int
        Number of objects.
    transform, crs
        The grid of ``labels``.
    values : dict of name -> ndarray, optional
        Per-pixel images summarised per object as ``<name>_max`` and ``<name>_mean``.

    Returns
    -------
    pandas.DataFrame
        One row per object (label order) with ``label``, ``area_m2``, ``length_m``,
        ``width_m``, ``heading_deg``, ``x``, ``y`` (centroid, CRS units), ``lon``,
        ``lat``, ``geometry`` (shapely polygon in ``crs``) and the summaries.
    """
    columns = [
        "label",
        "area_m2",
        "length_m",
        "width_m",
        "heading_deg",
        "x",
        "y",
        "lon",
        "lat",
        "geometry",
    ]
    if n == 0:
        return pd.DataFrame(columns=columns)
    sx, sy = ground_pixel_size(transform, crs, labels.shape)
    m = _moments(labels, n, sx, sy)
    x, y = transform * (m["col"] + 0.5, m["row"] + 0.5)
    lon, lat = to_lonlat(x, y, crs)
    polygons = _polygons(labels, transform)
    frame = pd.DataFrame(
        {
            "label": np.arange(1, n + 1),
            "area_m2": m["count"] * sx * sy,
            "length_m": m["length"],
            "width_m": m["width"],
            "heading_deg": m["heading"],
            "x": x,
            "y": y,
            "lon": lon,
            "lat": lat,
            "geometry": [polygons.get(i) for i in range(1, n + 1)],
        }
    )
    index = np.arange(1, n + 1)
    for name, image in (values or {}).items():
        clean = np.where(np.isfinite(image), image, 0.0)
        frame[f"{name}_max"] = ndimage.maximum(clean, labels, index)
        frame[f"{name}_mean"] = ndimage.mean(clean, labels, index)
    return frame
