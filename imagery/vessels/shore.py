"""Directional runs of land through each pixel, and the shoreline protrusions they reveal."""

from __future__ import annotations

import numpy as np


def _runs_steep(land: np.ndarray, slope: float) -> tuple[np.ndarray, np.ndarray]:
    """Runs of ``land`` along the digital lines ``col = c0 + round(slope * row)``, |slope| <= 1.

    Shearing each row by ``round(slope * row)`` turns those lines into columns, where
    the run through a pixel is the distance between the barriers above and below it: a
    cumulative maximum and minimum of barrier row indices, O(N) whatever the length.
    Returns the run in steps (the image border counts as a barrier) and whether the
    run reaches the border.
    """
    rows, cols = land.shape
    offset = np.round(slope * np.arange(rows)).astype(np.int64)
    high = max(0, int(offset.max()))
    span = high - min(0, int(offset.min()))
    # 0 land, 1 water (a barrier), 2 outside the image (a barrier of unknown kind)
    padded = np.pad(np.where(land, 0, 1).astype(np.int8), ((0, 0), (span, span)), constant_values=2)
    source = np.arange(cols + span)[None, :] + (offset[:, None] - high + span)
    sheared = np.take_along_axis(padded, source, axis=1).astype(np.int64)
    # Each barrier carries its row index (x4) and its kind (the two low bits).
    index = np.arange(rows, dtype=np.int64)[:, None] * 4
    barrier = sheared != 0
    above = np.maximum.accumulate(np.where(barrier, index + sheared, -2), axis=0)
    below = np.where(barrier, index + sheared, rows * 4 + 2)
    below = np.minimum.accumulate(below[::-1], axis=0)[::-1]
    run = ((below >> 2) - (above >> 2) - 1).astype(np.float32)
    border = ((above & 3) == 2) | ((below & 3) == 2)
    back = np.arange(cols)[None, :] - offset[:, None] + high
    return np.take_along_axis(run, back, axis=1), np.take_along_axis(border, back, axis=1)


def _runs(land: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths (pixel sides) along one direction, and whether each reaches the border."""
    angle = np.radians(np.mod(angle_deg, 180.0))
    if abs(np.sin(angle)) >= abs(np.cos(angle)):
        slope = np.cos(angle) / np.sin(angle)  # columns per row
        run, border = _runs_steep(land, slope)
    else:
        slope = np.sin(angle) / np.cos(angle)  # rows per column
        run, border = _runs_steep(np.ascontiguousarray(land.T), slope)
        run, border = run.T, border.T
    run = run * np.float32(np.hypot(1.0, slope))
    run[~land] = 0.0
    return run, border & land


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
        filled |= directional_runs(land, angle) < length_px
    return filled & land
