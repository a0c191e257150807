"""Measure the shift of every window of a grid, one grid row (one strip) at a time.

For each grid row, one strip of each scene is read (the window height plus a margin),
windows with too few usable pixels are set aside, and the rest are correlated in one
batch. Each moving window is cut where the window above it found its content (whole
pixels, never resampled): the displacement field is smooth, so the two windows then
share almost all of their content and the taper's pull towards zero shift vanishes.
Windows whose shift rounds to another whole pixel are measured once more from there.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from imagery.registration.correlation import PeakResult, correlate, spectra
from imagery.registration.features import Feature, SensorProfile, orientation
from imagery.registration.windows import Grid

if TYPE_CHECKING:
    from imagery.registration.estimate import Options

__all__ = ["MASKED", "MEASURED", "NODATA", "Measurements", "measure"]

#: Window status codes: measured, too little data in either scene, too much masked.
MEASURED, NODATA, MASKED = 0, 1, 2


@dataclasses.dataclass(frozen=True, eq=False)
class Measurements:
    """Per-window results over the whole grid (n = grid.size), plus pixel counts."""

    centres: np.ndarray  # (n, 2) x, y
    status: np.ndarray  # (n,) NODATA / MASKED / MEASURED
    shift: np.ndarray  # (n, 2), NaN unless MEASURED
    coherence: np.ndarray  # (n,)
    psr: np.ndarray  # (n,)
    unusable_moving: float  # share of window pixels unusable in the moving scene
    unusable_reference: float
    cloud_moving: float  # share of window pixels under SCL cloud in the moving scene


def _window_sums(mask: np.ndarray, cols: np.ndarray, size: int, top: int) -> np.ndarray:
    """Sum of ``mask[top:top+size, c:c+size]`` for each c in ``cols``."""
    colsum = mask[top : top + size].sum(axis=0, dtype=np.int64)
    cum = np.concatenate([[0], np.cumsum(colsum)])
    return cum[cols + size] - cum[cols]


def _classify(ref: Feature, mov: Feature, grid: Grid, need: float) -> tuple[np.ndarray, np.ndarray]:
    """Status of each window of a grid row, and its unusable pixel counts.

    Returns ``status`` (n_cols,) and ``counts`` (3,): unusable pixels in the moving
    windows, in the reference windows, and SCL cloud in the moving windows.
    """
    size, margin = grid.window_px, grid.margin_px
    area = size * size

    def usable(mask: np.ndarray) -> np.ndarray:
        return area - _window_sums(mask, grid.cols, size, margin)

    bad_ref, bad_mov = ref.nodata | ref.masked, mov.nodata | mov.masked
    status = np.full(len(grid.cols), MEASURED)
    status[(usable(bad_ref) < need) | (usable(bad_mov) < need)] = MASKED
    status[(usable(ref.nodata) < need) | (usable(mov.nodata) < need)] = NODATA
    counts = np.array(
        [area * len(grid.cols) - usable(m).sum() for m in (bad_mov, bad_ref, mov.cloud)],
        dtype=np.float64,
    )
    return status, counts


def _orientation_patches(feature: Feature, left: np.ndarray, grid: Grid, smooth_px: float):
    """Orientation of each window's neighbourhood, shape (n, strip rows, window + 2 margin).

    Computed on the patches themselves when they cover less than the strip (sparse
    grids on large scenes), else on the whole strip and then cut.
    """
    width = grid.window_px + 2 * grid.margin_px
    starts = left - grid.margin_px
    if left.size * width < feature.values.shape[-1]:

        def cut(image: np.ndarray) -> np.ndarray:
            return np.stack([image[:, c : c + width] for c in starts])

        patches = Feature(cut(feature.values), cut(feature.masked), cut(feature.cloud))
        return orientation(patches, smooth_px=smooth_px)
    strip = orientation(feature, smooth_px=smooth_px)
    return np.stack([strip[:, c : c + width] for c in starts])


def _windows(patches: np.ndarray, step: np.ndarray, margin: int, size: int) -> np.ndarray:
    """Windows of ``size`` cut from each patch at offset ``margin + step`` (n, 2: x, y)."""
    return np.stack(
        [
            p[margin + dy : margin + dy + size, margin + dx : margin + dx + size]
            for p, (dx, dy) in zip(patches, step, strict=True)
        ]
    )


def _correlate_row(
    ref: Feature,
    mov: Feature,
    left: np.ndarray,
    prior: np.ndarray,
    grid: Grid,
    *,
    profile: SensorProfile,
    options: Options,
) -> PeakResult:
    """Shift, coherence and PSR of the windows of one grid row starting at columns ``left``.

    Each moving window is cut ``prior`` whole pixels (n, 2: x, y) away from its
    reference window, typically the integer shift found just above it: the displacement
    field is smooth, so the windows then share almost all of their content. With
    ``options.refine``, windows whose shift rounds to another integer are measured again
    from there (whole pixels, cut from the strip, never resampled).
    """
    size, margin = grid.window_px, grid.margin_px
    reach = math.ceil(options.max_shift_px)
    o_ref = _orientation_patches(ref, left, grid, profile.smooth_px)
    o_mov = _orientation_patches(mov, left, grid, profile.smooth_px)
    f_ref = spectra(_windows(o_ref, np.zeros_like(prior), margin, size))
    step = prior if options.refine else np.zeros_like(prior)
    result = correlate(f_ref, spectra(_windows(o_mov, step, margin, size)), cutoff=profile.cutoff)
    shift, coherence, psr = result.shift + step, result.coherence, result.psr
    if options.refine:
        better = np.rint(shift).astype(np.int64)
        redo = np.flatnonzero((better != step).any(axis=1) & (np.abs(better) <= reach).all(axis=1))
        if redo.size:
            again = correlate(
                f_ref[redo],
                spectra(_windows(o_mov[redo], better[redo], margin, size)),
                cutoff=profile.cutoff,
            )
            shift[redo] = again.shift + better[redo]
            coherence[redo], psr[redo] = again.coherence, again.psr
    return PeakResult(shift=shift, coherence=coherence, psr=psr)


def measure(source, grid: Grid, *, profile: SensorProfile, options: Options) -> Measurements:
    """Measure every window of ``grid``; see :class:`Measurements`.

    ``source`` has ``read(which, row0, row1) -> Feature`` for ``"reference"`` and
    ``"moving"``, both on the reference grid; one grid row at a time is read, as a
    strip of the window height plus the margin on both sides.
    """
    n_rows, n_cols = len(grid.rows), len(grid.cols)
    need = options.min_valid_fraction * grid.window_px**2
    min_coherence = (
        options.min_coherence if options.min_coherence is not None else profile.min_coherence
    )
    reach = math.ceil(options.max_shift_px)
    status = np.full((n_rows, n_cols), NODATA)
    shift = np.full((n_rows, n_cols, 2), np.nan)
    coherence = np.zeros((n_rows, n_cols))
    psr = np.zeros((n_rows, n_cols))
    counts = np.zeros(3)
    prior = np.zeros((n_cols, 2), dtype=np.int64)  # integer shift expected per column
    seen = np.zeros(n_cols, dtype=bool)  # columns whose prior comes from their own window
    for index, row in enumerate(grid.rows):
        top, bottom = int(row) - grid.margin_px, int(row) + grid.window_px + grid.margin_px
        ref, mov = source.read("reference", top, bottom), source.read("moving", top, bottom)
        status[index], row_counts = _classify(ref, mov, grid, need)
        counts += row_counts
        todo = np.flatnonzero(status[index] == MEASURED)
        if not todo.size:
            continue
        result = _correlate_row(
            ref, mov, grid.cols[todo], prior[todo], grid, profile=profile, options=options
        )
        shift[index, todo] = result.shift
        coherence[index, todo] = result.coherence
        psr[index, todo] = result.psr
        good = todo[result.coherence >= min_coherence]
        if good.size:
            steps = np.clip(np.rint(shift[index, good]).astype(np.int64), -reach, reach)
            prior[good], seen[good] = steps, True
            # Columns without a good window yet start from this row's typical shift.
            prior[~seen] = np.median(steps, axis=0).round().astype(np.int64)
    total = max(grid.size * grid.window_px**2, 1)
    centres = [grid.centres(i) for i in range(n_rows)]
    return Measurements(
        centres=np.concatenate(centres) if centres else np.zeros((0, 2)),
        status=status.ravel(),
        shift=shift.reshape(-1, 2),
        coherence=coherence.ravel(),
        psr=psr.ravel(),
        unusable_moving=counts[0] / total,
        unusable_reference=counts[1] / total,
        cloud_moving=counts[2] / total,
    )
