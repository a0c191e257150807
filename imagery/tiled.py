"""Pair detection on full Sentinel tiles, window by window, in bounded memory.

A 10980 x 10980 dual-polarisation Sentinel-1 pair is 1.9 GB of float32 before any
work; every stage of :func:`imagery.detect.detect_aligned` holds several float64
images of its input's size. So the pair is cut into windows of ``chunk_px`` with a halo
on every side, and each window runs the whole per-grid pipeline on its own:

- the registration is estimated once from the files (strips only,
  ``imagery.coregister.estimate_registration_files``), away from the water of a
  decimated read of each scene, and each window of the after
  scene is read and resampled onto its before window with the corrected transform;
- the halo (default 1.3 km) is wider than the CFAR background ring (800 m) plus the
  longest vessel (500 m), so every statistic near the window's edge sees what it would
  see in the whole scene (one exception: where even the CFAR's doubled ring holds too
  little water, :mod:`imagery.cfar` falls back on the clutter of all the water in
  view, which is the window's here), and every object whose centroid lies in the window's core is
  complete in the window. Cores and halos are whole multiples of the CFAR's block side
  (:func:`imagery.cfar.block_px`), so that every window's blocks, and its ring
  statistics, are the whole scene's; each window draws the shoreline's digital lines
  (berthed ships are protrusions of it) from the file's origin, not its own. Single-scene
  vessels in windows are the whole scene's. Each window keeps the objects whose centroid
  lies in its core or within :data:`SEAM_MARGIN_PX` of it, and an object two windows
  both found is kept once, from the window whose core it lies deeper in
  (:func:`merge_seams`): the two windows measure it on their own pixels and may place
  it a pixel or two apart, on either side of the seam;
- water from the imagery is split from land at the thresholds of the whole file
  (:func:`imagery.water.water_split_file`, one pass over each file before the
  windows): a window of land alone, or of open sea, has no valley between water and
  land in its own histogram, and would split its dark fields or its swell instead.
  The rest of the water's judgement is the window's own: Sentinel-1 water counts as
  open, not enclosed (:func:`imagery.water.drop_enclosed`), when it or a path of dark
  pixels from it reaches the window's edge, which a path across the halo (a dark
  road, an apron) may do where the whole scene would have called the patch enclosed;
  and the water's reference levels (S2 medians for foam, haze and hull steps) are the
  window's, except the pair's per-pixel B08 step, whose level is the water's within
  720 m on the file's lattice (:func:`imagery.change.s2_pixel_step`);
- a window with nothing clear to compare (under cloud, at a swath's edge) is left out
  and counted (``parameters["windows_without_comparison"]``; a tile with no window to
  compare raises :class:`~imagery.errors.NothingToCompareError`);
- windows run concurrently (a thread pool: the numerical core releases the GIL) and
  the change raster is written core by core into one GeoTIFF, then converted to a COG.

This is ``dask.array.map_overlap`` done by hand: map_overlap suits pixel outputs, while
a window here also returns vector objects, which :func:`merge_seams` de-duplicates.
Peak memory is about ``workers`` windows' worth, whatever the scene size.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import dataclasses
import functools
import itertools
import logging
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds
from scipy.spatial import cKDTree

from imagery.atomic import atomic_path
from imagery.cfar import block_px
from imagery.detect import DetectParams, detect_aligned, empty_detections
from imagery.errors import (
    EmptyRasterError,
    InputError,
    NoOverlapError,
    NothingToCompareError,
)
from imagery.grid import pixel_size_m
from imagery.io import open_raster, overview_count, raster_info, read_raster
from imagery.layover import other_look
from imagery.raster import Raster
from imagery.reproject import needs_metric_grid
from imagery.sensors import prepare
from imagery.water import water_mask, water_mask_file, water_split_file

__all__ = ["TiledResult", "detect_pair_files", "detect_vessels_file", "plan_windows"]

log = logging.getLogger(__name__)

#: GDAL block cache while a tile is processed, MB. GDAL's default (5 % of RAM) would keep
#: a gigabyte of already-used blocks resident; windows are read once each.
GDAL_CACHE_MB = 128
#: The same in bytes, as ``rasterio.Env(GDAL_CACHEMAX=...)`` takes it (it sets GDAL's cache
#: size directly: a bare 128 was a 128-byte cache, with which every ``rasterize`` of a
#: window redrew its shapes scanline chunk by chunk, three times slower).
GDAL_CACHE_BYTES = GDAL_CACHE_MB * 2**20


#: glibc's mallopt parameters, and the values set while tiles are processed (bytes).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 * 1024**2
TRIM_THRESHOLD_BYTES = 256 * 1024**2


@functools.cache
def retain_freed_memory() -> bool:
    """Let glibc keep freed image buffers for reuse instead of returning them at once.

    Every stage allocates and frees full-window float64 images (25 MB at 1796 px).
    By default glibc serves such blocks with fresh ``mmap`` pages and unmaps them
    when freed, so each new image costs thousands of page faults: on a 10980 px pair
    a fifth of the run was kernel time. Serving blocks up to 32 MB from the heap, and
    trimming it only past 256 MB of free space, cut the kernel time of one window
    from 6.5 s to 1.3 s, with the same peak memory (benchmarks/README.md).
    Process-wide and set once; a no-op (False) where the C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return ok and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1


