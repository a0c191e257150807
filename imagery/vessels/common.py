"""Helpers shared by the S1 and S2 detectors: morphology, per-object measures, scores, sizes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from scipy import ndimage

from imagery.filters import overlap_slices
from imagery.objects import hysteresis_threshold, label_objects, measure_objects
from imagery.raster import Raster
from imagery.vessels.params import VesselParams


def _pixel_m(scene: Raster) -> float:
    """The scene's pixel side on the ground, metres (:attr:`Raster.pixel_m`)."""
    return scene.pixel_m


def _square(params: VesselParams) -> np.ndarray:
    return np.ones((params.min_width_px, params.min_width_px), dtype=bool)


def line_opening(mask: np.ndarray, *, length_px: int = 3) -> np.ndarray:
    """Union of openings by ``length_px`` line segments in four directions.

    Keeps any one-pixel-wide line at least ``length_px`` long (a narrow hull seen at 10 m)
    while removing specks; a square opening would remove both.
    """
    if length_px <= 1:
        return mask
    lines = (
        np.ones((1, length_px), dtype=bool),
        np.ones((length_px, 1), dtype=bool),
        np.eye(length_px, dtype=bool),
        np.fliplr(np.eye(length_px, dtype=bool)),
    )
    out = np.zeros_like(mask)
    for line in lines:
        out |= opening(mask, line)
    return out


#: Structuring elements up to this many pixels are opened by array shifts.
SHIFT_OPENING_MAX_PX = 16


