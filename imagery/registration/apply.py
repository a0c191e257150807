"""Apply a :class:`Registration`: resample the original moving data once, onto the reference grid.

The estimated correction is composed into the moving scene's own transform, and
``rasterio.warp.reproject`` does the rest in one resampling of the original pixels:
the correction, and any change of CRS, resolution or extent between the scenes.
``apply_registration_files`` does the same strip by strip into a Cloud-Optimized GeoTIFF,
so a full tile never sits in memory.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import transform, transform_bounds
from rasterio.windows import Window

from imagery.atomic import atomic_path
from imagery.errors import InputError, PortwatchError, RasterIOError
from imagery.io import TIME_TAG, open_raster, overview_count, raster_info
from imagery.raster import Raster
from imagery.registration.model import Registration
from imagery.reproject import float_with_nan, warp_bands

__all__ = [
    "apply_georeferencing",
    "apply_registration",
    "apply_registration_files",
    "corrected_transform",
]

log = logging.getLogger(__name__)

#: Bands holding class codes, resampled with nearest neighbour whatever is asked.


def _resampling(name: str) -> Resampling:
    try:
        return Resampling[name]
    except KeyError:
        options = "nearest, bilinear, cubic, cubic_spline, lanczos, average"
        raise InputError(f"unknown resampling {name!r}; use one of {options}") from None


def corrected_transform(reg: Registration, moving_transform: Affine, moving_crs) -> Affine:
    """The moving scene's transform with the registration's correction composed in.

    Reprojecting the moving scene with this transform onto the reference grid samples
    it at ``reg.matrix @ p`` for every reference pixel ``p`` (see
    :class:`~imagery.registration.model.Registration`). Exact when both scenes share a
    CRS; across CRSs the correction is fitted as an affine map in the moving CRS over a
    9 x 9 grid of points spanning the reference, which leaves errors far below 0.01 px
    for shifts of a few pixels.
    """
    ref_t, ref_crs = reg.reference_transform, reg.reference_crs
    correction = reg.affine
    if moving_crs == ref_crs:
        return ref_t * ~correction * ~ref_t * moving_transform
    height, width = reg.reference_shape
    gx, gy = np.meshgrid(np.linspace(0, width, 9), np.linspace(0, height, 9))
    px, py = gx.ravel(), gy.ravel()
    # Where each reference pixel p lies in the moving CRS, and which moving pixel must land there.
    wx, wy = transform(ref_crs, moving_crs, *(ref_t * (px, py)))
    cx, cy = correction * (px, py)
    tx, ty = transform(ref_crs, moving_crs, *(ref_t * (cx, cy)))
    sx, sy = ~moving_transform * (np.asarray(tx), np.asarray(ty))
    design = np.column_stack([wx, wy, np.ones_like(px)])
    coef, *_ = np.linalg.lstsq(design, np.column_stack([sx, sy]), rcond=None)
    world_to_pixel = Affine(*coef[:, 0], *coef[:, 1])
    return ~world_to_pixel


def _check_grid(reg: Registration, reference: Raster) -> None:
    if (
        reference.shape != tuple(reg.reference_shape)
        or reference.crs != reg.reference_crs
        or not reference.transform.almost_equals(reg.reference_transform)
    ):
        raise InputError(
            f"the registration was estimated on another reference grid "
            f"({reg.reference_shape[0]} x {reg.reference_shape[1]} px, {reg.reference_crs}) "
            f"than the reference given ({reference.height} x {reference.width} px, {reference.crs})"
        )


def apply_registration(
    moving: Raster, reg: Registration, reference: Raster, *, resampling: str = "bilinear"
) -> Raster:
    """Resample ``moving`` onto the reference grid with the registration's correction.

    Parameters
    ----------
    moving : Raster
        The moving scene on its own grid (any CRS, resolution, extent), as estimated.
    reg : Registration
        From :func:`~imagery.coregister.estimate_registration` with this reference.
    reference : Raster
        Supplies the output grid; it must be the grid ``reg`` was estimated on.
    resampling : str, default "bilinear"
        A :class:`rasterio.enums.Resampling` name; SCL is always resampled nearest.

    Returns
    -------
    Raster
        float32 (band, row, col) on the reference transform and CRS, NaN where the
        moving scene has no data; time, sensor and band names of ``moving``.
    """
    _check_grid(reg, reference)
    return _onto(
        moving, reference, corrected_transform(reg, moving.transform, moving.crs), resampling
    )


def apply_georeferencing(
    moving: Raster, reference: Raster, *, resampling: str = "bilinear"
) -> Raster:
    """Resample ``moving`` onto the reference grid as it is georeferenced, with no
    correction: :func:`apply_registration` for a pair nothing could be measured on
    (open water, ``imagery.detect.align``). Same output."""
    return _onto(moving, reference, moving.transform, resampling)


def _onto(moving: Raster, reference: Raster, src_transform: Affine, resampling: str) -> Raster:
    out = np.full((moving.count, *reference.shape), np.nan, dtype=np.float32)
    warp_bands(
        float_with_nan(moving.data, moving.nodata),
        out,
        names=moving.band_names,
        src_transform=src_transform,
        src_crs=moving.crs,
        dst_transform=reference.transform,
        dst_crs=reference.crs,
        resampling=_resampling(resampling),
    )
    return moving.replace(
        data=out, transform=reference.transform, crs=reference.crs, nodata=float("nan")
    )


def _source_window(ds, src_transform: Affine, bounds, dst_crs, pad: int) -> Window | None:
    """The moving pixels feeding a block with ``bounds`` in the reference CRS, padded."""
    if ds.crs != dst_crs:
        bounds = transform_bounds(dst_crs, ds.crs, *bounds, densify_pts=21)
    left, bottom, right, top = bounds
    cols, rows = ~src_transform * (
        np.array([left, right, left, right]),
        np.array([top, top, bottom, bottom]),
    )
    col0 = max(0, math.floor(cols.min()) - pad)
    row0 = max(0, math.floor(rows.min()) - pad)
    col1 = min(ds.width, math.ceil(cols.max()) + pad)
    row1 = min(ds.height, math.ceil(rows.max()) + pad)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def apply_registration_files(
    moving_path: str | os.PathLike,
    reg: Registration,
    out_path: str | os.PathLike,
    *,
    resampling: str = "bilinear",
    block_rows: int = 1024,
) -> Path:
    """Write the moving file, corrected and on the reference grid, as a COG, strip by strip.

    Parameters
    ----------
    moving_path : path-like
        The moving scene as it was estimated (any band layout, CRS or grid).
    reg : Registration
        Its registration; the output grid is ``reg``'s reference grid.
    out_path : path-like
        Cloud-Optimized GeoTIFF to write (atomically).
    resampling : str, default "bilinear"
        Resampling of the data bands; SCL is always resampled nearest.
    block_rows : int, default 1024
        Rows per strip; memory is about bands x block_rows x width x 4 bytes, twice.

    Returns
    -------
    Path
        float32 bands with NaN nodata, band descriptions and acquisition time kept.
    """
    moving_path, out_path = Path(moving_path), Path(out_path)
    method = _resampling(resampling)
    info = raster_info(moving_path)
    height, width = reg.reference_shape
    dst_t, dst_crs = reg.reference_transform, reg.reference_crs
    profile = {
        "driver": "GTiff",
        "count": info.count,
        "height": height,
        "width": width,
        "dtype": "float32",
        "crs": dst_crs,
        "transform": dst_t,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        # Scratch copy: fast compression; the COG below is compressed properly once.
        "compress": "zstd",
        "zstd_level": 1,
        "BIGTIFF": "IF_SAFER",
    }
    tags = {}
    if info.time is not None:
        tags[TIME_TAG] = info.time.isoformat().replace("+00:00", "Z")
    if info.sensor is not None:
        tags["SENSOR"] = info.sensor
    tags.update(info.geometry_tags())
    try:
        with (
            atomic_path(out_path) as final,
            tempfile.TemporaryDirectory(dir=final.parent, prefix=".coregister-") as scratch,
        ):
            tmp = Path(scratch) / "strips.tif"
            with open_raster(moving_path) as src, rasterio.open(tmp, "w", **profile) as dst:
                src_t = corrected_transform(reg, src.transform, src.crs)
                names = tuple(info.band_names)
                nodata = src.nodata
                if nodata is None and reg.sensor == "s2" and src.dtypes[0].startswith("uint"):
                    nodata = 0  # L2A digital numbers use 0 as fill even when not declared
                for row0 in range(0, height, block_rows):
                    rows = min(block_rows, height - row0)
                    block = Window(0, row0, width, rows)
                    block_t = dst.window_transform(block)
                    out = np.full((info.count, rows, width), np.nan, dtype=np.float32)
                    window = _source_window(src, src_t, dst.window_bounds(block), dst_crs, pad=4)
                    if window is not None:
                        data = float_with_nan(src.read(window=window), nodata)
                        warp_bands(
                            data,
                            out,
                            names=names,
                            src_transform=src_t
                            * Affine.translation(window.col_off, window.row_off),
                            src_crs=src.crs,
                            dst_transform=block_t,
                            dst_crs=dst_crs,
                            resampling=method,
                        )
                    dst.write(out, window=block)
                for i, name in enumerate(names, start=1):
                    if name:
                        dst.set_band_description(i, name)
                if tags:
                    dst.update_tags(**tags)
            rasterio.shutil.copy(
                tmp,
                final,
                driver="COG",
                COMPRESS="DEFLATE",
                PREDICTOR="YES",
                BLOCKSIZE=512,
                OVERVIEWS="AUTO",
                OVERVIEW_COUNT=overview_count(height, width),
                BIGTIFF="IF_SAFER",
                NUM_THREADS="ALL_CPUS",
            )
    except rasterio.errors.RasterioIOError as exc:
        raise RasterIOError(f"{out_path}: cannot write the co-registered raster ({exc})") from exc
    except PortwatchError:
        raise
    except OSError as exc:  # the folder: missing, not writable, a file in the way
        reason = exc.strerror or str(exc)
        where = f": {exc.filename}" if exc.filename is not None else ""
        raise RasterIOError(
            f"{out_path}: cannot write the co-registered raster ({reason}{where})"
        ) from exc
    log.info("wrote %s", out_path)
    return out_path
