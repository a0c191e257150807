"""Reading and writing rasters: GeoTIFF and Cloud-Optimized GeoTIFF through rasterio.

``read_raster`` reads a whole file or a window of it (by pixel window or by bounds)
into a :class:`~imagery.raster.Raster`; ``write_raster`` writes one atomically as a
tiled, compressed GeoTIFF or a COG with overviews. Acquisition time, sensor and band
names round-trip through GeoTIFF tags and band descriptions.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError as _RioIOError
from rasterio.windows import Window, from_bounds

from imagery.atomic import atomic_path
from imagery.errors import EmptyRasterError, InputError, NoOverlapError, RasterIOError
from imagery.raster import Raster

__all__ = [
    "AOI_READ_MARGIN_M",
    "RasterInfo",
    "open_raster",
    "parse_time",
    "raster_info",
    "raster_tags",
    "read_raster",
    "read_raster_around",
    "write_raster",
]

#: Ground read around an AOI beyond its polygon: the CFAR's guard band and background
#: ring (500 m + 800 m, ``imagery.cfar``) with room to spare, so that a vessel at the
#: AOI's edge has its whole background ring. What is estimated over a whole scene (the
#: water mask's split, the open water's reflectance) comes from the window read, as it
#: does from the AOI's scenes in the imagery store.
AOI_READ_MARGIN_M = 2000.0
#: Metres per degree of latitude (mean).
_METRES_PER_DEGREE = 111_320.0

log = logging.getLogger(__name__)

TIME_TAG = "ACQUISITION_TIME"
SENSOR_TAG = "SENSOR"
#: SAR viewing geometry (:class:`imagery.raster.Raster`), in degrees.
LOOK_AZIMUTH_TAG = "LOOK_AZIMUTH_DEG"
INCIDENCE_TAG = "INCIDENCE_DEG"
#: Pass direction of a stored scene ("ASCENDING" or "DESCENDING", ``imagery.store``).
ORBIT_DIRECTION_TAG = "ORBIT_DIRECTION"

_TIME_PATTERNS = (
    (re.compile(r"(?<!\d)(\d{8})T(\d{6})(?!\d)"), "%Y%m%d%H%M%S"),
    (re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})[T_ ](\d{2}:?\d{2}:?\d{2})"), None),
    (re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)"), "%Y-%m-%d"),
    (re.compile(r"(?<!\d)(20\d{6})(?!\d)"), "%Y%m%d"),
)


@dataclasses.dataclass(frozen=True)
class RasterInfo:
    """What a raster file holds, read from its header only (no pixels)."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS
    transform: Affine
    nodata: float | None
    band_names: tuple[str, ...]
    time: datetime | None
    sensor: str | None
    block_shapes: tuple[tuple[int, int], ...]
    look_azimuth_deg: float | None = None
    incidence_deg: float | None = None

    def geometry_tags(self) -> dict[str, str]:
        """The SAR viewing geometry as dataset tags, for a file derived from this one."""
        return viewing_tags(self.look_azimuth_deg, self.incidence_deg)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        xs = (t.c, t.c + t.a * self.width)
        ys = (t.f, t.f + t.e * self.height)
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def res(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)


def parse_time(text: str) -> datetime | None:
    """Parse an acquisition time from a tag value or a file name; None if there is none.

    Understands ISO 8601 (``2024-05-01T02:03:04Z``), TIFF's ``2024:05:01 02:03:04``, and
    the compact forms in Sentinel product names (``20240501T020304``, ``20240501``).
    """
    text = text.strip()
    if not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    try:
        return _utc(datetime.strptime(text, "%Y:%m:%d %H:%M:%S"))
    except ValueError:
        pass
    for pattern, fmt in _TIME_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        try:
            if fmt is None:
                return _utc(datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}"))
            return _utc(datetime.strptime("".join(match.groups()), fmt))
        except ValueError:
            continue
    return None


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def open_raster(path: str | os.PathLike, sensor: str | None = None):
    """Open a raster file, or a product folder or archive (:mod:`imagery.products`), as
    a rasterio dataset; errors name the path. ``sensor`` picks a product's bands."""
    return _open(Path(path), sensor)


def _open(path: Path, sensor: str | None = None):
    from imagery.products import is_product, product_vrt

    if not path.exists():
        raise RasterIOError(f"{path}: no such file")
    if not path.is_dir() and path.stat().st_size == 0:
        raise EmptyRasterError(f"{path}: file is empty (0 bytes)")
    # A product folder or archive opens as the VRT stacking its band files.
    target = product_vrt(path, sensor) if is_product(path) else path
    try:
        return rasterio.open(target)
    except _RioIOError as exc:
        reason = str(exc).split("\n")[0]
        raise RasterIOError(f"{path}: not a raster GDAL can read ({reason})") from exc


