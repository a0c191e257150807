"""Object extraction: from a mask of flagged pixels to measured polygons on the ground.

Connected pixels become one object; each gets its footprint polygon (the pixel outline,
in the raster's CRS), its size in ground metres (from second moments, so a ship seen
at an angle measures its true length), its heading, and its centroid in WGS84.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage
from shapely.geometry import shape
from shapely.ops import unary_union

from imagery.grid import ground_pixel_size, map_units_per_metre, to_lonlat

__all__ = [
    "axis_shape",
    "draw_hulls",
    "footprint_means",
    "hull_rectangles",
    "hysteresis_threshold",
    "label_maxima",
    "label_objects",
    "label_sums",
    "measure_objects",
    "numbered",
    "split_at_saddles",
]


def numbered(frame, grid, *, all_touched: bool) -> np.ndarray:
    """The grid (anything with ``shape`` and ``transform``, e.g. a Raster) with each
    polygon of ``frame`` (a GeoDataFrame) burnt in as its row number + 1 (0 elsewhere)."""
    return features.rasterize(
        ((geom, i + 1) for i, geom in enumerate(frame.geometry)),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        dtype="int32",
        all_touched=all_touched,
    )


def footprint_means(frame, images: dict[str, np.ndarray], grid) -> dict[str, np.ndarray]:
    """Mean of each image inside each polygon of ``frame`` (every pixel the polygon
    touches; NaN-aware; NaN where empty), on ``grid`` (:func:`numbered`)."""
    if frame.empty:
        return {name: np.array([]) for name in images}
    labels = numbered(frame, grid, all_touched=True)
    n = len(frame)
    # The footprints' pixels only (ndimage.sum_labels bincounts the whole image).
    where = np.flatnonzero(labels)
    owner = labels.ravel()[where]
    out = {}
    for name, image in images.items():
        values = image.ravel()[where].astype(np.float64, copy=False)
        finite = np.isfinite(values)
        counts = np.bincount(owner, weights=finite, minlength=n + 1)[1 : n + 1]
        sums = np.bincount(owner, weights=np.where(finite, values, 0.0), minlength=n + 1)
        sums = sums[1 : n + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(counts > 0, sums / counts, np.nan)
    return out


def label_objects(mask: np.ndarray, *, connectivity: int = 2) -> tuple[np.ndarray, int]:
    """Label connected components of ``mask`` (8-connected by default)."""
    structure = ndimage.generate_binary_structure(2, connectivity)
    labels, n = ndimage.label(mask, structure=structure)
    return labels.astype(np.int32), int(n)


def hysteresis_threshold(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels above ``low`` connected (4-neighbours) to a pixel above ``high``: the mask
    of ``skimage.filters.apply_hysteresis_threshold``.

    The components holding a strong pixel are marked by indexing the labels at the
    strong pixels; skimage sums the strong mask per label over the whole image.
    """
    low = min(low, high)
    labels, n = ndimage.label(image > low)
    connected = np.zeros(n + 1, dtype=bool)
    connected[labels[image > high]] = True
    connected[0] = False
    return connected[labels]


