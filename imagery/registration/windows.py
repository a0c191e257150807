"""The window grid and the strips of both scenes it is read from.

Windows are laid out on the reference grid, inside the part the moving scene covers,
row by row. One grid row needs one horizontal strip of each scene (the window height
plus a margin for the search), so a full 10980 x 10980 tile is measured holding two
strips at a time; the strips come from in-memory rasters or from files with windowed
reads (:class:`ArraySource`, :class:`FileSource`), already on the reference grid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from imagery.errors import RasterIOError
from imagery.io import open_raster, raster_info
from imagery.raster import Raster
from imagery.registration.features import Feature, feature_image
from imagery.registration.regrid import estimation_resampling, res_in, same_grid
from imagery.sensors import (
    S1_FILL_BELOW,
    S2_BANDS,
    S2_OPTIONAL_BANDS,
    prepare_s1,
    prepare_s2,
    s1_bands_swapped,
    s2_fifth_band_is_swir,
)

__all__ = ["ArraySource", "FileSource", "Grid", "plan_grid"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Grid:
    """Upper-left corners of the windows, reference pixel indexes.

    ``rows`` x ``cols`` windows of ``window_px``; each is read with ``margin_px`` extra
    pixels on every side (for gradients and for re-centring on the first estimate).
    """

    rows: np.ndarray
    cols: np.ndarray
    window_px: int
    spacing_px: int
    margin_px: int

    @property
    def size(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def independence(self) -> float:
        """Share of independent information per window, 0-1.

        Windows closer than their size share pixels, and so share errors. The
        correlation of two windows' estimates is taken as the overlap of their squared
        Hann tapers (the weight each pixel has in the correlation); over the grid, the
        variance of a mean grows by the sum of those correlations, whose inverse this
        is: 1 for windows that do not overlap, ~0.23 at a quarter-window spacing.
        """
        taper = np.hanning(self.window_px + 2)[1:-1] ** 2
        norm = float((taper * taper).sum())
        lags = np.arange(self.spacing_px, self.window_px, self.spacing_px)
        rho = [float((taper[: self.window_px - lag] * taper[lag:]).sum()) / norm for lag in lags]
        return 1.0 / (1.0 + 2.0 * sum(rho)) ** 2

    def centres(self, row_index: int) -> np.ndarray:
        """Window centres (x, y) of grid row ``row_index``, shape (n_cols, 2)."""
        half = self.window_px / 2
        x = self.cols + half
        y = np.full(len(self.cols), self.rows[row_index] + half)
        return np.column_stack([x, y]).astype(np.float64)


def _axis(start: int, stop: int, window: int, spacing: int) -> np.ndarray:
    span = stop - start - window
    if span < 0:
        return np.zeros(0, dtype=np.int64)
    count = span // spacing + 1
    first = start + (span - (count - 1) * spacing) // 2  # centre the grid
    return first + spacing * np.arange(count, dtype=np.int64)


def plan_grid(
    overlap: tuple[int, int, int, int],
    shape: tuple[int, int],
    *,
    window_px: int,
    spacing_px: int | None,
    margin_px: int,
    max_windows: int,
) -> Grid:
    """Lay windows over the overlap, ``margin_px`` inside the reference grid.

    ``spacing_px=None`` picks the spacing: a quarter window on small scenes, wider on
    large ones so that the grid holds at most about ``max_windows`` windows.
    """
    row0, row1, col0, col1 = overlap
    row0, col0 = max(row0, margin_px), max(col0, margin_px)
    row1, col1 = min(row1, shape[0] - margin_px), min(col1, shape[1] - margin_px)
    if spacing_px is None:
        area = max(row1 - row0, 0) * max(col1 - col0, 0)
        spacing_px = max(window_px // 4, math.ceil(math.sqrt(area / max_windows)), 1)
    return Grid(
        rows=_axis(row0, row1, window_px, spacing_px),
        cols=_axis(col0, col1, window_px, spacing_px),
        window_px=window_px,
        spacing_px=spacing_px,
        margin_px=margin_px,
    )


class ArraySource:
    """Strips of two in-memory rasters that already share the reference grid."""

    def __init__(
        self,
        reference: Raster,
        moving: Raster,
        *,
        sensor: str | None,
        exclude_reference: np.ndarray | None = None,
        exclude_moving: np.ndarray | None = None,
    ) -> None:
        self._rasters = {"reference": reference, "moving": moving}
        self._exclude = {"reference": exclude_reference, "moving": exclude_moving}
        self.sensor = sensor

    def read(self, which: str, row0: int, row1: int) -> Feature:
        raster = self._rasters[which]
        strip = raster.replace(
            data=raster.data[:, row0:row1],
            transform=raster.transform * Affine.translation(0, row0),
        )
        exclude = self._exclude[which]
        return feature_image(
            strip, sensor=self.sensor, exclude=None if exclude is None else exclude[row0:row1]
        )


def _band_plan(path: Path, sensor: str | None) -> tuple[list[int], tuple[str, ...]]:
    """1-based band indexes to read and the names to give them."""
    info = raster_info(path)
    names = [n.upper() for n in info.band_names]
    if sensor == "s1":
        # Undescribed bands are VV, VH by their place unless their levels say VH, VV.
        default = 1 if not names and s1_bands_swapped(path) else 0
        vv = next((i for i, n in enumerate(names) if "VV" in n), default)
        return [vv + 1], ("VV",)
    if sensor == "s2":
        found: dict[str, int] = {}
        for i, name in enumerate(names):
            for band in (*S2_BANDS, *S2_OPTIONAL_BANDS, "SCL"):
                short = band.replace("B0", "B")
                if band not in found and (name in (band, short) or band in name):
                    found[band] = i
        if all(b in found for b in S2_BANDS):
            plan = [b for b in (*S2_BANDS, *S2_OPTIONAL_BANDS, "SCL") if b in found]
            return [found[b] + 1 for b in plan], tuple(plan)
        if info.count in (4, 5) and not names:
            # A fifth band is SCL by its place, unless its numbers say B11.
            fifth = "B11" if info.count == 5 and s2_fifth_band_is_swir(path) else "SCL"
            plan = [*S2_BANDS, fifth][: info.count]
            return list(range(1, info.count + 1)), tuple(plan)
    return list(range(1, info.count + 1)), tuple(info.band_names)


def _looks_db(ds, index: int) -> bool:
    """Whether a Sentinel-1 band holds dB (negative median), judged on a decimated read."""
    out_shape = (min(ds.height, 256), min(ds.width, 256))
    sample = ds.read(index, out_shape=out_shape, resampling=Resampling.nearest).astype(float)
    if ds.nodata is not None:
        sample[sample == ds.nodata] = np.nan
    sample[sample < S1_FILL_BELOW] = np.nan  # undeclared fill, as prepare_s1 reads it
    finite = sample[np.isfinite(sample)]
    return bool(finite.size and np.median(finite) < 0)


class FileSource:
    """Strips of two raster files, read strip by strip onto the reference grid.

    A moving file on another grid (CRS, resolution or origin) is read through a
    :class:`rasterio.vrt.WarpedVRT` onto the reference grid (cubic, or average when it
    is much finer), so only the strips being measured are ever warped. Use as a
    context manager.
    """

    def __init__(
        self,
        reference_path: Path,
        moving_path: Path,
        *,
        sensor: str | None,
        exclude_reference: np.ndarray | None = None,
        exclude_moving: np.ndarray | None = None,
        cache_mb: int = 256,
        s2_scale: float | None = None,
    ) -> None:
        self.sensor = sensor
        self.cache_mb = cache_mb
        self.s2_scale = s2_scale
        self._paths = {"reference": Path(reference_path), "moving": Path(moving_path)}
        self._plans = {k: _band_plan(p, sensor) for k, p in self._paths.items()}
        self._exclude = {"reference": exclude_reference, "moving": exclude_moving}
        self._datasets: dict[str, Any] = {}
        self._db: dict[str, bool] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> FileSource:
        with contextlib.ExitStack() as stack:
            # Strips are read once, top to bottom: a block cache larger than a couple of
            # tile rows of both files only grows the process (GDAL's default: 5 % of RAM).
            stack.enter_context(rasterio.Env(GDAL_CACHEMAX=self.cache_mb * 2**20))
            ref = stack.enter_context(open_raster(self._paths["reference"]))
            mov = stack.enter_context(open_raster(self._paths["moving"]))
            self._datasets = {"reference": ref, "moving": mov}
            if not same_grid(ref.transform, ref.crs, ref.shape, mov.transform, mov.crs, mov.shape):
                self._warp_moving(stack, ref, mov)
            if self.sensor == "s1":
                for key in ("reference", "moving"):
                    try:
                        self._db[key] = _looks_db(self._datasets[key], self._plans[key][0][0])
                    except RasterioIOError as exc:
                        raise RasterIOError(
                            f"{self._paths[key]}: cannot read pixels ({exc}); the file may "
                            "be truncated"
                        ) from exc
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _warp_moving(self, stack: contextlib.ExitStack, ref, mov) -> None:
        # L2A digital numbers use 0 as fill even when the file does not say so.
        src_nodata = mov.nodata
        if src_nodata is None and self.sensor == "s2" and mov.dtypes[0].startswith("uint"):
            src_nodata = 0
        moving_res = res_in(mov.crs, mov.bounds, mov.shape, ref.crs, mov.res)
        method = estimation_resampling(moving_res, min(ref.res))
        # Class codes (SCL) must not be blended: a second, nearest-neighbour view.
        for key, resampling in (("moving", method), ("moving_codes", Resampling.nearest)):
            self._datasets[key] = stack.enter_context(
                WarpedVRT(
                    mov,
                    crs=ref.crs,
                    transform=ref.transform,
                    width=ref.width,
                    height=ref.height,
                    resampling=resampling,
                    src_nodata=src_nodata,
                    nodata=np.nan,
                    dtype="float32",
                    tolerance=0.01,
                )
            )

    def read(self, which: str, row0: int, row1: int) -> Feature:
        ds = self._datasets[which]
        indexes, names = self._plans[which]
        window = Window(0, row0, ds.width, row1 - row0)
        codes = self._datasets.get(f"{which}_codes")
        try:
            data = ds.read(indexes, window=window)
            if codes is not None and "SCL" in names:
                scl = names.index("SCL")
                data[scl] = codes.read(indexes[scl], window=window)
        except RasterioIOError as exc:
            raise RasterIOError(
                f"{self._paths[which]}: cannot read rows {row0}-{row1} ({exc}); the file may be "
                f"truncated"
            ) from exc
        strip = Raster(
            data=data,
            transform=ds.window_transform(window),
            crs=ds.crs,
            nodata=ds.nodata,
            sensor=self.sensor,
            band_names=names if all(names) else (),
        )
        strip = self._prepare(strip, which)
        exclude = self._exclude[which]
        return feature_image(
            strip, sensor=self.sensor, exclude=None if exclude is None else exclude[row0:row1]
        )

    def _prepare(self, strip: Raster, which: str) -> Raster:
        source = str(self._paths[which])
        if self.sensor == "s1":
            return prepare_s1(strip, source=source, db=self._db[which], window=True)
        if self.sensor == "s2" and all(strip.has_band(b) for b in S2_BANDS):
            scale = {} if self.s2_scale is None else {"scale": self.s2_scale}
            return prepare_s2(strip, source=source, window=True, **scale)
        data = strip.data.astype(np.float32, copy=False)
        invalid = ~np.isfinite(data)  # +-inf is nodata, as prepare_s1/_s2 take it
        if strip.nodata is not None and not np.isnan(strip.nodata):
            invalid |= strip.data == strip.nodata
        if invalid.any():
            data = np.where(invalid, np.float32(np.nan), data)
        return strip.replace(data=data, nodata=float("nan"))