def viewing_tags(look_azimuth_deg: float | None, incidence_deg: float | None) -> dict[str, str]:
    """Dataset tags of a SAR viewing geometry (none when unknown)."""
    tags = {}
    if look_azimuth_deg is not None:
        # Rounded before wrapping, so that 359.9996 is written as 0.000, not 360.000.
        tags[LOOK_AZIMUTH_TAG] = f"{round(look_azimuth_deg, 3) % 360.0:.3f}"
    if incidence_deg is not None:
        tags[INCIDENCE_TAG] = f"{incidence_deg:.3f}"
    return tags


def _angle_tag(
    tags: dict, key: str, path: Path, lo: float, hi: float, *, open_low: bool = False
) -> float | None:
    text = tags.get(key)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}: tag {key}={text!r} is not a number of degrees") from None
    if not (lo < value if open_low else lo <= value) or not value < hi:
        raise InputError(f"{path}: tag {key}={value} lies outside {lo}-{hi} degrees")
    return value


def _look_azimuth(
    tags: dict, path: Path, sensor: str | None, crs, transform, shape
) -> float | None:
    """The look recorded in ``tags``, else, for an S1 file, the look of its pass direction
    (the store's ``ORBIT_DIRECTION`` tag) at its centre."""
    look = _angle_tag(tags, LOOK_AZIMUTH_TAG, path, 0.0, 360.0)
    direction = tags.get(ORBIT_DIRECTION_TAG, "").strip().upper()
    if look is not None or sensor != "s1" or direction not in ("ASCENDING", "DESCENDING"):
        return look
    from imagery.layover import s1_look_azimuth_over

    return s1_look_azimuth_over(direction, transform, crs, shape)


def _header(ds, path: Path) -> RasterInfo:
    if ds.width == 0 or ds.height == 0 or ds.count == 0:
        raise EmptyRasterError(
            f"{path}: raster has no pixels ({ds.count} x {ds.height} x {ds.width})"
        )
    if ds.crs is None:
        raise InputError(f"{path}: raster has no CRS; portwatch needs georeferenced input")
    if ds.transform == Affine.identity():
        raise InputError(f"{path}: raster has no geotransform; portwatch needs georeferenced input")
    tags = ds.tags()
    when = None
    for key in (TIME_TAG, "TIFFTAG_DATETIME", "DATETIME", "time"):
        if tags.get(key):
            when = parse_time(tags[key])
            if when is not None:
                break
    if when is None:
        when = parse_time(path.stem)
    sensor = tags.get(SENSOR_TAG, "").lower() or None
    if sensor not in (None, "s1", "s2"):
        sensor = None
    names = tuple(d or "" for d in ds.descriptions)
    if not any(names):
        names = ()
    return RasterInfo(
        path=path,
        width=ds.width,
        height=ds.height,
        count=ds.count,
        dtype=ds.dtypes[0],
        crs=ds.crs,
        transform=ds.transform,
        nodata=ds.nodata,
        band_names=names,
        time=when,
        sensor=sensor,
        block_shapes=tuple(ds.block_shapes),
        look_azimuth_deg=_look_azimuth(
            tags, path, sensor, ds.crs, ds.transform, (ds.height, ds.width)
        ),
        incidence_deg=_angle_tag(tags, INCIDENCE_TAG, path, 0.0, 90.0, open_low=True),
    )


def raster_info(path: str | os.PathLike, *, sensor: str | None = None) -> RasterInfo:
    """Read a raster file's header (size, grid, bands, time) without its pixels.

    ``sensor`` says which bands to stack when ``path`` is a product folder or archive
    (:func:`imagery.products.product_vrt`); by default the file names tell.

    Raises
    ------
    RasterIOError
        The file is missing or not a raster.
    EmptyRasterError
        The raster has no pixels.
    InputError
        The raster is not georeferenced.
    """
    path = Path(path)
    with _open(path, sensor) as ds:
        return _header(ds, path)


