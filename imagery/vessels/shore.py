"""Directional runs of land through each pixel, and the shoreline protrusions they reveal."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def _offsets(rows: int, slope: float, start: int = 0) -> tuple[np.ndarray, int, int]:
    """Column shift of each row along ``col = c0 + round(slope * (start + row))``, the
    largest shift (at least 0) and the sheared grid's extra width.

    ``start`` is the first row's index in the grid the lines are laid on: a window of a
    larger raster, given its offset, draws the same digital lines as the whole raster.
    """
    offset = np.round(slope * np.arange(start, start + rows)).astype(np.intp)
    high = max(0, int(offset.max()))
    return offset, high, high - min(0, int(offset.min()))


def _row_groups(offset: np.ndarray):
    """(first row, stop row, shift) of each run of rows sharing one shift."""
    starts = np.flatnonzero(np.r_[True, offset[1:] != offset[:-1]])
    stops = np.r_[starts[1:], offset.size]
    return zip(starts.tolist(), stops.tolist(), offset[starts].tolist(), strict=True)


def _shear(image: np.ndarray, slope: float, fill, start: int = 0) -> np.ndarray:
    """Shift each row left by ``round(slope * row)`` (then right by the largest shift),
    so that the lines of :func:`_offsets` become columns; ``fill`` where no pixel lands.

    Rows sharing a shift are copied as one slice: a few thousand slice copies at most,
    where a gather would read an index image twice the size of the data.
    """
    rows, cols = image.shape
    offset, high, span = _offsets(rows, slope, start)
    if span == 0:
        return image
    out = np.full((rows, cols + span), fill, dtype=image.dtype)
    for r0, r1, shift in _row_groups(offset):
        out[r0:r1, high - shift : high - shift + cols] = image[r0:r1]
    return out


def _unshear(sheared: np.ndarray, slope: float, cols: int, start: int = 0) -> np.ndarray:
    """The inverse of :func:`_shear` for an image of ``cols`` columns."""
    rows = sheared.shape[0]
    offset, high, span = _offsets(rows, slope, start)
    if span == 0:
        return sheared
    out = np.empty((rows, cols), dtype=sheared.dtype)
    for r0, r1, shift in _row_groups(offset):
        out[r0:r1] = sheared[r0:r1, high - shift : high - shift + cols]
    return out


def _running_max_down(values: np.ndarray) -> np.ndarray:
    """Cumulative maximum down the rows, in place.

    Row by row: each step is one vectorised row operation, where
    ``numpy.maximum.accumulate(axis=0)`` walks the columns one element at a time
    (about four times slower here).
    """
    for r in range(1, values.shape[0]):
        np.maximum(values[r - 1], values[r], out=values[r])
    return values


def _running_min_up(values: np.ndarray) -> np.ndarray:
    """Cumulative minimum up the rows (from the last), in place."""
    for r in range(values.shape[0] - 2, -1, -1):
        np.minimum(values[r + 1], values[r], out=values[r])
    return values


def _barriers_steep(land: np.ndarray, slope: float, start: int = 0):
    """Nearest barriers above and below each pixel along the digital lines
    ``col = c0 + round(slope * row)``, |slope| <= 1, in the sheared grid.

    Shearing each row by ``round(slope * row)`` turns those lines into columns, where
    the barriers above and below a pixel are a cumulative maximum and minimum of
    barrier row indices: O(N) whatever the run length. Each barrier code is its row
    (x4) plus its kind in the two low bits: 1 water, 2 outside the image (a barrier of
    unknown kind). Returns the codes above and below.
    """
    rows = land.shape[0]
    # 0 land, 1 water, 2 outside
    sheared = _shear((~land).view(np.int8), slope, 2, start)
    # int32 holds 4 x rows for any tile and halves the memory traffic of the scans.
    code = np.arange(rows, dtype=np.int32)[:, None] * 4 + sheared
    barrier = sheared != 0
    above = _running_max_down(np.where(barrier, code, np.int32(-2)))
    below = _running_min_up(np.where(barrier, code, np.int32(rows * 4 + 2)))
    return above, below


def _short_steep(water: np.ndarray, slope: float, limit: int, start: int = 0) -> np.ndarray:
    """Pixels between two water pixels at most ``limit`` rows apart along the digital
    lines ``col = c0 + round(slope * row)``, |slope| <= 1 (any pixel; the caller keeps land).

    In the sheared grid a line's pixels outside the image are a block at each end of
    its column, so the nearest barrier above a pixel is outside exactly when no water
    lies between it and the image: only water rows need scanning, and a missing one
    (a sentinel ``limit`` rows beyond the image) makes the gap too long.
    """
    rows, cols = water.shape
    sheared = _shear(water, slope, False, start)
    # int16 rows (half the memory traffic of int32) wherever the sentinels fit.
    dtype = np.int16 if rows + 2 * limit + 8 < 2**15 else np.int32
    row = np.arange(rows, dtype=dtype)[:, None]
    above = _running_max_down(np.where(sheared, row, dtype(-limit - 2)))
    below = _running_min_up(np.where(sheared, row, dtype(rows + limit + 2)))
    below -= above
    return _unshear(below <= limit, slope, cols, start)


def _direction(angle_deg: float) -> tuple[bool, float]:
    """Whether a direction is steep (|rows| >= |cols| per step), and its slope: columns
    per row when steep, rows per column otherwise (then worked on the transpose)."""
    angle = np.radians(np.mod(angle_deg, 180.0))
    if abs(np.sin(angle)) >= abs(np.cos(angle)):
        return True, float(np.cos(angle) / np.sin(angle))
    return False, float(np.sin(angle) / np.cos(angle))


def _along(land: np.ndarray, angle_deg: float, finish, origin: tuple[int, int] = (0, 0)):
    """``finish(above, below, step)`` along one direction, back on ``land``'s grid.

    ``step`` is the length of one step along the direction, in pixel sides; ``origin``
    the first row and column of ``land`` in the grid the digital lines are laid on.
    """
    steep, slope = _direction(angle_deg)
    grid = land if steep else np.ascontiguousarray(land.T)
    start = origin[0] if steep else origin[1]
    above, below = _barriers_steep(grid, slope, start)
    out = _unshear(finish(above, below, np.hypot(1.0, slope)), slope, grid.shape[1], start)
    return out if steep else out.T


def _reaches_border(above: np.ndarray, below: np.ndarray) -> np.ndarray:
    return ((above & 3) == 2) | ((below & 3) == 2)


def _runs(
    land: np.ndarray, angle_deg: float, origin: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths (pixel sides) along one direction, and whether each reaches the border."""

    def finish(above, below, step):
        run = ((below >> 2) - (above >> 2) - 1).astype(np.float32) * np.float32(step)
        # Both answers in one array for one unshearing: the sign bit marks the border.
        return np.where(_reaches_border(above, below), -1.0 - run, run)

    signed = _along(land, angle_deg, finish, origin)
    border = signed < 0
    run = np.where(border, -1.0 - signed, signed)
    run[~land] = 0.0
    return run, border & land


