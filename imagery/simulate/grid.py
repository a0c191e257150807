"""The simulator's pixel grid and the drawing primitives that put geometry on it.

Everything the simulator draws is geometry in ground metres on the AOI's UTM grid.
Polygons are burnt at ``supersample`` x ``supersample`` sub-pixels per pixel and averaged,
so partial pixel coverage is right and a sub-pixel misregistration moves every edge by
the right amount. Point and line scatterers are splatted bilinearly, which keeps their
centroid exact at any sub-pixel position.

Misregistration convention: a scene rendered with ``render_transform(t, (dx, dy))``
shows the ground feature that lies at pixel ``(col, row)`` of the nominal grid at pixel
``(col + dx, row + dy)``; it is then written with the nominal transform ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from affine import Affine
from rasterio.features import rasterize
from rasterio.transform import from_origin
from shapely.geometry.base import BaseGeometry

__all__ = [
    "block_lut_mean",
    "burn_ids",
    "coverage",
    "pixel_centres",
    "render_transform",
    "scene_transform",
    "splat",
    "to_pixel",
]


def scene_transform(centre_xy: tuple[float, float], *, size_px: int, resolution_m: float) -> Affine:
    """North-up transform of a ``size_px`` square centred on ``centre_xy``.

    The origin is snapped to whole multiples of ``resolution_m``, so grids of the same
    AOI line up with each other and with other products on the same UTM grid.
    """
    half = size_px * resolution_m / 2.0
    left = math.floor((centre_xy[0] - half) / resolution_m + 0.5) * resolution_m
    top = math.floor((centre_xy[1] + half) / resolution_m + 0.5) * resolution_m
    return from_origin(left, top, resolution_m, resolution_m)


def render_transform(transform: Affine, shift_px: tuple[float, float]) -> Affine:
    """The transform to draw a scene with, so its content is displaced by ``shift_px``."""
    dx, dy = shift_px
    return transform * Affine.translation(-dx, -dy)


def to_pixel(transform: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuous (col, row) of ground points; pixel ``i`` spans ``[i, i + 1)``."""
    inv = ~transform
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    col = inv.a * x + inv.b * y + inv.c
    row = inv.d * x + inv.e * y + inv.f
    return col, row


def pixel_centres(transform: Affine, size_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground (x, y) of every pixel centre, each shaped (size_px, size_px)."""
    idx = np.arange(size_px, dtype=np.float64) + 0.5
    cols, rows = np.meshgrid(idx, idx)
    x = transform.a * cols + transform.b * rows + transform.c
    y = transform.d * cols + transform.e * rows + transform.f
    return x, y


def burn_ids(
    shapes: Iterable[tuple[BaseGeometry, int]],
    *,
    transform: Affine,
    size_px: int,
    supersample: int,
) -> np.ndarray:
    """Burn ``(geometry, id)`` pairs in order (later wins) on the supersampled grid.

    Returns
    -------
    ndarray, shape (size_px * supersample, size_px * supersample), int32
        0 where nothing was drawn.
    """
    n = size_px * supersample
    shapes = [(g, int(v)) for g, v in shapes if g is not None and not g.is_empty]
    if not shapes:
        return np.zeros((n, n), dtype=np.int32)
    fine = transform * Affine.scale(1.0 / supersample)
    return rasterize(shapes, out_shape=(n, n), transform=fine, fill=0, dtype="int32")


def block_lut_mean(ids: np.ndarray, lut: np.ndarray, *, supersample: int) -> np.ndarray:
    """Per-pixel mean of ``lut[:, id]`` over each ``supersample`` x ``supersample`` block.

    Parameters
    ----------
    ids : ndarray, shape (n * s, n * s), int
        Output of :func:`burn_ids`.
    lut : ndarray, shape (k, n_ids), float32
        One row per output layer, one column per id.

    Returns
    -------
    ndarray, shape (k, n, n), float32

    Notes
    -----
    Most pixels hold a single id (open water, the inside of a yard); they take the
    table value directly and only pixels on an edge are averaged, which is exact and
    several times faster than averaging everything.
    """
    s = supersample
    rows, cols = ids.shape[0] // s, ids.shape[1] // s
    blocks = ids.reshape(rows, s, cols, s)
    first = blocks[:, 0, :, 0]
    mixed = np.zeros((rows, cols), dtype=bool)
    for i in range(s):
        for j in range(s):
            mixed |= blocks[:, i, :, j] != first
    out = lut[:, first].astype(np.float32, copy=False)
    r, c = np.nonzero(mixed)
    for start in range(0, r.size, 65536):
        rr, cc = r[start : start + 65536], c[start : start + 65536]
        sub = blocks[rr, :, cc, :].reshape(rr.size, s * s)
        out[:, rr, cc] = lut[:, sub].mean(axis=2)
    return out


def coverage(
    geometries: Iterable[BaseGeometry], *, transform: Affine, size_px: int, supersample: int
) -> np.ndarray:
    """Fraction (0-1, float32) of each pixel covered by the union of ``geometries``."""
    ids = burn_ids(
        ((g, 1) for g in geometries), transform=transform, size_px=size_px, supersample=supersample
    )
    lut = np.array([[0.0, 1.0]], dtype=np.float32)
    return block_lut_mean(ids, lut, supersample=supersample)[0]


def splat(
    shape: tuple[int, int], col: np.ndarray, row: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Deposit point weights bilinearly onto a grid (centroid-exact at sub-pixel positions).

    Parameters
    ----------
    shape : (rows, cols)
    col, row : ndarray
        Continuous pixel coordinates as from :func:`to_pixel`.
    weight : ndarray
        Amount deposited by each point (sums are preserved inside the grid).

    Returns
    -------
    ndarray, float32, of ``shape``
    """
    rows, cols = shape
    out = np.zeros(rows * cols, dtype=np.float64)
    pc = np.asarray(col, dtype=np.float64) - 0.5
    pr = np.asarray(row, dtype=np.float64) - 0.5
    w = np.broadcast_to(np.asarray(weight, dtype=np.float64), pc.shape)
    c0 = np.floor(pc)
    r0 = np.floor(pr)
    fc = pc - c0
    fr = pr - r0
    c0 = c0.astype(np.int64)
    r0 = r0.astype(np.int64)
    for dr, dc, part in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        rr = r0 + dr
        cc = c0 + dc
        ok = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        out += np.bincount(rr[ok] * cols + cc[ok], weights=(w * part)[ok], minlength=rows * cols)
    return out.reshape(rows, cols).astype(np.float32)