def read_raster(
    path: str | os.PathLike,
    *,
    window: Window | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    bands: Sequence[int] | None = None,
    sensor: str | None = None,
    require_valid: bool = True,
    decimation: int = 1,
) -> Raster:
    """Read a raster file, or a window of it, into a :class:`Raster`.

    Parameters
    ----------
    path : path-like
        GeoTIFF, COG or any raster GDAL reads; or a product folder or zip archive (a
        Sentinel-2 L2A ``.SAFE``, a folder of single-band files named by band), read
        as one raster through :func:`imagery.products.product_vrt`.
    window : rasterio.windows.Window, optional
        Pixel window to read; clipped to the file.
    bounds : (left, bottom, right, top), optional
        Alternative to ``window``: the part of the file covering these bounds in the
        file's CRS, snapped outward to whole pixels.
    bands : sequence of int, optional
        1-based band indexes to read; all bands by default.
    sensor : {"s1", "s2"}, optional
        Overrides the sensor stored in the file's tags; for a product folder, also says
        which bands to stack.
    require_valid : bool, default True
        Raise :class:`EmptyRasterError` when no pixel of the read is valid in every
        band (Sentinel-1 and -2: in any band).
    decimation : int, default 1
        Read every ``decimation`` x ``decimation`` block of pixels as one (the block
        average; the nearest class for an ``SCL`` band), through GDAL's overviews
        when the file has them: a quick look at a tile without reading it whole.

    Returns
    -------
    Raster
        Data shaped (band, row, col), with the window's own transform (pixels
        ``decimation`` times larger when decimated).
    """
    path = Path(path)
    if window is not None and bounds is not None:
        raise InputError("give either window or bounds, not both")
    if decimation < 1:
        raise InputError(f"decimation must be a positive integer, not {decimation}")
    with _open(path, sensor) as ds:
        info = _header(ds, path)
        if bounds is not None:
            window = from_bounds(*bounds, transform=ds.transform)
            window = window.round_offsets(op="floor").round_lengths(op="ceil")
        if window is not None:
            full = Window(0, 0, ds.width, ds.height)
            try:
                window = window.intersection(full)
            except Exception as exc:
                raise NoOverlapError(
                    f"{path}: requested window {window} lies outside the raster"
                ) from exc
            if window.width < 1 or window.height < 1:
                raise NoOverlapError(f"{path}: requested window {window} lies outside the raster")
        indexes = list(bands) if bands is not None else list(range(1, ds.count + 1))
        bad = [b for b in indexes if not 1 <= b <= ds.count]
        if bad:
            raise InputError(f"{path}: band(s) {bad} requested but the file has {ds.count} band(s)")
        try:
            if decimation == 1:
                data = ds.read(indexes, window=window)
            else:
                data = _read_decimated(ds, indexes, window, decimation, info.band_names)
        except _RioIOError as exc:
            raise RasterIOError(
                f"{path}: cannot read pixels ({exc}); the file may be truncated"
            ) from exc
        transform = ds.window_transform(window) if window is not None else ds.transform
        if decimation > 1:
            rows, cols = data.shape[-2:]
            height = window.height if window is not None else ds.height
            width = window.width if window is not None else ds.width
            transform = transform * Affine.scale(width / cols, height / rows)
    names = tuple(info.band_names[i - 1] for i in indexes) if info.band_names else ()
    raster = Raster(
        data=data,
        transform=transform,
        crs=info.crs,
        nodata=info.nodata,
        time=info.time,
        sensor=sensor or info.sensor,
        band_names=names if all(names) else (),
        look_azimuth_deg=info.look_azimuth_deg,
        incidence_deg=info.incidence_deg,
    )
    # A band empty where others hold data (an unfilled VH beside VV, an SCL of class 0
    # alone) is for the sensor's preparation to judge (imagery.sensors).
    every_band = raster.sensor not in ("s1", "s2")
    if require_valid and not raster.valid_mask(every_band=every_band).any():
        where = "the requested window" if window is not None else "the raster"
        raise EmptyRasterError(f"{path}: {where} holds only nodata")
    return raster


def overview_count(height: int, width: int, *, smallest_px: int = 256) -> int:
    """COG overview levels (each halving) until the larger side is at most ``smallest_px``.

    GDAL's ``OVERVIEWS=AUTO`` stops once a level fits one block, so a raster of one or
    two 512 px blocks (an AOI) would get none and redraw at full resolution when zoomed
    out; this counts down to a thumbnail whatever the block size.
    """
    return max(1, math.ceil(math.log2(max(height, width, 1) / smallest_px)))


def _read_decimated(ds, indexes, window, decimation, band_names) -> np.ndarray:
    """Block-averaged read (nearest for class bands), shaped (band, row, col)."""
    height = window.height if window is not None else ds.height
    width = window.width if window is not None else ds.width
    shape = (max(1, math.ceil(height / decimation)), max(1, math.ceil(width / decimation)))
    planes = []
    for index in indexes:
        name = band_names[index - 1].upper() if band_names and band_names[index - 1] else ""
        how = Resampling.nearest if name == "SCL" else Resampling.average
        planes.append(ds.read(index, window=window, out_shape=shape, resampling=how))
    return np.stack(planes)


def raster_tags(raster: Raster) -> dict[str, str]:
    """The dataset tags that carry ``raster``'s time, sensor and viewing geometry."""
    tags = {}
    if raster.time is not None:
        tags[TIME_TAG] = raster.time.isoformat().replace("+00:00", "Z")
    if raster.sensor is not None:
        tags[SENSOR_TAG] = raster.sensor
    tags.update(viewing_tags(raster.look_azimuth_deg, raster.incidence_deg))
    return tags