def _shorter(
    water: np.ndarray,
    water_t: np.ndarray,
    angle_deg: float,
    length_px: float,
    origin: tuple[int, int] = (0, 0),
):
    """Pixels whose run of land along one direction is shorter than ``length_px`` and
    bounded by water at both ends (not the image border); the caller keeps the land.
    ``water_t`` is ``water``'s transpose, contiguous (for the shallow directions)."""
    steep, slope = _direction(angle_deg)
    # A run of k pixels is shorter when k < length_px / step; as k is whole, when the
    # water rows around it (k + 1 apart) are at most ceil(length_px / step) apart.
    limit = math.ceil(length_px / np.hypot(1.0, slope))
    if steep:
        return _short_steep(water, slope, limit, origin[0])
    return _short_steep(water_t, slope, limit, origin[1]).T


def directional_runs(land: np.ndarray, angle_deg: float, *, bounded: bool = False) -> np.ndarray:
    """Length of the run of ``land`` through each pixel along one direction.

    Parameters
    ----------
    land : ndarray of bool, (row, col)
    angle_deg : float
        Direction in the pixel grid, degrees clockwise from +col (east) towards +row
        (south).
    bounded : bool
        Where a run reaches the image border its true length is unknown: inf (the
        default), or with ``bounded=True`` the part inside the image (a lower bound).

    Returns
    -------
    ndarray of float32, (row, col)
        Run length in pixel sides (a diagonal step counts sqrt 2); 0 off ``land``.
    """
    run, border = _runs(np.asarray(land, dtype=bool), angle_deg)
    if not bounded:
        run[border] = np.inf
    return run


