"""The rasters a review package shows: held in memory, or already written to files.

A pair read whole arrives as :class:`~imagery.raster.Raster` objects; a whole tile run
window by window (:func:`imagery.tiled.detect_pair_files`) arrives as display and change
COGs it wrote core by core, which no step here reads whole. Either way the package
needs the same few things, gathered in :class:`PackageRasters`: the three COGs to put
in the folder, the stretch and change limits every picture shares, a small picture of
each scene for the overview map and the footprints, and where each chip's pixels come
from.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from imagery.errors import InputError
from imagery.io import raster_info, read_raster, write_raster
from imagery.raster import Raster
from imagery.review.display import (
    Stretch,
    change_limits,
    display_raster,
    stretch_for,
    stretch_from_sample,
)

__all__ = ["FILE_CACHE_BYTES", "PackageRasters", "from_files", "from_memory"]

#: Longest side of the small picture of a scene read from a file (overview map and
#: footprints; the overview map itself is 900 px).
PREVIEW_PX = 2048
#: Full-resolution pixels sampled from a file for the stretch and the change limits, in
#: windows of ``SAMPLE_WINDOW_PX`` on a regular lattice over the scene (15 x 15 windows
#: of 64 px, 0.92 Mpx). On a simulated 2048 px pair, the change limits of nine 256 px
#: windows (four in the corners) saturated 25 % lower than the whole file's.
SAMPLE_PX = 1_000_000
SAMPLE_WINDOW_PX = 64
#: GDAL's block cache while a package is made from files, bytes: chips read a few
#: blocks each, and GDAL's default (5 % of RAM) kept some 800 MB of a tile's blocks.
FILE_CACHE_BYTES = 128 * 2**20


@dataclasses.dataclass(frozen=True)
class PackageRasters:
    """What a review package needs of its rasters.

    Attributes
    ----------
    before, after : Raster
        Display rasters (:func:`~imagery.review.display.display_raster`), whole or
        decimated: bounds, times, sensor, footprints and the overview map.
    stretch : Stretch
        The after scene's, shared by both scenes.
    change_clear, change_max : float
        Display limits of the change band (:func:`~imagery.review.display.change_limits`).
    chip_sources : (Raster or Path, Raster or Path)
        Full-resolution display pixels of each scene: a raster, or a display COG
        from which each chip reads its own window.
    write : callable(folder)
        Puts ``before.tif``, ``after.tif`` and ``change.tif`` (COGs) into ``folder``.
    """

    before: Raster
    after: Raster
    stretch: Stretch
    change_clear: float
    change_max: float
    chip_sources: tuple[Raster | Path, Raster | Path]
    write: Callable[[Path], None]


def _check_grids(shapes_transforms, crss, names) -> None:
    (shape0, transform0), crs0 = shapes_transforms[0], crss[0]
    for name, (shape, transform), crs in zip(
        names[1:], shapes_transforms[1:], crss[1:], strict=True
    ):
        if shape != shape0 or not transform.almost_equals(transform0):
            raise InputError(
                f"{name} raster is not on the {names[0]} raster's grid "
                f"({shape} {tuple(transform)[:6]} vs {shape0} {tuple(transform0)[:6]}); "
                "co-register first"
            )
        if crs != crs0:
            raise InputError(f"{name} raster CRS {crs} differs from {names[0]}'s {crs0}")


def from_memory(before: Raster, after: Raster, change: Raster) -> PackageRasters:
    """The package's rasters from prepared, co-registered scenes held in memory.

    Raises
    ------
    InputError
        The rasters are not on one grid.
    """
    _check_grids(
        [(r.shape, r.transform) for r in (before, after, change)],
        [r.crs for r in (before, after, change)],
        ("before", "after", "change"),
    )
    before_d, after_d = display_raster(before), display_raster(after)
    change_f = change.replace(data=change.data.astype(np.float32, copy=False))
    clear, top = change_limits(change_f.data[0])

    def write(folder: Path) -> None:
        write_raster(before_d, folder / "before.tif", cog=True)
        write_raster(after_d, folder / "after.tif", cog=True)
        write_raster(change_f, folder / "change.tif", cog=True)

    return PackageRasters(
        before=before_d,
        after=after_d,
        stretch=stretch_for(after_d),
        change_clear=clear,
        change_max=top,
        chip_sources=(before_d, after_d),
        write=write,
    )


def _sample(path: Path, bands: list[int]) -> np.ndarray:
    """Full-resolution pixels of ``bands``, (band, n): the whole file when it holds at
    most ``SAMPLE_PX`` pixels a band, else windows of ``SAMPLE_WINDOW_PX`` on a regular
    lattice over it (one file block each, at the centres of the lattice's cells, so a
    tile's nodata corners weigh no more than their share)."""
    with rasterio.open(path) as ds:
        if ds.height * ds.width <= SAMPLE_PX:
            return ds.read(bands).reshape(len(bands), -1)
        side = SAMPLE_WINDOW_PX
        per_axis = max(1, math.isqrt(SAMPLE_PX // (side * side)))
        centres_r = ((np.arange(per_axis) + 0.5) * ds.height / per_axis).astype(int)
        centres_c = ((np.arange(per_axis) + 0.5) * ds.width / per_axis).astype(int)
        pieces = [
            ds.read(
                bands,
                window=Window(
                    int(np.clip(c - side // 2, 0, ds.width - side)),
                    int(np.clip(r - side // 2, 0, ds.height - side)),
                    min(side, ds.width),
                    min(side, ds.height),
                ),
            ).reshape(len(bands), -1)
            for r in centres_r
            for c in centres_c
        ]
    return np.concatenate(pieces, axis=1)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, target)


def from_files(
    before_path: str | os.PathLike,
    after_path: str | os.PathLike,
    change_path: str | os.PathLike,
) -> PackageRasters:
    """The package's rasters from display and change COGs on one grid, never read whole.

    Parameters
    ----------
    before_path, after_path : path-like
        Display COGs of the two scenes on one grid, as :func:`imagery.tiled.detect_pair_files`
        writes them (``display_paths``).
    change_path : path-like
        The change COG on the same grid (band 1 the signed change).

    Raises
    ------
    InputError
        The files are not on one grid, or are not display rasters.
    """
    paths = tuple(Path(p) for p in (before_path, after_path, change_path))
    infos = [raster_info(p) for p in paths]
    _check_grids(
        [((i.height, i.width), i.transform) for i in infos],
        [i.crs for i in infos],
        tuple(
            f"{role} ({path})"
            for role, path in zip(("before", "after", "change"), paths, strict=True)
        ),
    )
    decimation = max(1, math.ceil(max(infos[0].height, infos[0].width) / PREVIEW_PX))
    before_d, after_d = (read_raster(p, decimation=decimation) for p in paths[:2])
    if after_d.sensor not in ("s1", "s2"):
        raise InputError(f"{paths[1]}: not a display raster (no S1 or S2 sensor tag)")
    if after_d.sensor == "s1":
        stretch = stretch_for(after_d)
    else:
        stretch = stretch_from_sample(_sample(paths[1], [1, 2, 3]))
    clear, top = change_limits(_sample(paths[2], [1])[0].astype(np.float32))

    def write(folder: Path) -> None:
        for name, source in zip(("before", "after", "change"), paths, strict=True):
            _link_or_copy(source, folder / f"{name}.tif")

    return PackageRasters(
        before=before_d,
        after=after_d,
        stretch=stretch,
        change_clear=clear,
        change_max=top,
        chip_sources=paths[:2],
        write=write,
    )
