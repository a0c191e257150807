"""Sentinel-2 L2A test scenes from a map of surface reflectance."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from rasterio.transform import from_origin
from scipy import ndimage

from imagery.raster import Raster

#: Sensor noise of L2A reflectance over these scenes (one sigma).
NOISE = 0.003


def blurred_s2(reflectance: np.ndarray, day: int, seed: int, *, blur_px: float = 0.6) -> Raster:
    """A UTM 10 m scene of B02 B03 B04 B08 acquired on June ``day`` 2024: each band of
    ``reflectance`` (band, row, col) blurred by a Gaussian PSF of ``blur_px`` pixels
    (0: none), plus Gaussian noise, clipped at 0."""
    rng = np.random.default_rng(seed)
    data = np.stack([ndimage.gaussian_filter(b, blur_px) if blur_px else b for b in reflectance])
    data = np.clip(data + rng.normal(0.0, NOISE, data.shape), 0.0, None).astype(np.float32)
    return Raster(
        data=data,
        transform=from_origin(500_000.0, 4_700_000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=float("nan"),
        time=datetime(2024, 6, day, 2, 0, tzinfo=UTC),
        sensor="s2",
        band_names=("B02", "B03", "B04", "B08"),
    )


def flagged_at(frame, grid: Raster, where: tuple[slice, slice], margin: int = 3) -> int:
    """How many rows of ``frame`` have their centroid on the pixels ``where`` (rows,
    cols) of ``grid``, give or take ``margin`` pixels."""
    rows, cols = where
    count = 0
    for point in frame.geometry.centroid:
        col, row = ~grid.transform * (point.x, point.y)
        count += (rows.start - margin <= row <= rows.stop + margin) and (
            cols.start - margin <= col <= cols.stop + margin
        )
    return count


def with_scl(
    scene: Raster, shore_col: int, marks: dict[int, tuple[slice, slice]] | None = None
) -> Raster:
    """``scene`` with an SCL band: water (6) west of column ``shore_col``, land (5) east
    of it, and each class of ``marks`` (class: (rows, cols)) painted over, in order."""
    scl = np.full(scene.shape, 5, dtype=np.float32)
    scl[:, :shore_col] = 6
    for value, where in (marks or {}).items():
        scl[where] = value
    return scene.replace(
        data=np.concatenate([scene.data, scl[None]]), band_names=(*scene.band_names, "SCL")
    )