def _angles(count: int) -> np.ndarray:
    return np.arange(count) * (180.0 / max(1, count))


def shore_protrusions(
    water: np.ndarray, *, length_px: int, angles: int = 12, origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Land that juts into water: land whose run in some direction is shorter than ``length_px``.

    A ship berthed along a quay is a short, thin bump on the shoreline with water at
    both ends; along the quay the run of land through it is the ship's length, much
    shorter than the run through the quay. The union over ``angles`` directions of
    land whose run is shorter than ``length_px`` (what closings of the water by line
    segments of that length fill, Soille 2003) holds berthed ships, but also short
    piers and the inside of sharp corners, which the caller separates by shape. Runs
    that reach the image border count as unbounded. O(N) per direction.

    Parameters
    ----------
    water : ndarray of bool, (row, col)
    length_px : int
        Longest protrusion, pixels.
    angles : int
        Directions tested over 180 degrees.
    origin : (int, int), default (0, 0)
        First row and column of ``water`` in the grid the digital lines are laid on: a
        window of a tile, given its offset, finds what the whole tile finds there.

    Returns
    -------
    ndarray of bool, (row, col)
    """
    water = np.asarray(water, dtype=bool)
    filled = np.zeros(water.shape, dtype=bool)
    if water.all() or not water.any():
        return filled
    water_t = np.ascontiguousarray(water.T)
    for angle in _angles(angles):
        filled |= _shorter(water, water_t, angle, length_px, origin)
    filled &= ~water
    return filled


class ShoreGeometry:
    """The shoreline geometry of one water mask, each piece worked out once.

    The scenes of a pair (or a series) are searched on one water mask: the shore band
    and the protrusions are the same for every date, and cost as much as a date's
    CFAR statistics.

    Parameters
    ----------
    water : ndarray of bool, (row, col)
    origin : (int, int), default (0, 0)
        First row and column of ``water`` in a larger grid it is a window of
        (:func:`shore_protrusions`).
    """

    def __init__(self, water: np.ndarray, origin: tuple[int, int] = (0, 0)):
        self.water = np.asarray(water, dtype=bool)
        self.origin = (int(origin[0]), int(origin[1]))
        self._bands: dict[int, np.ndarray] = {}
        self._protrusions: dict[int, np.ndarray] = {}
        self._derived: dict = {}

    def band(self, width_px: int) -> np.ndarray:
        """Land within ``width_px`` steps (4-connected) of the water."""
        if width_px not in self._bands:
            if width_px < 1 or not self.water.any():
                self._bands[width_px] = np.zeros_like(self.water)
            else:
                near = ndimage.binary_dilation(self.water, iterations=width_px)
                self._bands[width_px] = near & ~self.water
        return self._bands[width_px]

    def protrusions(self, length_px: int) -> np.ndarray:
        """:func:`shore_protrusions` of the water, with lines of ``length_px``."""
        if length_px not in self._protrusions:
            self._protrusions[length_px] = shore_protrusions(
                self.water, length_px=length_px, origin=self.origin
            )
        return self._protrusions[length_px]

    def derived(self, key, make):
        """``make()``, once per ``key``: anything else the scenes on this water share
        (the key names everything besides the water that the result depends on)."""
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]
