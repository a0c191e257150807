"""The raster value type that travels through the pipeline.

A :class:`Raster` is an immutable bundle of a ``(band, row, col)`` array and everything
needed to put it on the ground and in time: affine transform, CRS, nodata value,
acquisition time, sensor and band names. Functions that change the grid return a new
``Raster`` with the new transform, never a bare array.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import array_bounds

from imagery.errors import BandError, InputError

__all__ = ["Raster", "as_utc"]

SENSORS = ("s1", "s2")


def as_utc(when: datetime | None) -> datetime | None:
    """Return ``when`` as a timezone-aware UTC datetime (naive input is taken as UTC)."""
    if when is None:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


@dataclasses.dataclass(frozen=True, eq=False)
class Raster:
    """A georeferenced multi-band raster.

    Parameters
    ----------
    data : ndarray, shape (band, row, col)
        Pixel values. A 2-D array is accepted and given a band axis of length one.
    transform : affine.Affine
        Maps (col, row) pixel corners to (x, y) in ``crs`` units.
    crs : rasterio.crs.CRS
        Coordinate reference system of ``transform``; anything ``CRS.from_user_input``
        accepts is converted.
    nodata : float, optional
        Value marking missing pixels. NaN is honoured for float arrays even when
        ``nodata`` is None.
    time : datetime, optional
        Acquisition time, stored as UTC.
    sensor : {"s1", "s2"}, optional
        The sensor the values come from.
    band_names : sequence of str, optional
        One name per band ("VV", "VH", "B02", ...). Empty when unknown.
    look_azimuth_deg, incidence_deg : float, optional
        SAR viewing geometry: the compass direction the radar looks across the ground
        (degrees clockwise from north, from the sensor towards the scene; Sentinel-1 is
        right-looking, so about 80 ascending and 280 descending) and the incidence angle
        at the scene (degrees from the vertical). What stands above the ground lies
        over towards the sensor in a ground-range image (:mod:`imagery.layover`).
    """

    data: np.ndarray
    transform: Affine
    crs: CRS
    nodata: float | None = None
    time: datetime | None = None
    sensor: str | None = None
    band_names: tuple[str, ...] = ()
    look_azimuth_deg: float | None = None
    incidence_deg: float | None = None

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim == 2:
            data = data[np.newaxis]
        if data.ndim != 3:
            raise InputError(f"raster data must be (band, row, col), got shape {data.shape}")
        object.__setattr__(self, "data", data)
        if not isinstance(self.transform, Affine):
            object.__setattr__(self, "transform", Affine(*tuple(self.transform)[:6]))
        if self.crs is None:
            raise InputError("a raster needs a CRS; got None")
        if not isinstance(self.crs, CRS):
            object.__setattr__(self, "crs", CRS.from_user_input(self.crs))
        object.__setattr__(self, "time", as_utc(self.time))
        if self.sensor is not None and self.sensor not in SENSORS:
            raise InputError(f"sensor must be one of {SENSORS}, got {self.sensor!r}")
        names = tuple(str(n) for n in self.band_names)
        if names and len(names) != data.shape[0]:
            raise InputError(f"{len(names)} band names given for {data.shape[0]} bands: {names}")
        object.__setattr__(self, "band_names", names)
        if self.look_azimuth_deg is not None:
            object.__setattr__(self, "look_azimuth_deg", float(self.look_azimuth_deg) % 360.0)
        if self.incidence_deg is not None and not 0.0 < float(self.incidence_deg) < 90.0:
            raise InputError(
                f"incidence must lie between 0 and 90 degrees, got {self.incidence_deg}"
            )

    # -- shape and grid ---------------------------------------------------------
    @property
    def count(self) -> int:
        """Number of bands."""
        return int(self.data.shape[0])

    @property
    def height(self) -> int:
        """Number of rows."""
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        """Number of columns."""
        return int(self.data.shape[2])

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of one band."""
        return self.height, self.width

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, both positive."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def pixel_m(self) -> float:
        """Side of a pixel on the ground, metres (:func:`imagery.grid.pixel_size_m`):
        the nominal resolution on UTM, 10 cos(latitude) m for 10 Web Mercator units."""
        from imagery.grid import pixel_size_m

        return pixel_size_m(self.transform, self.crs, self.shape)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        west, south, east, north = array_bounds(self.height, self.width, self.transform)
        return west, south, east, north

    # -- bands --------------------------------------------------------------------
    def band_index(self, name: str) -> int:
        """Zero-based index of the band called ``name`` (case-insensitive)."""
        wanted = name.upper()
        for i, have in enumerate(self.band_names):
            if have.upper() == wanted:
                return i
        raise BandError(f"no band {name!r} in raster with bands {list(self.band_names)}")

    def has_band(self, name: str) -> bool:
        return name.upper() in (n.upper() for n in self.band_names)

    def band(self, name: str) -> np.ndarray:
        """The 2-D array of band ``name``."""
        return self.data[self.band_index(name)]

    def select(self, names: Sequence[str]) -> Raster:
        """A raster holding only the bands ``names``, in that order."""
        idx = [self.band_index(n) for n in names]
        return self.replace(data=self.data[idx], band_names=tuple(self.band_names[i] for i in idx))

    def window(self, rows: slice, cols: slice) -> Raster:
        """The block ``rows`` x ``cols`` (slices with a step of 1) of every band, on its
        own transform: a cut of the scene, georeferenced where it lies."""
        row0, _, row_step = rows.indices(self.height)
        col0, _, col_step = cols.indices(self.width)
        if row_step != 1 or col_step != 1:
            raise ValueError("a window's rows and columns are contiguous (step 1)")
        return self.replace(
            data=self.data[:, rows, cols],
            transform=self.transform * Affine.translation(col0, row0),
        )

    # -- validity -----------------------------------------------------------------
    def valid_mask(self, *, every_band: bool = True) -> np.ndarray:
        """Boolean (row, col) array, True where every band holds a valid value (or, with
        ``every_band=False``, where any band does)."""
        data = self.data
        valid = np.isfinite(data) if np.issubdtype(data.dtype, np.floating) else None
        if self.nodata is not None and not (
            isinstance(self.nodata, float) and np.isnan(self.nodata)
        ):
            declared = data != self.nodata
            valid = declared if valid is None else np.logical_and(valid, declared, out=valid)
        if valid is None:
            return np.ones(self.shape, dtype=bool)
        return valid.all(axis=0) if every_band else valid.any(axis=0)

    # -- copies -------------------------------------------------------------------
    def replace(self, **changes: Any) -> Raster:
        """A copy with the given fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_xarray(self):
        """The raster as an ``xarray.DataArray`` (band, y, x) with a CF ``spatial_ref``.

        Coordinates are pixel centres; CRS and transform are written the way rioxarray
        writes them, so ``da.rio.crs`` and ``da.rio.transform()`` round-trip.
        """
        import rioxarray  # noqa: F401  (registers the .rio accessor)
        import xarray as xr

        t = self.transform
        xs = t.c + t.a * (np.arange(self.width) + 0.5)
        ys = t.f + t.e * (np.arange(self.height) + 0.5)
        bands = list(self.band_names) or list(range(1, self.count + 1))
        da = xr.DataArray(
            self.data, dims=("band", "y", "x"), coords={"band": bands, "y": ys, "x": xs}
        )
        da = da.rio.write_crs(self.crs).rio.write_transform(t)
        if self.nodata is not None:
            da = da.rio.write_nodata(self.nodata)
        if self.time is not None:
            da.attrs["time"] = self.time.isoformat()
        if self.sensor is not None:
            da.attrs["sensor"] = self.sensor
        return da

    def __repr__(self) -> str:
        when = self.time.isoformat() if self.time else None
        return (
            f"Raster(shape={self.data.shape}, dtype={self.dtype}, crs={self.crs.to_string()}, "
            f"res={self.res}, bands={list(self.band_names)}, sensor={self.sensor}, time={when})"
        )