def opening(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Binary opening of a 2-D ``mask``, equal to ``scipy.ndimage.binary_opening(mask,
    structure)`` (nothing outside the image).

    For small structuring elements (up to ``SHIFT_OPENING_MAX_PX`` pixels), by array
    shifts: an erosion is the AND of the mask shifted by each element's offset, the
    dilation back the OR of the eroded mask shifted the other way, a few cheap passes
    over a boolean image where scipy visits every pixel's neighbourhood (about 8x
    faster for a 2 x 2 square).
    """
    structure = np.asarray(structure, dtype=bool)
    offsets = np.argwhere(structure)
    # scipy erodes only at pixels of the image: a fitting placement is found there when
    # the element holds its own origin (its centre pixel), so its result is then the
    # union of the placements that fit, whatever the origin.
    centred = structure.ndim == 2 and structure[tuple(np.array(structure.shape) // 2)]
    if not centred or len(offsets) > SHIFT_OPENING_MAX_PX or mask.ndim != 2:
        return ndimage.binary_opening(mask, structure=structure)
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    if (np.ptp(offsets, axis=0) >= (rows, cols)).any():
        return np.zeros_like(mask)  # the element fits nowhere
    eroded = np.ones_like(mask)
    for dr, dc in offsets.tolist():
        dst, src = overlap_slices(mask.shape, dr, dc)
        eroded[dst] &= mask[src]
        # Where the element reaches outside the image the erosion fails.
        eroded[: dst[0].start] = eroded[dst[0].stop :] = False
        eroded[:, : dst[1].start] = eroded[:, dst[1].stop :] = False
    opened = np.zeros_like(mask)
    for dr, dc in offsets.tolist():
        dst, src = overlap_slices(mask.shape, -dr, -dc)
        opened[dst] |= eroded[src]
    return opened


def _open(mask: np.ndarray, width_px: int) -> np.ndarray:
    """Binary opening by a ``width_px`` square (:func:`opening`)."""
    if width_px <= 1:
        return mask
    return opening(mask, np.ones((width_px, width_px), dtype=bool))


def _grow(
    core: np.ndarray,
    significance: np.ndarray,
    allowed: np.ndarray,
    params: VesselParams,
    pfa: float,
) -> np.ndarray:
    """Grow detection cores into their objects' footprints by hysteresis.

    Ship edges are weaker than their peaks; pixels within ``grow_px`` of a core, allowed
    (water-side) and at least ``hysteresis`` times as significant as the detection
    threshold join the core's object.
    """
    if not core.any():
        return core
    strong = -np.log10(pfa)
    weak = strong * params.hysteresis
    near = ndimage.binary_dilation(core, iterations=params.grow_px)
    image = np.where(allowed & near, significance, 0.0)
    image = np.where(core, np.maximum(image, strong + 1.0), image)
    grown = hysteresis_threshold(image, weak, strong)
    # Ships break into pieces at 10 m; join fragments one pixel apart.
    return ndimage.binary_closing(grown, iterations=1) | grown


def _score(peak: np.ndarray, n_tests: float) -> np.ndarray:
    return 1.0 / (1.0 + n_tests * np.power(10.0, -np.minimum(peak, 300.0)))


class _PerLabel:
    """Per-label reductions over labelled pixels given as flat indices and owners.

    Berthed candidates are sparse; ``scipy.ndimage.median`` and ``maximum`` sort the
    whole image on every call, and a dilated label image costs full-image passes.
    """

    def __init__(self, where: np.ndarray, owner: np.ndarray, n: int):
        self.where, self.owner, self.n = where, owner, n

    @classmethod
    def of(cls, labels: np.ndarray, n: int) -> _PerLabel:
        where = np.flatnonzero(labels)
        return cls(where, labels.ravel()[where], n)

    def ring(self, shape: tuple[int, int], inner: int, outer: int) -> _PerLabel:
        """Pixels within Chebyshev distance ``inner < d <= outer`` of each label's pixels
        (and not in any label), owned by the largest neighbouring label."""
        rows, cols = shape
        r, c = np.divmod(self.where, cols)
        dr, dc = np.mgrid[-outer : outer + 1, -outer : outer + 1]
        far = (np.abs(dr) > inner) | (np.abs(dc) > inner)
        rr = r[:, None] + dr[far][None, :]
        cc = c[:, None] + dc[far][None, :]
        ok = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        flat = (rr * cols + cc)[ok]
        owner = np.broadcast_to(self.owner[:, None], rr.shape)[ok]
        if inner > 0:
            core = self.ring(shape, -1, inner)
            blocked = np.concatenate([self.where, core.where])
        else:
            blocked = self.where
        outside = ~np.isin(flat, blocked)
        flat, owner = flat[outside], owner[outside]
        order = np.lexsort((-owner, flat))
        flat, owner = flat[order], owner[order]
        first = np.r_[True, flat[1:] != flat[:-1]] if flat.size else np.zeros(0, dtype=bool)
        return _PerLabel(flat[first], owner[first], self.n)

    def subset(self, mask: np.ndarray) -> _PerLabel:
        """The labelled pixels where ``mask`` (an image) is True."""
        keep = mask.ravel()[self.where]
        return _PerLabel(self.where[keep], self.owner[keep], self.n)

    def values(self, image: np.ndarray) -> np.ndarray:
        return image.ravel()[self.where]

    def median(self, image: np.ndarray) -> np.ndarray:
        """Median per label 0..n (NaN where empty, and for 0)."""
        out = np.full(self.n + 1, np.nan)
        if self.where.size == 0:
            return out
        vals = self.values(image).astype(np.float64)
        order = np.lexsort((vals, self.owner))
        owner, vals = self.owner[order], vals[order]
        labels = np.arange(self.n + 1)
        starts = np.searchsorted(owner, labels, side="left")
        stops = np.searchsorted(owner, labels, side="right")
        present = (stops > starts) & (labels > 0)
        lo = (starts + (stops - starts - 1) // 2)[present]
        hi = (starts + (stops - starts) // 2)[present]
        out[present] = (vals[lo] + vals[hi]) / 2.0
        return out

    def max(self, image: np.ndarray) -> np.ndarray:
        """Maximum per label 0..n (-inf where empty, and for 0)."""
        out = np.full(self.n + 1, -np.inf)
        np.maximum.at(out, self.owner, self.values(image))
        out[0] = -np.inf
        return out

    def count(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.owner[self.values(mask)], minlength=self.n + 1)

    def split(self, keep: np.ndarray) -> list[np.ndarray]:
        """Flat pixel indices of each label whose ``keep`` flag is set, in label order."""
        chosen = keep[self.owner]
        where, owner = self.where[chosen], self.owner[chosen]
        order = np.argsort(owner, kind="stable")
        where, owner = where[order], owner[order]
        return np.split(where, np.flatnonzero(np.diff(owner)) + 1) if where.size else []


def _ship_sized(shape, params: VesselParams, min_length_m: float):
    """Length within [``min_length_m``, max] and width under the maximum, per entry of
    ``shape`` (a dict of arrays or a frame with ``length_m`` and ``width_m``)."""
    return (
        (shape["length_m"] >= min_length_m)
        & (shape["length_m"] <= params.max_length_m)
        & (shape["width_m"] <= params.max_width_m)
    )


def objects_from_mask(
    mask: np.ndarray,
    significance: np.ndarray,
    scene: Raster,
    *,
    n_tests: float,
    weights: np.ndarray | None = None,
    psf_sigma_m: float = 0.0,
) -> gpd.GeoDataFrame:
    """Label and measure an object mask, scoring each object by its peak significance.

    ``weights`` and ``psf_sigma_m`` go to :func:`imagery.objects.measure_objects`: sizes
    then follow the object's brightness, with the sensor's blur taken off.
    """
    labels, n = label_objects(mask)
    frame = measure_objects(
        labels,
        n,
        transform=scene.transform,
        crs=scene.crs,
        values={"sig": significance},
        weights=weights,
        psf_sigma_m=psf_sigma_m,
    )
    frame["score"] = _score(frame["sig_max"].to_numpy(), n_tests) if n else []
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=scene.crs)


def ship_sized_rows(frame, params: VesselParams, min_length_m: float) -> np.ndarray:
    """Boolean per row of ``frame`` (``length_m``, ``width_m``, ``area_m2``): within the
    size filters of ``params``, at least ``min_length_m`` long."""
    return (
        _ship_sized(frame, params, min_length_m)
        & (frame["width_m"] >= params.min_width_m)
        & (frame["area_m2"] >= params.min_area_m2)
    ).to_numpy(copy=True)


def _size_filter(frame: gpd.GeoDataFrame, params: VesselParams, min_length_m: float):
    if frame.empty:
        return frame
    return frame.loc[ship_sized_rows(frame, params, min_length_m)].reset_index(drop=True)
