"""Image chips: a before and an after PNG around each flag, for a quick look.

Each chip is centred on the flag's centroid, covers ``max(min_window_m, 3 x length)``
of ground, shows the display stretch of :mod:`imagery.review.display` enlarged with
nearest-neighbour (so pixels stay pixels), and carries the flag's outline, a scale
bar in metres and a north arrow pointing to true north (in UTM, grid north differs
from true north by the meridian convergence, up to a few degrees).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from PIL import Image, ImageDraw, ImageFont
from pyproj import Geod, Transformer
from rasterio.crs import CRS
from rasterio.errors import WindowError
from rasterio.windows import Window, from_bounds

from imagery.atomic import atomic_path
from imagery.io import raster_info
from imagery.raster import Raster
from imagery.review.display import Stretch, to_rgb8
from imagery.review.styles import COLOURS

__all__ = [
    "chip_window",
    "grid_to_true_north_deg",
    "ground_m_per_unit",
    "render_chip",
    "render_overview",
    "write_chips",
]

log = logging.getLogger(__name__)

_GEOD = Geod(ellps="WGS84")
_NICE_M = (5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)


def grid_to_true_north_deg(crs: CRS, x: float, y: float) -> float:
    """Clockwise angle (degrees) from grid north to true north at (x, y) in ``crs``.

    Found by stepping 0.001 degree north of the point in geographic coordinates and
    measuring the direction of that step on the grid.
    """
    to_geo = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    to_grid = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lon, lat = to_geo.transform(x, y)
    nx, ny = to_grid.transform(lon, min(lat + 1e-3, 89.999))
    return math.degrees(math.atan2(nx - x, ny - y))


def ground_m_per_unit(crs: CRS, x: float, y: float) -> float:
    """Metres on the ground per CRS unit eastward at (x, y): 1 in UTM, cos(lat) in Web Mercator."""
    crs = CRS.from_user_input(crs)
    step = 0.0001 if crs.is_geographic else 10.0
    to_geo = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon0, lat0 = to_geo.transform(x, y)
    lon1, lat1 = to_geo.transform(x + step, y)
    _, _, dist = _GEOD.inv(lon0, lat0, lon1, lat1)
    return float(dist) / step


def chip_window(
    raster: Raster, x: float, y: float, window_m: float, *, m_per_unit: float = 1.0
) -> tuple[int, int, int]:
    """Top row, left column and side (pixels) of a square window centred on (x, y)."""
    res_m = raster.res[0] * m_per_unit
    side = max(8, round(window_m / res_m))
    col, row = ~raster.transform * (x, y)
    return math.floor(row - side / 2), math.floor(col - side / 2), side


def _crop(data: np.ndarray, row0: int, col0: int, side: int, fill: float) -> np.ndarray:
    """``data[:, row0:row0+side, col0:col0+side]``, padded with ``fill`` off the raster."""
    bands, rows, cols = data.shape
    out = np.full((bands, side, side), fill, dtype=np.result_type(data.dtype, np.float32))
    r0, c0 = max(row0, 0), max(col0, 0)
    r1, c1 = min(row0 + side, rows), min(col0 + side, cols)
    if r1 > r0 and c1 > c0:
        out[:, r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = data[:, r0:r1, c0:c1]
    return out


def _nice_length(max_m: float) -> int:
    fits = [n for n in _NICE_M if n <= max_m]
    return fits[-1] if fits else _NICE_M[0]


def _font(size: int):
    return ImageFont.load_default(size=size)


def _draw_scale_bar(draw: ImageDraw.ImageDraw, px_per_m: float, size: int) -> None:
    length_m = _nice_length(0.35 * size / px_per_m)
    length_px = length_m * px_per_m
    x0, y0 = 8, size - 12
    draw.rectangle([x0 - 1, y0 - 4, x0 + length_px + 1, y0 + 1], fill=(0, 0, 0))
    draw.rectangle([x0, y0 - 3, x0 + length_px, y0], fill=(255, 255, 255))
    draw.text(
        (x0, y0 - 6),
        f"{length_m} m",
        fill=(255, 255, 255),
        font=_font(11),
        anchor="ld",
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )


def _draw_north_arrow(draw: ImageDraw.ImageDraw, angle_deg: float, size: int) -> None:
    cx, cy, r = size - 16, 24, 10
    a = math.radians(angle_deg)
    # Image rows grow downward, so "up" on the grid is -y.
    ux, uy = math.sin(a), -math.cos(a)
    px, py = -uy, ux
    tip = (cx + ux * r, cy + uy * r)
    left = (cx - ux * r * 0.6 + px * r * 0.55, cy - uy * r * 0.6 + py * r * 0.55)
    right = (cx - ux * r * 0.6 - px * r * 0.55, cy - uy * r * 0.6 - py * r * 0.55)
    draw.polygon([tip, left, (cx, cy), right], fill=(255, 255, 255), outline=(0, 0, 0))
    draw.text(
        (cx - ux * (r + 7), cy - uy * (r + 7)),
        "N",
        fill=(255, 255, 255),
        font=_font(11),
        anchor="mm",
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )


def render_chip(
    display: Raster,
    stretch: Stretch,
    geometry,
    *,
    window_m: float,
    size_px: int,
    colour: str,
    caption: str,
    north_deg: float,
    m_per_unit: float = 1.0,
) -> Image.Image:
    """One chip as a PIL image: the display raster around ``geometry``, annotated.

    Parameters
    ----------
    display : Raster
        A display raster (:func:`imagery.review.display.display_raster`).
    geometry : shapely geometry
        The flag, in ``display.crs``.
    window_m : float
        Ground side of the chip, metres.
    size_px : int
        Side of the PNG, pixels.
    colour : str
        Outline colour ``"r,g,b"``.
    north_deg : float
        Clockwise angle from grid north to true north.
    m_per_unit : float
        Ground metres per CRS unit at the flag (1 for UTM).
    """
    c = geometry.centroid
    row0, col0, side = chip_window(display, c.x, c.y, window_m, m_per_unit=m_per_unit)
    fill = display.nodata if display.nodata is not None else float("nan")
    pixels = _crop(display.data, row0, col0, side, fill)
    rgb = to_rgb8(pixels, stretch, nodata=display.nodata)
    image = Image.fromarray(rgb, "RGB").resize((size_px, size_px), Image.Resampling.NEAREST)
    scale = size_px / side
    inverse = ~display.transform
    draw = ImageDraw.Draw(image)
    rgb_colour = tuple(int(v) for v in colour.split(",")[:3])
    polygons = getattr(geometry, "geoms", [geometry])
    for polygon in polygons:
        xs, ys = np.asarray(polygon.exterior.coords).T
        cols, rows = inverse * (xs, ys)
        points = list(
            zip(((cols - col0) * scale).tolist(), ((rows - row0) * scale).tolist(), strict=True)
        )
        draw.line([*points, points[0]], fill=rgb_colour, width=2)
    _draw_scale_bar(draw, scale / (display.res[0] * m_per_unit), size_px)
    _draw_north_arrow(draw, north_deg, size_px)
    draw.text(
        (6, 4), caption, fill=(255, 255, 255), font=_font(11), stroke_width=2, stroke_fill=(0, 0, 0)
    )
    return image


def _save_png(image: Image.Image, path: Path) -> None:
    # zlib's default level: Pillow's optimize=True took 13 times as long for chips 2 %
    # smaller, most of a whole tile's package.
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


class _FileSource:
    """A display file open for the chips' windows: opened once, so that GDAL's block
    cache serves neighbouring chips."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.info = raster_info(self.path)

    def __enter__(self):
        self.ds = rasterio.open(self.path)
        return self

    def __exit__(self, *exc) -> None:
        self.ds.close()

    def around(self, x: float, y: float, side: float) -> Raster:
        """The part a chip of ``side`` (CRS units) centred on (x, y) shows, with a
        margin; off the file, the chip is padded (:func:`_crop`)."""
        half = 0.75 * side
        window = from_bounds(x - half, y - half, x + half, y + half, transform=self.ds.transform)
        window = window.round_offsets(op="floor").round_lengths(op="ceil")
        try:
            window = window.intersection(Window(0, 0, self.ds.width, self.ds.height))
        except WindowError:  # the flag lies off the file: a chip of fill
            window = Window(0, 0, 1, 1)
        info = self.info
        return Raster(
            data=self.ds.read(window=window),
            transform=self.ds.window_transform(window),
            crs=info.crs,
            nodata=info.nodata,
            time=info.time,
            sensor=info.sensor,
            band_names=info.band_names if all(info.band_names) else (),
        )


