"""Directional runs of land through each pixel, and the shoreline protrusions they reveal."""

from __future__ import annotations

import numpy as np


def _barriers_steep(land: np.ndarray, slope: float):
    """Nearest barriers above and below each pixel along the digital lines
    ``col = c0 + round(slope * row)``, |slope| <= 1, in the sheared grid.

    Shearing each row by ``round(slope * row)`` turns those lines into columns, where
    the barriers above and below a pixel are a cumulative maximum and minimum of
    barrier row indices: O(N) whatever the run length. Each barrier code is its row
    (x4) plus its kind in the two low bits: 1 water, 2 outside the image (a barrier of
    unknown kind). Returns the codes above and below, and the unshearing index (None
    when the lines are the columns themselves).
    """
    rows, cols = land.shape
    offset = np.round(slope * np.arange(rows)).astype(np.intp)
    high = max(0, int(offset.max()))
    span = high - min(0, int(offset.min()))
    # 0 land, 1 water, 2 outside
    padded = np.pad((~land).view(np.int8), ((0, 0), (span, span)), constant_values=2)
    if span:
        source = np.arange(cols + span)[None, :] + (offset[:, None] - high + span)
        sheared = np.take_along_axis(padded, source, axis=1)
    else:
        sheared = padded
    # int32 holds 4 x rows for any tile and halves the memory traffic of the scans.
    code = np.arange(rows, dtype=np.int32)[:, None] * 4 + sheared
    barrier = sheared != 0
    above = np.maximum.accumulate(np.where(barrier, code, np.int32(-2)), axis=0)
    below = np.where(barrier, code, np.int32(rows * 4 + 2))
    below = np.minimum.accumulate(below[::-1], axis=0)[::-1]
    back = np.arange(cols)[None, :] - offset[:, None] + high if span else None
    return above, below, back


def _unshear(image: np.ndarray, back: np.ndarray | None) -> np.ndarray:
    return image if back is None else np.take_along_axis(image, back, axis=1)


def _along(land: np.ndarray, angle_deg: float, finish):
    """``finish(above, below, step)`` along one direction, back on ``land``'s grid.

    ``step`` is the length of one step along the direction, in pixel sides.
    """
    angle = np.radians(np.mod(angle_deg, 180.0))
    if abs(np.sin(angle)) >= abs(np.cos(angle)):
        slope = np.cos(angle) / np.sin(angle)  # columns per row
        above, below, back = _barriers_steep(land, slope)
        return _unshear(finish(above, below, np.hypot(1.0, slope)), back)
    slope = np.sin(angle) / np.cos(angle)  # rows per column
    above, below, back = _barriers_steep(np.ascontiguousarray(land.T), slope)
    return _unshear(finish(above, below, np.hypot(1.0, slope)), back).T


def _reaches_border(above: np.ndarray, below: np.ndarray) -> np.ndarray:
    return ((above & 3) == 2) | ((below & 3) == 2)


def _runs(land: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths (pixel sides) along one direction, and whether each reaches the border."""

    def finish(above, below, step):
        run = ((below >> 2) - (above >> 2) - 1).astype(np.float32) * np.float32(step)
        # Both answers in one array for one unshearing: the sign bit marks the border.
        return np.where(_reaches_border(above, below), -1.0 - run, run)

    signed = _along(land, angle_deg, finish)
    border = signed < 0
    run = np.where(border, -1.0 - signed, signed)
    run[~land] = 0.0
    return run, border & land


def _shorter(land: np.ndarray, angle_deg: float, length_px: float) -> np.ndarray:
    """Land whose run along one direction is shorter than ``length_px`` and bounded by
    water at both ends (not the image border)."""

    def finish(above, below, step):
        short = (below >> 2) - (above >> 2) - 1 < length_px / step
        return short & ~_reaches_border(above, below)

    return _along(land, angle_deg, finish) & land


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


def shore_protrusions(water: np.ndarray, *, length_px: int, angles: int = 12) -> np.ndarray:
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

    Returns
    -------
    ndarray of bool, (row, col)
    """
    land = ~np.asarray(water, dtype=bool)
    filled = np.zeros(land.shape, dtype=bool)
    if land.all() or not land.any():
        return filled
    for angle in _angles(angles):
        filled |= _shorter(land, angle, length_px)
    return filled