def split_at_saddles(
    labels: np.ndarray, score: np.ndarray, *, min_distance_px: int, sigma_px: float = 1.0
) -> tuple[np.ndarray, int]:
    """Cut labelled objects into parts at the saddles of ``score``.

    Each object is flooded from the peaks of ``score`` (smoothed by a Gaussian of
    ``sigma_px`` pixels against single-pixel noise) that lie at least ``min_distance_px``
    pixels apart inside it: a marker-controlled watershed of the negated score
    (Vincent & Soille 1991; Beucher & Meyer 1993), so two humps of change joined by a
    lower ridge become two parts meeting along the ridge's lowest line. An object with a
    single peak stays whole.

    Parameters
    ----------
    labels : ndarray of int, (row, col)
        0 is background, 1..n the objects (each is cut on its own).
    score : ndarray of float, (row, col)
        Higher is stronger evidence (a change test's normal score).
    min_distance_px : int
        Smallest distance between two peaks, pixels.
    sigma_px : float
        Smoothing of ``score`` before its peaks are sought, pixels.

    Returns
    -------
    parts : ndarray of int, (row, col)
        0 is background, 1..m the parts.
    m : int
        Number of parts.

    References
    ----------
    Vincent, L. & Soille, P. (1991). Watersheds in digital spaces: an efficient algorithm
    based on immersion simulations. IEEE TPAMI 13(6), 583-598.
    https://doi.org/10.1109/34.87344

    Beucher, S. & Meyer, F. (1993). The morphological approach to segmentation: the
    watershed transformation. In Mathematical Morphology in Image Processing, 433-481.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    inside = labels > 0
    if not inside.any():
        return np.zeros(labels.shape, dtype=np.int32), 0
    smooth = ndimage.gaussian_filter(np.where(inside, np.nan_to_num(score), 0.0), sigma_px)
    peaks = peak_local_max(
        smooth, min_distance=max(1, int(min_distance_px)), labels=labels, exclude_border=False
    )
    markers = np.zeros(labels.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    parts = watershed(-smooth, markers, mask=inside).astype(np.int32)
    return parts, int(parts.max())


def label_sums(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Sum of ``values`` over each label 1..n: ``scipy.ndimage.sum_labels(values, labels,
    1..n)``, the same sums (a bincount, in the same order) over the labelled pixels only,
    where scipy counts every pixel of the image."""
    where = np.flatnonzero(labels)
    owner = labels.ravel()[where]
    weights = values.ravel()[where].astype(np.float64, copy=False)
    return np.bincount(owner, weights=weights, minlength=n + 1)[1 : n + 1]


def label_maxima(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Maximum of ``values`` over each label 1..n (0 for a label with no pixel):
    ``scipy.ndimage.maximum(values, labels, 1..n)`` without sorting the whole image."""
    where = np.flatnonzero(labels)
    owner = labels.ravel()[where]
    out = np.full(n + 1, -np.inf)
    np.maximum.at(out, owner, values.ravel()[where])
    out[np.bincount(owner, minlength=n + 1) == 0] = 0.0
    return out[1 : n + 1]


def axis_shape(labels: np.ndarray, n: int, pixel_m: float) -> dict[str, np.ndarray]:
    """Per label 0..n: pixel count, length and width (m, from second moments, as
    :func:`measure_objects` without its polygons) and the major axis angle in the pixel
    grid (degrees clockwise from +col, 0-180). ``pixel_m`` is the square pixel's side."""
    rows, cols = np.nonzero(labels)
    owner = labels[rows, cols]
    count = np.bincount(owner, minlength=n + 1).astype(np.float64)
    safe = np.maximum(count, 1.0)
    mr = np.bincount(owner, rows, n + 1) / safe
    mc = np.bincount(owner, cols, n + 1) / safe
    dr, dc = rows - mr[owner], cols - mc[owner]
    srr = np.bincount(owner, dr * dr, n + 1) / safe + 1.0 / 12.0
    scc = np.bincount(owner, dc * dc, n + 1) / safe + 1.0 / 12.0
    src = np.bincount(owner, dr * dc, n + 1) / safe
    half = (srr + scc) / 2.0
    root = np.sqrt(((scc - srr) / 2.0) ** 2 + src * src)
    return {
        "count": count,
        "length_m": np.sqrt(12.0 * (half + root)) * pixel_m,
        "width_m": np.sqrt(12.0 * np.maximum(half - root, 0.0)) * pixel_m,
        "angle": np.mod(np.degrees(0.5 * np.arctan2(2.0 * src, scc - srr)), 180.0),
    }


def _moments(
    labels: np.ndarray,
    n: int,
    sx: float,
    sy: float,
    weights: np.ndarray | None = None,
    psf_sigma_m: float = 0.0,
    transform: Affine | None = None,
) -> dict[str, np.ndarray]:
    # Work on the labelled pixels only: objects cover a sliver of a scene.
    rows_i, cols_i = np.nonzero(labels)
    owner = labels[rows_i, cols_i]
    count = np.bincount(owner, minlength=n + 1)[1:].astype(np.float64)
    if weights is None:
        w = np.ones(owner.size)
    else:
        w = np.clip(np.nan_to_num(weights[rows_i, cols_i].astype(np.float64)), 0.0, None)
        # An object without positive weight falls back to its plain pixel footprint.
        empty = np.bincount(owner, weights=w, minlength=n + 1) <= 0
        w = np.where(empty[owner], 1.0, w)
    total = np.bincount(owner, weights=w, minlength=n + 1)[1:]

    def per_object(values: np.ndarray) -> np.ndarray:
        return np.bincount(owner, weights=w * values, minlength=n + 1)[1:] / total

    # Map-aligned metric coordinates: x east, y north (rows grow southward unless the
    # grid's transform says otherwise).
    east = 1.0 if transform is None or transform.a >= 0 else -1.0
    south = 1.0 if transform is None or transform.e <= 0 else -1.0
    x = cols_i * sx * east
    y = -rows_i.astype(np.float64) * sy * south
    mx = per_object(x)
    my = per_object(y)
    sxx = per_object(x * x) - mx * mx
    syy = per_object(y * y) - my * my
    sxy = per_object(x * y) - mx * my
    # Each pixel is a square, not a point: add its own variance (side^2 / 12).
    sxx = sxx + sx * sx / 12.0
    syy = syy + sy * sy / 12.0
    half_trace = (sxx + syy) / 2.0
    root = np.sqrt(np.maximum(((sxx - syy) / 2.0) ** 2 + sxy * sxy, 0.0))
    # A blurred image's second moments are the object's plus the point spread
    # function's (the variances of convolved distributions add); an isotropic PSF adds
    # its variance to both principal axes, so it is taken off each. No axis ends
    # narrower than one pixel: a hull thinner than the blur still spans a pixel, and
    # taking the PSF off the x and y moments instead left diagonal hulls 0 m wide.
    floor = sx * sy / 12.0
    major = np.maximum(half_trace + root - psf_sigma_m**2, floor)
    minor = np.maximum(half_trace - root - psf_sigma_m**2, floor)
    angle = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)  # major axis, radians from east, CCW
    heading = np.mod(90.0 - np.degrees(angle), 180.0)  # clockwise from north, 0-180
    return {
        "count": count,
        "length": np.sqrt(12.0 * major),  # a uniform bar of length a has variance a^2/12
        "width": np.sqrt(12.0 * minor),
        "heading": heading,
        "row": -my / (sy * south),
        "col": mx / (sx * east),
    }


