"""Bringing the moving scene onto the reference grid, for measuring only.

The measurement compares both scenes pixel for pixel on the reference grid, so a moving
scene in another CRS, resolution or extent is resampled onto it first (cubic, or area
average when it is much finer). The correction found is later composed into the moving
scene's own transform and the original pixels are resampled once
(:mod:`imagery.registration.apply`); nothing resampled here is kept.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import from_bounds

from imagery.raster import Raster

__all__ = [
    "estimation_resampling",
    "mask_onto",
    "onto_reference",
    "overlap_window",
    "res_in",
    "same_grid",
]


def same_grid(a_transform, a_crs, a_shape, b_transform, b_crs, b_shape) -> bool:
    """Whether two (transform, CRS, shape) describe the same pixel grid."""
    return (
        a_crs == b_crs
        and tuple(a_shape) == tuple(b_shape)
        and a_transform.almost_equals(b_transform)
    )


def estimation_resampling(moving_res: float, reference_res: float) -> Resampling:
    """Resampling that brings the moving scene onto the reference grid for measuring.

    Cubic keeps the texture when the grids are alike or the moving scene is coarser;
    a moving scene more than 1.5 times finer is area-averaged, as cubic would alias.
    Resolutions are pixel sizes in the reference CRS units (approximately).
    """
    return Resampling.average if moving_res * 1.5 < reference_res else Resampling.cubic


def res_in(crs, bounds, shape: tuple[int, int], target_crs, res: tuple[float, float]) -> float:
    """A grid's pixel size expressed in ``target_crs`` units, roughly (over its bounds)."""
    if crs == target_crs:
        return min(res)
    left, bottom, right, top = transform_bounds(crs, target_crs, *bounds, densify_pts=21)
    return min((right - left) / shape[1], (top - bottom) / shape[0])


def overlap_window(
    shape: tuple[int, int],
    transform: Affine,
    crs,
    other_bounds: tuple[float, float, float, float],
    other_crs,
) -> tuple[int, int, int, int]:
    """The reference pixels (row0, row1, col0, col1) covered by another scene's bounds."""
    if other_crs != crs:
        other_bounds = transform_bounds(other_crs, crs, *other_bounds, densify_pts=21)
    win = from_bounds(*other_bounds, transform=transform)
    row0 = max(0, math.ceil(win.row_off - 1e-6))
    col0 = max(0, math.ceil(win.col_off - 1e-6))
    row1 = min(shape[0], math.floor(win.row_off + win.height + 1e-6))
    col1 = min(shape[1], math.floor(win.col_off + win.width + 1e-6))
    return row0, max(row0, row1), col0, max(col0, col1)


def mask_onto(mask: np.ndarray, src_transform, src_crs, reference_like) -> np.ndarray:
    """A boolean mask warped (nearest) onto the reference grid; False outside it."""
    transform, crs, shape = reference_like
    out = np.zeros(shape, dtype=np.uint8)
    reproject(
        source=mask.astype(np.uint8),
        destination=out,
        src_transform=src_transform,
        src_crs=src_crs,
        dst_transform=transform,
        dst_crs=crs,
        resampling=Resampling.nearest,
    )
    return out.astype(bool)


def onto_reference(moving: Raster, reference: Raster) -> Raster:
    """The moving raster resampled (cubic or average; SCL nearest) onto the reference grid."""
    out = np.full((moving.count, *reference.shape), np.nan, dtype=np.float32)
    data = moving.data.astype(np.float32, copy=False)
    moving_res = res_in(moving.crs, moving.bounds, moving.shape, reference.crs, moving.res)
    method = estimation_resampling(moving_res, min(reference.res))
    for i in range(moving.count):
        code = bool(moving.band_names) and moving.band_names[i].upper() == "SCL"
        reproject(
            source=data[i],
            destination=out[i],
            src_transform=moving.transform,
            src_crs=moving.crs,
            src_nodata=np.nan,
            dst_transform=reference.transform,
            dst_crs=reference.crs,
            dst_nodata=np.nan,
            resampling=Resampling.nearest if code else method,
        )
    return moving.replace(data=out, transform=reference.transform, crs=reference.crs)