def write_raster(
    raster: Raster,
    path: str | os.PathLike,
    *,
    cog: bool = True,
    compress: str = "deflate",
    blocksize: int = 512,
    overviews: bool = True,
    resampling: str = "average",
    tags: dict[str, str] | None = None,
) -> Path:
    """Write ``raster`` to ``path`` atomically as a COG (default) or tiled GeoTIFF.

    Parameters
    ----------
    raster : Raster
    path : path-like
        Target file; replaced atomically, its directory is created.
    cog : bool, default True
        Write a Cloud-Optimized GeoTIFF (GDAL's COG driver) with internal overviews.
    compress : str, default "deflate"
    blocksize : int, default 512
        Tile size in pixels.
    overviews : bool, default True
        Build overviews (COG only); ``resampling`` names their resampling.
    tags : dict, optional
        Extra dataset tags.

    Returns
    -------
    Path
    """
    path = Path(path)
    data = raster.data
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    profile = {
        "count": raster.count,
        "height": raster.height,
        "width": raster.width,
        "dtype": data.dtype,
        "crs": raster.crs,
        "transform": raster.transform,
        "nodata": raster.nodata,
        "compress": compress,
    }
    if data.dtype in (np.float32, np.float64):
        profile["predictor"] = 3 if not cog else "YES"
    if cog:
        profile.update(
            driver="COG",
            BLOCKSIZE=blocksize,
            OVERVIEWS="AUTO" if overviews else "NONE",
            OVERVIEW_RESAMPLING=resampling.upper(),
            BIGTIFF="IF_SAFER",
        )
        if overviews:
            profile["OVERVIEW_COUNT"] = overview_count(raster.height, raster.width)
    else:
        profile.update(
            driver="GTiff",
            tiled=True,
            blockxsize=blocksize,
            blockysize=blocksize,
            BIGTIFF="IF_SAFER",
        )
    all_tags = {**(tags or {}), **raster_tags(raster)}
    try:
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data)
            for i, name in enumerate(raster.band_names, start=1):
                dst.set_band_description(i, name)
            if all_tags:
                dst.update_tags(**all_tags)
    except _RioIOError as exc:
        raise RasterIOError(f"{path}: cannot write raster ({exc})") from exc
    log.debug("wrote %s (%s)", path, "COG" if cog else "GTiff")
    return path


def read_raster_around(
    path: str | os.PathLike,
    lonlat_bounds: tuple[float, float, float, float],
    *,
    margin_m: float = AOI_READ_MARGIN_M,
    **kwargs,
) -> Raster:
    """Read only the part of a raster around an area given in longitude/latitude.

    What a scene much larger than a port needs: a Sentinel-2 product holds a
    110 km x 110 km tile, a port a few kilometres of it.

    Parameters
    ----------
    path : path-like
        As for :func:`read_raster` (a file, or a product folder or archive).
    lonlat_bounds : (west, south, east, north)
        The area, in degrees (WGS84), e.g. :attr:`imagery.aoi.AOI.bounds`.
    margin_m : float, default ``AOI_READ_MARGIN_M``
        Ground added on every side, metres.
    **kwargs
        Passed to :func:`read_raster` (``sensor``, ``bands``, ``require_valid``).

    Returns
    -------
    Raster
        The window of the file covering the area and its margin (the whole file when
        that covers less), on the file's own grid.

    Raises
    ------
    NoOverlapError
        The area does not overlap the raster.
    """
    from rasterio.warp import transform_bounds

    info = raster_info(path, sensor=kwargs.get("sensor"))
    west, south, east, north = lonlat_bounds
    dlat = margin_m / _METRES_PER_DEGREE
    # Longitude degrees shrink towards the poles; take the narrowest latitude's.
    widest = max(abs(south), abs(north)) + dlat
    dlon = margin_m / (_METRES_PER_DEGREE * max(math.cos(math.radians(min(widest, 89.0))), 1e-3))
    wanted = transform_bounds(
        "EPSG:4326",
        info.crs,
        west - dlon,
        max(south - dlat, -90.0),
        east + dlon,
        min(north + dlat, 90.0),
        densify_pts=21,
    )
    left, bottom, right, top = rasterio.transform.array_bounds(
        info.height, info.width, info.transform
    )
    if wanted[0] >= right or wanted[2] <= left or wanted[1] >= top or wanted[3] <= bottom:
        raise NoOverlapError(
            f"{path}: the area {tuple(round(v, 4) for v in lonlat_bounds)} (lon/lat) lies "
            "outside the scene"
        )
    if wanted[0] <= left and wanted[1] <= bottom and wanted[2] >= right and wanted[3] >= top:
        return read_raster(path, **kwargs)
    return read_raster(path, bounds=wanted, **kwargs)