@dataclasses.dataclass(frozen=True)
class TiledResult:
    """Flags of a tiled pair run, and where its rasters were written.

    ``display_paths`` are the before and after display COGs
    (:func:`imagery.review.display.display_raster`, the after scene on the before
    scene's grid) when asked for; ``before_time`` and ``after_time`` the scenes'
    acquisition times (None when the files record none).
    """

    detections: gpd.GeoDataFrame
    departed: gpd.GeoDataFrame
    change_path: Path | None
    registration: object
    parameters: dict
    seconds: dict[str, float]
    display_paths: tuple[Path, Path] | None = None
    sensor: str | None = None
    before_time: datetime | None = None
    after_time: datetime | None = None


def plan_windows(
    height: int, width: int, *, chunk_px: int, halo_px: int, align_px: int = 1
) -> list[tuple[Window, Window]]:
    """(core, padded) window pairs tiling a ``height`` x ``width`` grid.

    Cores tile the grid without overlap; each padded window is its core grown by
    ``halo_px`` on every side, clipped to the grid. ``chunk_px`` and ``halo_px`` are
    rounded up to multiples of ``align_px``, so that every window's origin lies on the
    grid of blocks of that side laid from the raster's origin: statistics accumulated
    on blocks (the CFAR's, :func:`imagery.cfar.block_px`) are then the same in a window
    as in the whole raster.
    """
    align_px = max(1, int(align_px))
    chunk_px = -(-max(1, chunk_px) // align_px) * align_px
    halo_px = -(-max(0, halo_px) // align_px) * align_px
    windows = []
    for row in range(0, height, chunk_px):
        for col in range(0, width, chunk_px):
            core = Window(col, row, min(chunk_px, width - col), min(chunk_px, height - row))
            r0, c0 = max(row - halo_px, 0), max(col - halo_px, 0)
            r1 = min(row + core.height + halo_px, height)
            c1 = min(col + core.width + halo_px, width)
            windows.append((core, Window(c0, r0, c1 - c0, r1 - r0)))
    return windows


def _cfar_blocks_px(params, pixel_m: float) -> int:
    """Side of the block grid that serves both sensors' CFAR ring statistics."""
    return math.lcm(
        block_px(pixel_m=pixel_m, guard_m=params.guard_m, background_m=params.background_m),
        block_px(pixel_m=pixel_m, guard_m=params.s2_guard_m, background_m=params.s2_background_m),
    )


def _aligned_window(
    after_path: Path,
    registration,
    grid: Raster,
    sensor: str,
    margin_px: int,
    *,
    direction: str | None = None,
    s2_scale: float | None = None,
) -> Raster:
    """The after scene resampled onto ``grid`` with the registration's correction; NaN
    where the after file does not reach (all NaN for a window wholly beyond it: a pair
    of files that overlap only in part)."""
    from imagery.registration.apply import corrected_transform

    with open_raster(after_path, sensor) as ds:
        left, bottom, right, top = transform_bounds(grid.crs, ds.crs, *grid.bounds)
        window = from_bounds(left, bottom, right, top, transform=ds.transform)
        window = window.round_offsets(op="floor").round_lengths(op="ceil")
        window = Window(
            window.col_off - margin_px,
            window.row_off - margin_px,
            window.width + 2 * margin_px,
            window.height + 2 * margin_px,
        )
        beyond = not rasterio.windows.intersect([window, Window(0, 0, ds.width, ds.height)])
    # A window beyond the file still reads one pixel, for the bands' names and count.
    moving = _prepared(
        read_raster(
            after_path,
            window=Window(0, 0, 1, 1) if beyond else window,
            require_valid=False,
            sensor=sensor,
        ),
        sensor,
        after_path,
        direction=direction,
        s2_scale=s2_scale,
    )
    out = np.full((moving.count, *grid.shape), np.nan, dtype=np.float32)
    if beyond:
        return moving.replace(data=out, transform=grid.transform, crs=grid.crs, nodata=float("nan"))
    src_transform = corrected_transform(registration, moving.transform, moving.crs)
    for band in range(moving.count):
        categorical = moving.band_names and moving.band_names[band] == "SCL"
        reproject(
            moving.data[band],
            out[band],
            src_transform=src_transform,
            src_crs=moving.crs,
            src_nodata=np.nan,
            dst_transform=grid.transform,
            dst_crs=grid.crs,
            dst_nodata=np.nan,
            resampling=rasterio.enums.Resampling.nearest
            if categorical
            else rasterio.enums.Resampling.bilinear,
        )
    return moving.replace(data=out, transform=grid.transform, crs=grid.crs, nodata=float("nan"))


def _prepared(
    raster: Raster,
    sensor: str,
    path: Path,
    *,
    direction: str | None,
    s2_scale: float | None,
) -> Raster:
    """A window as the pipeline takes it: with its pass direction, in physical units."""
    if direction is not None and sensor == "s1":
        from imagery.layover import with_pass_direction

        raster = with_pass_direction(raster, direction)
    return prepare(raster, sensor, source=str(path), grid="native", s2_scale=s2_scale, window=True)


def _display_core(raster: Raster, rows: slice, cols: slice) -> Raster | None:
    """The display version of a window's core (None when the core holds no data)."""
    from imagery.review.display import display_raster

    core = raster.replace(data=raster.data[:, rows, cols])
    return display_raster(core) if core.valid_mask().any() else None


#: How far past its core a window keeps its objects, pixels. A window measures an
#: object cut by its core's edge on its own pixels, so two windows place its centre up
#: to a pixel or two apart (each with its own water, references and blur): kept by the
#: bare centroid rule, such an object would be kept twice or not at all.
SEAM_MARGIN_PX = 4


def _owned(
    frame: gpd.GeoDataFrame,
    core_bounds: tuple[float, float, float, float],
    margin: float = 0.0,
) -> gpd.GeoDataFrame:
    """Rows of ``frame`` whose centre lies in the core grown by ``margin`` (map units),
    with how deep inside the core it lies (``_depth``, map units; negative beyond it).
    A centre on a seam is kept by both windows; :func:`merge_seams` keeps it once."""
    if frame.empty:
        return frame
    left, bottom, right, top = core_bounds
    centres = frame.geometry.centroid
    x, y = centres.x.to_numpy(), centres.y.to_numpy()
    depth = np.minimum.reduce([x - left, right - x, y - bottom, top - y])
    inside = depth >= -margin
    return frame.loc[inside].assign(_depth=depth[inside])


def merge_seams(frames: list[gpd.GeoDataFrame | None], tolerance: float) -> gpd.GeoDataFrame | None:
    """One row per object from the objects of overlapping windows.

    Each window keeps its objects up to :data:`SEAM_MARGIN_PX` past its core
    (:func:`_owned`); an object of one window whose centre lies within ``tolerance``
    (map units) of an object of the same kind from another window that lies deeper
    in its own core is the same object, seen twice, and is dropped. Objects of one
    window never merge with each other: two ships moored end to end stay two.

    Parameters
    ----------
    frames : list of GeoDataFrame or None
        One per window, in any order, as :func:`_owned` returns them.
    tolerance : float
        Map units.

    Returns
    -------
    GeoDataFrame or None
        The kept rows of every window, without the bookkeeping columns; None when
        there are no rows.
    """
    parts = [f.assign(_window=k) for k, f in enumerate(frames) if f is not None and not f.empty]
    if not parts:
        return None
    merged = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry")
    merged = merged.sort_values("_depth", ascending=False, kind="stable").reset_index(drop=True)
    centres = merged.geometry.centroid
    x, y = centres.x.to_numpy(), centres.y.to_numpy()
    window = merged["_window"].to_numpy()
    kind = merged["kind"].to_numpy() if "kind" in merged else np.zeros(len(merged))
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(tolerance, output_type="ndarray")
    pairs = pairs[
        (window[pairs[:, 0]] != window[pairs[:, 1]]) & (kind[pairs[:, 0]] == kind[pairs[:, 1]])
    ]
    kept = np.ones(len(merged), dtype=bool)
    # Deepest first (rows are in that order, and each pair is (shallower index last)): a
    # row goes when a deeper row of another window, itself kept, is the same object.
    for deeper, shallower in sorted(map(tuple, np.sort(pairs, axis=1))):
        if kept[deeper]:
            kept[shallower] = False
    return merged.loc[kept].drop(columns=["_depth", "_window"])


def _run_window(
    core: Window,
    padded: Window,
    *,
    before_path: Path,
    after_path: Path,
    registration,
    sensor: str,
    aoi,
    params: DetectParams,
    margin_px: int,
    water_splits,
    direction: str | None = None,
    s2_scale: float | None = None,
    displays: bool = False,
):
    read = read_raster(before_path, window=padded, sensor=sensor, require_valid=False)
    r0, c0 = int(core.row_off - padded.row_off), int(core.col_off - padded.col_off)
    rows, cols = slice(r0, r0 + int(core.height)), slice(c0, c0 + int(core.width))
    if not read.valid_mask(every_band=False).any():
        if not displays:
            return _NO_DATA, core, None, None, None, None
        # Nothing before here, but the after scene may cover it: the analyst sees it.
        after = _aligned_window(
            after_path,
            registration,
            read,
            sensor,
            margin_px,
            direction=direction,
            s2_scale=s2_scale,
        )
        return _NO_DATA, core, None, None, None, (None, _display_core(after, rows, cols))
    before = _prepared(read, sensor, before_path, direction=direction, s2_scale=s2_scale)
    after = _aligned_window(
        after_path,
        registration,
        before,
        sensor,
        margin_px,
        direction=direction,
        s2_scale=s2_scale,
    )
    shown = None
    if displays:
        # Written for every window with data, compared or not: the analyst sees the
        # whole scene, cloud and swath edges included.
        shown = tuple(_display_core(r, rows, cols) for r in (before, after))
    if not (before.valid_mask() & after.valid_mask()).any():
        return _NO_DATA, core, None, None, None, shown
    try:
        result = detect_aligned(
            before,
            after,
            aoi=aoi,
            params=params,
            registration=registration,
            water_splits=water_splits,
            origin=(int(padded.row_off), int(padded.col_off)),
        )
    except NothingToCompareError as exc:
        # A window under cloud, or at a swath's edge: the tile goes on without it.
        log.warning("window %s left out: %s", core, exc)
        return _UNCOMPARED, core, None, None, None, shown
    change = result.change.data[:, rows, cols]
    core_bounds = rasterio.windows.bounds(Window(c0, r0, core.width, core.height), before.transform)
    return (
        _DONE,
        core,
        change,
        _owned(result.detections, core_bounds, SEAM_MARGIN_PX * before.res[0]),
        _owned(result.departed, core_bounds, SEAM_MARGIN_PX * before.res[0]),
        shown,
    )


#: How a window's run ended: with its change and flags, or with none.
_DONE, _NO_DATA, _UNCOMPARED = "done", "no data", "nothing to compare"


def _renumber(frames: list[gpd.GeoDataFrame], crs, tolerance: float) -> gpd.GeoDataFrame:
    merged = merge_seams(frames, tolerance)
    if merged is None:
        return empty_detections(crs)
    out = gpd.GeoDataFrame(merged, geometry="geometry", crs=crs)
    out = out.sort_values(["kind", "score"], ascending=[False, False]).reset_index(drop=True)
    out["id"] = np.arange(1, len(out) + 1)
    return out


def detect_pair_files(
    before_path: str | os.PathLike,
    after_path: str | os.PathLike,
    *,
    sensor: str,
    change_path: str | os.PathLike | None = None,
    aoi=None,
    params: DetectParams | None = None,
    chunk_px: int = 1536,
    halo_px: int | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    display_paths: tuple[str | os.PathLike, str | os.PathLike] | None = None,
    direction: str | None = None,
    s2_scale: float | None = None,
) -> TiledResult:
    """Detect what is new between two scene files of any size, window by window.

    Parameters
    ----------
    before_path, after_path : path-like
        The scenes (GeoTIFF/COG); the after scene may be on another grid or CRS.
    sensor : {"s1", "s2"}
    change_path : path-like, optional
        Where to write the change raster (COG, bands ``change`` and ``z``).
    aoi : imagery.aoi.AOI, optional
    params : DetectParams, optional
    chunk_px : int, default 1536
        Side of a window's core, pixels; rounded up to a multiple of the CFAR's block
        side (:func:`imagery.cfar.block_px`, 5 px at 10 m), as is ``halo_px``, so that
        every window's ring statistics are the whole scene's.
    halo_px : int, optional
        Halo on every side; default: the CFAR background window
        (``VesselParams.background_m``) plus the longest vessel
        (``VesselParams.max_length_m``), in pixels.
    workers : int, default 2
        Windows processed at once (threads).
    progress : callable(done, total), optional
    display_paths : (path-like, path-like), optional
        Where to write the before and after scenes as display COGs
        (:func:`imagery.review.display.display_raster`: S1 dB, S2 B04 B03 B02 B08 x
        10000), both on the before scene's grid, the after scene resampled with the
        registration's correction: the rasters of a review package
        (:func:`imagery.review.write_run_files`). Written core by core as the windows
        run, so they cost no second read of the scenes.
    direction : {"asc", "dsc"}, optional
        The pass of S1 files that record no viewing geometry.
    s2_scale : float, optional
        Reflectance per S2 digital number; by default each file's numbers tell it
        (:func:`imagery.sensors.s2_file_scale`: L2A's 1e-4 or EO Browser's 1 / 65535).

    Returns
    -------
    TiledResult

    Raises
    ------
    InputError
        A file on a grid not in metres.
    NoOverlapError
        The files share no ground.
    CoregistrationError
        The pair cannot be co-registered reliably.
    NothingToCompareError
        No window has enough clear pixels common to both dates.
    """
    from imagery.coregister import estimate_registration_files

    params = params or DetectParams()
    before_path, after_path = Path(before_path), Path(after_path)
    retain_freed_memory()
    info = raster_info(before_path, sensor=sensor)
    other = raster_info(after_path, sensor=sensor)
    for path, grid in ((before_path, info), (after_path, other)):
        if needs_metric_grid(grid.transform, grid.crs, (grid.height, grid.width)):
            # Windows are cut on the file's grid, and flags are compared in map units.
            raise InputError(
                f"{path}: its map unit is not a metre on the ground ({grid.crs}); tiled "
                "processing needs a grid in metres such as UTM: warp the file first (e.g. "
                "gdalwarp -t_srs EPSG:326NN -tr 10 10), or use detect_pair, which warps a "
                "scene itself"
            )
    b = info.bounds
    a = transform_bounds(other.crs, info.crs, *other.bounds)
    if min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]):
        raise NoOverlapError(
            f"{after_path}: does not overlap {before_path} (no common ground between the pair)"
        )
    if sensor == "s1":
        other_look(
            [info.look_azimuth_deg, other.look_azimuth_deg], (str(before_path), str(after_path))
        )
    pixel_m = pixel_size_m(info.transform, info.crs, (info.height, info.width))
    if halo_px is None:
        halo_px = math.ceil((params.vessel.background_m + params.vessel.max_length_m) / pixel_m)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    exclude = {}
    if sensor == "s1":  # S2 water is excluded through its SCL band
        exclude = {
            "exclude_reference": water_mask_file(before_path, sensor=sensor, aoi=aoi),
            "exclude_moving": water_mask_file(after_path, sensor=sensor, aoi=aoi),
        }
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        registration = estimate_registration_files(
            before_path,
            after_path,
            sensor=sensor,
            max_shift_px=params.max_shift_px,
            s2_scale=s2_scale,
            **exclude,
        )
    del exclude
    seconds["coregistration"] = time.perf_counter() - started
    started = time.perf_counter()
    water_splits = None
    if aoi is None or getattr(aoi, "water", None) is None:
        # One file after the other: GDAL's cache size, which each call bounds while it
        # reads, is one setting for the whole process.
        water_splits = tuple(
            water_split_file(path, sensor=sensor, s2_scale=s2_scale)
            for path in (before_path, after_path)
        )
    seconds["water_split"] = time.perf_counter() - started
    align_px = _cfar_blocks_px(params.vessel, pixel_m)
    chunk_px, halo_px = (-(-n // align_px) * align_px for n in (chunk_px, halo_px))
    windows = plan_windows(
        info.height, info.width, chunk_px=chunk_px, halo_px=halo_px, align_px=align_px
    )
    margin_px = math.ceil(params.max_shift_px) + 4
    started = time.perf_counter()
    detections, departed = [], []
    without_data = uncompared = 0
    profile = {
        "driver": "GTiff",
        "width": info.width,
        "height": info.height,
        "count": 2,
        "dtype": "float32",
        "crs": info.crs,
        "transform": info.transform,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "BIGTIFF": "IF_SAFER",
    }
    shown_paths = tuple(Path(p) for p in display_paths) if display_paths else (None, None)
    if display_paths is not None and len(shown_paths) != 2:
        raise InputError(f"display_paths: give two paths (before, after), not {display_paths!r}")
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
        _CogWriter(change_path, profile, ("change", "z")) as write,
        _CogWriter(shown_paths[0], profile) as show_before,
        _CogWriter(shown_paths[1], profile) as show_after,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        # Windows are submitted a few ahead of the one being written, and each result is
        # dropped once written: a finished window holds its change and display cores
        # (19-57 MB at 1540 px), which would otherwise pile up behind a slow window, or
        # all stay to the end (1.2 GB of a tile's 64 windows, until session 28).
        run = functools.partial(
            _run_window,
            before_path=before_path,
            after_path=after_path,
            registration=registration,
            sensor=sensor,
            aoi=aoi,
            params=params,
            margin_px=margin_px,
            water_splits=water_splits,
            direction=direction,
            s2_scale=s2_scale,
            displays=display_paths is not None,
        )
        results = _in_order(pool, run, windows, ahead=2 * max(1, workers))
        for done, (ended, core, change, found, gone, shown) in enumerate(results, start=1):
            for show, part in zip((show_before, show_after), shown or (), strict=False):
                if part is not None:
                    show(part, core)
            if ended == _NO_DATA:
                without_data += 1
            elif ended == _UNCOMPARED:
                uncompared += 1
            else:
                write(Raster(data=change, transform=info.transform, crs=info.crs), core)
                detections.append(found)
                departed.append(gone)
            if progress:
                progress(done, len(windows))
        if uncompared + without_data == len(windows):
            # Without any window compared there is no change raster to hand on (a pair
            # with no data in common is refused earlier, by the co-registration). Raised
            # within the writers, so that none of the displays is written either.
            raise NothingToCompareError(
                f"{before_path} and {after_path}: no window has enough clear pixels common "
                "to both scenes to compare"
            )
    seconds["detection"] = time.perf_counter() - started
    seam_tolerance = SEAM_MARGIN_PX * abs(info.transform.a)
    parameters = {
        "sensor": sensor,
        "detect": params.to_dict(),
        "registration": registration.to_dict(),
        "windows": len(windows),
        "windows_without_data": without_data,
        "windows_without_comparison": uncompared,
        "chunk_px": chunk_px,
        "halo_px": halo_px,
        "align_px": align_px,
        "water_splits": [dataclasses.asdict(s) for s in water_splits] if water_splits else None,
    }
    return TiledResult(
        detections=_renumber(detections, info.crs, seam_tolerance),
        departed=_renumber(departed, info.crs, seam_tolerance),
        change_path=Path(change_path) if change_path else None,
        registration=registration,
        parameters=parameters,
        seconds=seconds,
        display_paths=shown_paths if display_paths is not None else None,
        sensor=sensor,
        before_time=info.time,
        after_time=other.time,
    )


def detect_vessels_file(
    path: str | os.PathLike,
    *,
    sensor: str,
    aoi=None,
    params=None,
    direction: str | None = None,
    s2_scale: float | None = None,
    chunk_px: int = 2048,
    halo_px: int | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> gpd.GeoDataFrame:
    """Every vessel in one scene file of any size, window by window.

    :func:`imagery.vessels.detect_vessels` on windows of ``chunk_px`` with a halo as
    wide as the CFAR's background ring plus the longest vessel, each vessel kept by the
    window that owns its centroid (as :func:`detect_pair_files` keeps flags). Water is
    split from land at the whole file's thresholds (:func:`imagery.water.water_split_file`),
    the CFAR's blocks and the shoreline's lines are laid on the file's grid: the vessels
    are those of a read of the whole scene (S2 water reference levels are still each
    window's own, and may move a borderline vessel).

    Parameters
    ----------
    path : path-like
        A scene file, or a product folder or archive (:mod:`imagery.products`), on a grid
        in metres or Web Mercator (sizes are measured on the ground); a geographic grid
        is refused (warp it first).
    sensor : {"s1", "s2"}
    aoi, params : optional
        As for ``detect_vessels`` (``params`` a ``VesselParams``).
    direction : {"asc", "dsc"}, optional
        The pass of an S1 file that records no viewing geometry.
    s2_scale : float, optional
        Reflectance per S2 digital number; by default each file's numbers tell it
        (:func:`imagery.sensors.s2_file_scale`: L2A's 1e-4 or EO Browser's 1 / 65535).
    chunk_px, halo_px, workers, progress
        As for :func:`detect_pair_files`.

    Returns
    -------
    geopandas.GeoDataFrame
        The vessels, in the file's CRS, numbered 1.. by decreasing score.
    """
    from imagery.vessels import VesselParams, detect_vessels

    params = params or VesselParams()
    path = Path(path)
    info = raster_info(path, sensor=sensor)
    if needs_metric_grid(info.transform, info.crs, (info.height, info.width), mode="square"):
        raise InputError(
            f"{path}: a geographic grid ({info.crs}); windows are cut on the file's grid: "
            "warp it to UTM first (gdalwarp -t_srs EPSG:326NN -tr 10 10)"
        )
    pixel_m = pixel_size_m(info.transform, info.crs, (info.height, info.width))
    if halo_px is None:
        reach_m = max(params.background_m, params.s2_background_m) + params.max_length_m
        halo_px = math.ceil(reach_m / pixel_m)
    split = None
    if aoi is None or getattr(aoi, "water", None) is None:
        split = water_split_file(path, sensor=sensor, s2_scale=s2_scale)

    def run(core: Window, padded: Window) -> gpd.GeoDataFrame | None:
        try:
            # S1: a window with VV but no VH (a dual-pol file whose VH swath ends short)
            # is searched in VV; only one without VV holds nothing.
            raster = read_raster(path, window=padded, sensor=sensor, require_valid=sensor != "s1")
        except EmptyRasterError:
            return None
        if direction is not None and sensor == "s1":
            from imagery.layover import with_pass_direction

            raster = with_pass_direction(raster, direction)
        scene = prepare(
            raster, sensor, source=str(path), grid="native", s2_scale=s2_scale, window=True
        )
        if not (
            np.isfinite(scene.band("VV")).any() if sensor == "s1" else scene.valid_mask().any()
        ):
            return None
        water = water_mask(scene, aoi=aoi, split=split)
        found = detect_vessels(
            scene,
            water=water,
            aoi=aoi,
            params=params,
            origin=(int(padded.row_off), int(padded.col_off)),
        )
        r0, c0 = int(core.row_off - padded.row_off), int(core.col_off - padded.col_off)
        core_bounds = rasterio.windows.bounds(
            Window(c0, r0, core.width, core.height), scene.transform
        )
        return _owned(found, core_bounds, SEAM_MARGIN_PX * scene.res[0])

    windows = plan_windows(
        info.height,
        info.width,
        chunk_px=chunk_px,
        halo_px=halo_px,
        align_px=_cfar_blocks_px(params, pixel_m),
    )
    frames = []
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        results = _in_order(pool, run, windows, ahead=2 * max(1, workers))
        for done, frame in enumerate(results, start=1):
            frames.append(frame)
            if progress:
                progress(done, len(windows))
    merged = merge_seams(frames, SEAM_MARGIN_PX * abs(info.transform.a))
    if merged is None:
        template = next((f for f in frames if f is not None), None)
        if template is not None:
            return template.drop(columns=["_depth"], errors="ignore")
        from imagery.schema import VESSEL_FIELDS

        empty = {name: [] for name in VESSEL_FIELDS}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=info.crs))
    out = gpd.GeoDataFrame(merged, geometry="geometry", crs=info.crs)
    out = out.sort_values("score", ascending=False).reset_index(drop=True)
    out["id"] = np.arange(1, len(out) + 1)
    return out


def _in_order(pool: ThreadPoolExecutor, run: Callable, windows: list, *, ahead: int):
    """Yield ``run(core, padded)`` of each window in the windows' order, with at most
    ``ahead`` windows submitted beyond the one awaited.

    Bounded so that finished windows do not pile up behind a slow one; on an error (or
    Ctrl-C) the windows not yet started are cancelled, so that the error surfaces once
    the few running windows end rather than after the whole tile.
    """
    waiting = iter(windows)
    jobs = collections.deque(
        pool.submit(run, *window) for window in itertools.islice(waiting, ahead)
    )
    try:
        while jobs:
            result = jobs.popleft().result()
            if (window := next(waiting, None)) is not None:
                jobs.append(pool.submit(run, *window))
            yield result
    finally:
        for job in jobs:
            job.cancel()


class _CogWriter:
    """Write window cores into a tiled GeoTIFF, then convert it to a COG atomically.

    The file takes its bands, data type, nodata and tags from the first core written
    (a :class:`Raster`); ``names`` overrides the band descriptions. With no path, or
    when no core is written, nothing is written.
    """

    def __init__(self, path, profile: dict, names: tuple[str, ...] = ()):
        self.path = Path(path) if path else None
        self.profile = profile
        self.names = names
        self._ds = None

    def __enter__(self):
        if self.path is None:
            return lambda raster, core: None
        self._atomic = atomic_path(self.path)
        self._target = self._atomic.__enter__()
        self._scratch = self._target.with_name(self._target.name + ".strips.tif")
        return self._write

    def _write(self, raster: Raster, core: Window) -> None:
        if self._ds is None:
            from imagery.io import raster_tags

            nodata = raster.nodata if raster.nodata is not None else self.profile["nodata"]
            dtype = raster.data.dtype if raster.data.dtype != np.float64 else np.float32
            profile = {**self.profile, "count": raster.count, "dtype": dtype, "nodata": nodata}
            self._ds = rasterio.open(self._scratch, "w", **profile)
            for band, name in enumerate(self.names or raster.band_names, start=1):
                self._ds.set_band_description(band, name)
            if tags := raster_tags(raster):
                self._ds.update_tags(**tags)
        self._ds.write(raster.data.astype(self._ds.dtypes[0], copy=False), window=core)

    def __exit__(self, kind, value, tb):
        if self.path is None:
            return False
        written = self._ds is not None
        if written:
            self._ds.close()
        try:
            if kind is None and written:
                from rasterio.shutil import copy

                copy(
                    self._scratch,
                    self._target,
                    driver="COG",
                    COMPRESS="DEFLATE",
                    BLOCKSIZE=512,
                    OVERVIEW_COUNT=overview_count(self.profile["height"], self.profile["width"]),
                    BIGTIFF="IF_SAFER",
                    # Compression on every core: a tile's 1 GB core file took 14 s on one.
                    NUM_THREADS="ALL_CPUS",
                )
        finally:
            self._scratch.unlink(missing_ok=True)
        if kind is None and not written:
            # No core to write (every window without data): no file rather than an empty
            # one that looks like a result. Thrown into atomic_path, which removes its
            # temporary file and hands the exception back, swallowed here.
            return self._atomic.__exit__(RuntimeError, RuntimeError("nothing written"), None)
        return self._atomic.__exit__(kind, value, tb)
