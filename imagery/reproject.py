"""Scenes whose pixels are not metres on the ground, warped onto their local UTM zone.

Every window, buffer, reach and size in portwatch is in metres, and the pair pipeline
measures distances between objects in map units. Exports in EPSG:4326 (Copernicus
Browser's default, many Sentinel Hub requests) break both: a pixel of 0.0001 degree is
11 m north-south and 11 cos(latitude) m east-west. Web Mercator (EPSG:3857, EO
Browser's exports) keeps pixels square but a map unit is cos(latitude) m. A scene is
put on the UTM grid of its centre before anything is measured:

``"metric"``
    whenever a map unit is not a ground metre to :data:`imagery.grid.SCALE_TOLERANCE`
    (the pair and series pipelines, which measure distances in map units);
``"square"``
    only when pixels are not square on the ground, i.e. a geographic CRS (single-scene
    vessels, which take every size from :func:`imagery.grid.ground_pixel_size`);
``"native"``
    never (masks that must stay on their file's grid).

References
----------
Snyder, J. P. (1987). Map projections: a working manual. USGS Professional Paper 1395
(the transverse Mercator projection and its zones).
"""

from __future__ import annotations

import logging

import numpy as np
from affine import Affine
from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from rasterio.warp import Resampling, calculate_default_transform, reproject

from imagery.errors import InputError
from imagery.grid import SCALE_TOLERANCE, ground_pixel_size, to_lonlat
from imagery.raster import Raster

__all__ = [
    "CODE_BANDS",
    "GRID_MODES",
    "float_with_nan",
    "needs_metric_grid",
    "to_metric",
    "utm_crs_for",
    "warp_bands",
    "warp_onto",
    "warp_to",
]

GRID_MODES = ("metric", "square", "native")
#: Bands of class codes, never blended: always resampled nearest neighbour.
CODE_BANDS = ("SCL",)

log = logging.getLogger(__name__)


def float_with_nan(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """``data`` as float32 with ``nodata`` (when a number) replaced by NaN; a copy."""
    out = data.astype(np.float32, copy=True)
    if nodata is not None and not np.isnan(nodata):
        out[data == nodata] = np.nan
    return out


def warp_bands(
    source: np.ndarray,
    destination: np.ndarray,
    *,
    names: tuple[str, ...],
    src_transform: Affine,
    src_crs,
    dst_transform: Affine,
    dst_crs,
    resampling: Resampling,
) -> None:
    """Reproject float32 bands (NaN nodata) into ``destination``; class-code bands
    (:data:`CODE_BANDS`) with nearest neighbour."""
    for i in range(source.shape[0]):
        code = bool(names) and names[i].upper() in CODE_BANDS
        reproject(
            source=source[i],
            destination=destination[i],
            src_transform=src_transform,
            src_crs=src_crs,
            src_nodata=np.nan,
            dst_transform=dst_transform,
            dst_crs=dst_crs,
            dst_nodata=np.nan,
            resampling=Resampling.nearest if code else resampling,
        )


def warp_to(
    raster: Raster,
    crs,
    *,
    resolution: float | None = None,
    resampling: Resampling = Resampling.nearest,
) -> Raster:
    """``raster`` reprojected onto ``crs`` over its whole extent (rasterio's default
    grid, at ``resolution`` in the target's units when given); float32, NaN nodata."""
    transform, width, height = calculate_default_transform(
        raster.crs, crs, raster.width, raster.height, *raster.bounds, resolution=resolution
    )
    return warp_onto(raster, crs, transform, (height, width), resampling=resampling)


def warp_onto(
    raster: Raster,
    crs,
    transform: Affine,
    shape: tuple[int, int],
    *,
    resampling: Resampling = Resampling.nearest,
) -> Raster:
    """``raster`` reprojected onto a given grid (``crs``, ``transform``, ``shape`` as
    (rows, cols)); float32, NaN where it has no data."""
    out = np.full((raster.count, *shape), np.nan, dtype=np.float32)
    warp_bands(
        float_with_nan(raster.data, raster.nodata),
        out,
        names=raster.band_names,
        src_transform=raster.transform,
        src_crs=raster.crs,
        dst_transform=transform,
        dst_crs=crs,
        resampling=resampling,
    )
    return raster.replace(data=out, transform=transform, crs=crs, nodata=float("nan"))


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone (EPSG:326xx north, 327xx south) containing (lon, lat) degrees."""
    zones = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if not zones:
        raise InputError(f"no UTM zone for lon {lon:.4f}, lat {lat:.4f}")
    return CRS.from_epsg(zones[0].code)


def needs_metric_grid(transform, crs, shape: tuple[int, int], mode: str = "metric") -> bool:
    """Whether a grid must be warped onto UTM under ``mode`` (see the module's doc)."""
    if mode not in GRID_MODES:
        raise InputError(f"grid mode must be one of {GRID_MODES}, got {mode!r}")
    if mode == "native":
        return False
    if CRS.from_user_input(crs).is_geographic:
        return True
    ground_x, ground_y = ground_pixel_size(transform, crs, shape)
    if mode == "square":
        return abs(ground_x / ground_y - 1.0) > SCALE_TOLERANCE
    nominal = (abs(transform.a), abs(transform.e))
    return any(
        abs(g / n - 1.0) > SCALE_TOLERANCE
        for g, n in zip((ground_x, ground_y), nominal, strict=True)
    )


def to_metric(raster: Raster, *, mode: str = "metric", source: str = "input") -> Raster:
    """``raster`` on a metric grid: unchanged when ``mode`` allows its grid, else warped
    onto the UTM zone of its centre.

    Parameters
    ----------
    raster : Raster
        Any scene.
    mode : {"metric", "square", "native"}
        Which grids are kept (module doc).
    source : str
        Name used in the log and in errors.

    Returns
    -------
    Raster
        ``raster`` itself, or on UTM with square pixels as fine as the finer ground side
        of the input's (0.1 m steps; a coarser pixel would skip source columns and
        break hulls one pixel wide), float32, NaN outside the input, ``time``,
        ``sensor`` and band names kept. Nearest-neighbour resampling: it creates no
        values, so speckle statistics (the looks the CFAR and change tests estimate)
        and SCL class codes survive.
    """
    if not needs_metric_grid(raster.transform, raster.crs, raster.shape, mode):
        return raster
    rows, cols = raster.shape
    centre_x, centre_y = raster.transform * (cols / 2.0, rows / 2.0)
    lon, lat = to_lonlat([centre_x], [centre_y], raster.crs)
    target = utm_crs_for(float(lon[0]), float(lat[0]))
    ground = ground_pixel_size(raster.transform, raster.crs, raster.shape)
    resolution = max(0.1, round(min(ground) * 10.0) / 10.0)
    warped = warp_to(raster, target, resolution=resolution)
    log.info(
        "%s: %s grid warped onto %s at %.1f m (%d x %d px)",
        source,
        raster.crs.to_string(),
        target.to_string(),
        resolution,
        warped.width,
        warped.height,
    )
    return warped