def hull_rectangles(frame, grid) -> np.ndarray:
    """The hull each vessel of ``frame`` is measured to be: a rectangle ``length_m`` by
    ``width_m`` (ground metres) along ``heading_deg`` (clockwise from north), centred on
    ``x``, ``y`` (the polygon's centroid when those are missing), as an array of polygons.
    ``x``, ``y`` are in the CRS of ``grid`` (anything with ``transform``, ``crs`` and
    ``shape``, e.g. a Raster), which sets the map units per ground metre; every value
    must be finite and the sizes positive (:func:`draw_hulls` picks such rows).

    The pixel outline of a detection is the hull convolved with the sensor's point
    spread and grown by the detector's hysteresis: at Sentinel-1's 20 m resolution a
    45 m hull's outline spans 100 m and more, and its centroid follows whatever bright
    pixels the blur joined to it (a quay's corner, a bollard, a neighbour's bow). A
    vessel's centre is measured with each pixel weighted by its brightness above the
    background and its ``length_m`` and ``width_m`` with the point spread taken off
    (:func:`measure_objects` with ``weights`` and ``psf_sigma_m``); this rectangle is
    what those fields describe, so the polygon an analyst sees and the centre the
    fields report agree.
    """
    if len(frame) == 0:
        return np.empty(0, dtype=object)
    if {"x", "y"} <= set(frame.columns):
        x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    else:
        centres = shapely.centroid(np.asarray(frame.geometry))
        x, y = shapely.get_x(centres), shapely.get_y(centres)
    heading = np.radians(frame["heading_deg"].to_numpy(float))
    half_length = frame["length_m"].to_numpy(float) / 2.0
    half_width = frame["width_m"].to_numpy(float) / 2.0
    per_m_x, per_m_y = map_units_per_metre(grid.transform, grid.crs, grid.shape)
    along = np.stack([np.sin(heading), np.cos(heading)], axis=-1)  # (east, north)
    across = np.stack([np.cos(heading), -np.sin(heading)], axis=-1)
    signs = np.array([(1, 1), (1, -1), (-1, -1), (-1, 1)], dtype=float)
    offsets = (
        signs[None, :, 0, None] * half_length[:, None, None] * along[:, None, :]
        + signs[None, :, 1, None] * half_width[:, None, None] * across[:, None, :]
    )
    corners = np.stack(
        [x[:, None] + offsets[..., 0] * per_m_x, y[:, None] + offsets[..., 1] * per_m_y], axis=-1
    )
    return shapely.polygons(corners)


