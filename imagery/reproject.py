"""Scenes on a geographic grid (degrees), warped onto their local UTM zone.

Every window, buffer and size in portwatch is in metres, and a pixel is assumed square
on the ground. Exports in EPSG:4326 (Copernicus Browser's default, many Sentinel Hub
requests) break both: a pixel of 0.0001 degree is 11 m north-south and 11 cos(latitude)
m east-west. :func:`to_metric` puts such a scene on the UTM grid of its centre, at its
pixels' ground size, before anything is measured. Projected grids pass untouched.

References
----------
Snyder, J. P. (1987). Map projections: a working manual. USGS Professional Paper 1395
(the transverse Mercator projection and its zones).
"""

from __future__ import annotations

import logging

import numpy as np
from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from rasterio.warp import Resampling, calculate_default_transform, reproject

from imagery.errors import InputError
from imagery.grid import SCALE_TOLERANCE, ground_pixel_size, to_lonlat
from imagery.raster import Raster

__all__ = ["needs_metric_grid", "to_metric", "utm_crs_for"]

log = logging.getLogger(__name__)


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone (EPSG:326xx north, 327xx south) containing (lon, lat) degrees."""
    zones = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if not zones:
        raise InputError(f"no UTM zone for lon {lon:.4f}, lat {lat:.4f}")
    return CRS.from_epsg(zones[0].code)


def needs_metric_grid(transform, crs, shape: tuple[int, int]) -> bool:
    """Whether a grid's pixels are not squares on the ground (to :data:`SCALE_TOLERANCE`):
    a geographic CRS. Conformal projections (UTM, Web Mercator) have square pixels whose
    ground side :func:`imagery.grid.pixel_size_m` gives."""
    if CRS.from_user_input(crs).is_geographic:
        return True
    ground_x, ground_y = ground_pixel_size(transform, crs, shape)
    return abs(ground_x / ground_y - 1.0) > SCALE_TOLERANCE


def to_metric(raster: Raster, *, source: str = "input") -> Raster:
    """``raster`` on a metric grid: unchanged when projected, else warped onto UTM.

    Parameters
    ----------
    raster : Raster
        Any scene; a geographic CRS (degrees) is warped.
    source : str
        Name used in the log and in errors.

    Returns
    -------
    Raster
        On the UTM zone of the scene's centre with square pixels of the input pixels'
        ground area (the geometric mean of their sides, in 0.1 m steps), float32, NaN
        outside the input. Nearest-neighbour resampling: it creates no values, so speckle
        statistics (the looks the CFAR and change tests estimate) and SCL class codes
        survive.
    """
    if not needs_metric_grid(raster.transform, raster.crs, raster.shape):
        return raster
    rows, cols = raster.shape
    centre_x, centre_y = raster.transform * (cols / 2.0, rows / 2.0)
    lon, lat = to_lonlat([centre_x], [centre_y], raster.crs)
    target = utm_crs_for(float(lon[0]), float(lat[0]))
    ground = ground_pixel_size(raster.transform, raster.crs, raster.shape)
    resolution = max(0.1, round(float(np.sqrt(ground[0] * ground[1])) * 10.0) / 10.0)
    transform, width, height = calculate_default_transform(
        raster.crs, target, cols, rows, *raster.bounds, resolution=resolution
    )
    source_data = raster.data.astype(np.float32)
    if raster.nodata is not None and not np.isnan(raster.nodata):
        source_data = np.where(source_data == raster.nodata, np.nan, source_data)
    out = np.full((raster.count, height, width), np.nan, dtype=np.float32)
    for band in range(raster.count):
        reproject(
            source_data[band],
            out[band],
            src_transform=raster.transform,
            src_crs=raster.crs,
            src_nodata=np.nan,
            dst_transform=transform,
            dst_crs=target,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    log.info(
        "%s: geographic grid warped onto %s at %.1f m (%d x %d px)",
        source,
        target.to_string(),
        resolution,
        width,
        height,
    )
    return raster.replace(data=out, transform=transform, crs=target, nodata=float("nan"))