def write_chips(
    folder: str | os.PathLike,
    flags: gpd.GeoDataFrame,
    scenes: Sequence[tuple[str, Raster | str | os.PathLike, Stretch]],
    *,
    prefix: str = "",
    size_px: int = 192,
    min_window_m: float = 600.0,
) -> dict[int, list[str]]:
    """Write a chip per flag and scene: ``<folder>/<prefix><id>_<role>.png``.

    Parameters
    ----------
    folder : path-like
        The ``chips/`` folder (created).
    flags : GeoDataFrame
        With ``id``, ``kind``, ``length_m`` and polygons in the scenes' CRS.
    scenes : sequence of (role, display raster or display file, stretch)
        E.g. ``[("before", before, s), ("after", after, s)]``, all on one grid. A file
        (a display COG of a whole tile) is not read whole: each chip reads its window.
    prefix : str
        Prepended to file names (``"departed_"`` for departed flags).
    size_px : int
        Side of each PNG (192 by default).
    min_window_m : float
        Smallest ground side of a chip, metres.

    Returns
    -------
    dict
        Flag id -> chip file names (relative to ``folder``), in ``scenes`` order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[int, list[str]] = {}
    if flags.empty:
        return written
    with contextlib.ExitStack() as stack:
        opened = [
            (role, s if isinstance(s, Raster) else stack.enter_context(_FileSource(s)), stretch)
            for role, s, stretch in scenes
        ]
        _write_chips(
            folder,
            flags,
            opened,
            written,
            prefix=prefix,
            size_px=size_px,
            min_window_m=min_window_m,
        )
    log.debug("wrote %d chip pairs to %s", len(written), folder)
    return written


def _write_chips(folder, flags, scenes, written, *, prefix, size_px, min_window_m) -> None:
    first = scenes[0][1]
    crs = first.crs if isinstance(first, Raster) else first.info.crs
    transform = first.transform if isinstance(first, Raster) else first.ds.transform
    # Strip by strip of the files' 512 px blocks, west to east: neighbouring chips
    # share blocks, which GDAL's cache then decodes once.
    centres = flags.geometry.centroid
    cols, rows = ~transform * (centres.x.to_numpy(), centres.y.to_numpy())
    order = np.lexsort((cols, np.floor(rows / 512)))
    for flag in flags.iloc[order].itertuples(index=False):
        geometry = flag.geometry
        length = float(flag.length_m) if np.isfinite(flag.length_m or np.nan) else 0.0
        window_m = max(min_window_m, 3.0 * length)
        cx, cy = geometry.centroid.x, geometry.centroid.y
        north = grid_to_true_north_deg(crs, cx, cy)
        m_per_unit = ground_m_per_unit(crs, cx, cy)
        colour = COLOURS["departed"] if prefix else COLOURS.get(flag.kind, COLOURS["vessel"])
        names = []
        for role, source, stretch in scenes:
            display = (
                source
                if isinstance(source, Raster)
                else source.around(cx, cy, window_m / m_per_unit)
            )
            when = display.time.strftime("%Y-%m-%d") if display.time else ""
            image = render_chip(
                display,
                stretch,
                geometry,
                window_m=window_m,
                size_px=size_px,
                colour=colour,
                caption=f"#{flag.id} {role} {when}".strip(),
                north_deg=north,
                m_per_unit=m_per_unit,
            )
            name = f"{prefix}{int(flag.id)}_{role}.png"
            _save_png(image, folder / name)
            names.append(name)
        written[int(flag.id)] = names


def _block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks, NaN-aware, (band, row, col) -> smaller."""
    if factor <= 1:
        return data.astype(np.float32)
    bands, rows, cols = data.shape
    rows_f, cols_f = rows // factor * factor, cols // factor * factor
    out = np.empty((bands, rows_f // factor, cols_f // factor), dtype=np.float32)
    for b in range(bands):  # one band at a time keeps the float copy small
        block = data[b, :rows_f, :cols_f].astype(np.float32)
        block = block.reshape(rows_f // factor, factor, cols_f // factor, factor)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[b] = np.nanmean(block, axis=(1, 3))
    return out


def render_overview(
    display: Raster,
    stretch: Stretch,
    layers: Sequence[tuple[gpd.GeoDataFrame | None, str]],
    *,
    max_px: int = 900,
    outline_px: int = 2,
) -> Image.Image:
    """A small map of the whole scene with outlines drawn on it.

    Parameters
    ----------
    display : Raster
        Display raster (its nodata is treated as missing).
    layers : sequence of (GeoDataFrame or None, "r,g,b")
        Polygons in ``display.crs`` and their outline colour, drawn in order.
    max_px : int
        Longest side of the image; the raster is block-averaged down to fit.
    """
    factor = max(1, math.ceil(max(display.shape) / max_px))
    data = display.data
    if display.nodata is not None and np.isfinite(display.nodata):
        data = np.where(data == display.nodata, np.nan, data.astype(np.float32))
    small = _block_mean(data, factor)
    image = Image.fromarray(to_rgb8(small, stretch), "RGB")
    draw = ImageDraw.Draw(image)
    inverse = ~display.transform
    for frame, colour in layers:
        if frame is None or frame.empty:
            continue
        rgb_colour = tuple(int(v) for v in colour.split(",")[:3])
        for geometry in frame.geometry:
            for polygon in getattr(geometry, "geoms", [geometry]):
                if polygon.is_empty:
                    continue
                xs, ys = np.asarray(polygon.exterior.coords).T
                cols, rows = inverse * (xs, ys)
                cols, rows = cols / factor, rows / factor
                points = list(zip(cols.tolist(), rows.tolist(), strict=True))
                draw.line([*points, points[0]], fill=rgb_colour, width=outline_px)
                if max(np.ptp(cols), np.ptp(rows)) < 8:
                    # Too small to see at this scale: ring it.
                    cx, cy, r = float(cols.mean()), float(rows.mean()), 7
                    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=rgb_colour, width=2)
    return image