def draw_hulls(frame, grid, rows: np.ndarray | None = None):
    """``frame`` (a GeoDataFrame) with the geometry of ``rows`` (boolean, default all)
    replaced by :func:`hull_rectangles`; a row without a finite centre, heading and
    positive size keeps its outline."""
    needed = ["length_m", "width_m", "heading_deg"]
    if len(frame) == 0 or not set(needed) <= set(frame.columns):
        return frame
    centre = ["x", "y"] if {"x", "y"} <= set(frame.columns) else []
    values = frame[needed + centre].to_numpy(dtype=float)
    drawable = np.isfinite(values).all(axis=1) & (values[:, 0] > 0) & (values[:, 1] > 0)
    if rows is not None:
        drawable &= np.asarray(rows, dtype=bool)
    if not drawable.any():
        return frame
    geometry = np.asarray(frame.geometry, dtype=object).copy()
    geometry[drawable] = hull_rectangles(frame.loc[drawable], grid)
    return frame.set_geometry(gpd.GeoSeries(geometry, index=frame.index, crs=frame.crs))


def _polygons(labels: np.ndarray, transform) -> dict[int, object]:
    """Pixel-outline polygon of each label, from one pass over the label image.

    GDAL's polygonizer traces every label in a single scan; a label of several
    8-disconnected pieces (a caller's own grouping) becomes their union.
    """
    pieces: dict[int, list] = {}
    raster = labels if labels.dtype == np.int32 else labels.astype(np.int32)
    for geom, value in features.shapes(
        raster, mask=raster > 0, transform=transform, connectivity=8
    ):
        pieces.setdefault(int(value), []).append(shape(geom))
    return {
        value: parts[0] if len(parts) == 1 else unary_union(parts)
        for value, parts in pieces.items()
    }


def measure_objects(
    labels: np.ndarray,
    n: int,
    *,
    transform,
    crs,
    values: dict[str, np.ndarray] | None = None,
    weights: np.ndarray | None = None,
    psf_sigma_m: float = 0.0,
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
    weights : ndarray, optional
        Per-pixel weights of the moments (e.g. intensity above the background), so
        that size and centre follow the object's energy rather than a threshold's
        footprint, which grows with brightness when the image is blurred.
    psf_sigma_m : float, default 0
        Standard deviation of the sensor's point spread function, metres, removed from
        each principal axis of the measured second moments, no axis ending narrower
        than one pixel (S1 IW GRD: about 9 m for its 20 x 22 m resolution; S2: about
        5 m).

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
    m = _moments(labels, n, sx, sy, weights, psf_sigma_m, transform)
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
    rows_i, cols_i = np.nonzero(labels)
    owner = labels[rows_i, cols_i]
    count = np.bincount(owner, minlength=n + 1)
    for name, image in (values or {}).items():
        picked = np.nan_to_num(image[rows_i, cols_i].astype(np.float64), nan=0.0)
        peak = np.full(n + 1, -np.inf)
        np.maximum.at(peak, owner, picked)
        frame[f"{name}_max"] = peak[1:]
        frame[f"{name}_mean"] = np.bincount(owner, weights=picked, minlength=n + 1)[
            1:
        ] / np.maximum(count[1:], 1)
    return frame
