"""Sentinel-2 berthed ships: hull-like protrusions of the shoreline, searched tile by tile."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from imagery.objects import axis_shape, label_objects
from imagery.spectral import leaf_ndvi, off_mixing_line
from imagery.vessels.common import _open, _PerLabel, _ship_sized
from imagery.vessels.params import (
    BERTH_END_ON_MAX_LENGTH_M,
    BERTH_END_ON_MIN_CONTRAST,
    BERTH_FILL,
    BERTH_SCALES,
    BERTH_TILE_PX,
)
from imagery.vessels.s2_candidates import _Candidates
from imagery.vessels.shore import _angles, _runs


@dataclasses.dataclass(frozen=True)
class _Shore:
    """Per-pixel images shared by the protrusion search of one tile."""

    land: np.ndarray
    usable: np.ndarray
    facing_water: np.ndarray  # land pixels 4-adjacent to water
    ndvi: np.ndarray
    step_nir: np.ndarray  # B08 minus the water's median
    step_green: np.ndarray  # B03 minus the water's median
    bands: np.ndarray  # (4, row, col): B02 B03 B04 B08
    water: np.ndarray  # (4,): the clear water's median B02 B03 B04 B08


def _shore(bands: np.ndarray, water: np.ndarray, usable: np.ndarray, reference) -> _Shore:
    land = ~water
    ndvi = leaf_ndvi(*bands)
    return _Shore(
        land=land,
        usable=usable,
        facing_water=land
        & ndimage.binary_dilation(water, structure=ndimage.generate_binary_structure(2, 1)),
        ndvi=np.nan_to_num(ndvi, nan=1.0),
        step_nir=bands[3] - reference[3],
        step_green=bands[1] - reference[1],
        bands=bands,
        water=np.asarray(reference, dtype=np.float64),
    )


def _s2_berthed(scene, water, usable, params, pixel_m, origin=(0, 0)) -> _Candidates:
    """Hulls alongside a quay, searched tile by tile (objects kept by their tile core).

    ``origin`` is the scene's first row and column in a larger grid it is a window of:
    the tiles and the digital lines of the search are laid on that grid, so a window
    searches as the whole would."""
    found = _Candidates.empty()
    reference_water = water & usable
    if water.all() or not reference_water.any():
        return found
    names = ("B02", "B03", "B04", "B08")
    reference = np.array([np.nanmedian(scene.band(b)[reference_water]) for b in names])
    rows, cols = water.shape
    halo = int(np.ceil(2.0 * params.berth_line_m / pixel_m)) + 4
    for r0 in range(-(origin[0] % BERTH_TILE_PX), rows, BERTH_TILE_PX):
        for c0 in range(-(origin[1] % BERTH_TILE_PX), cols, BERTH_TILE_PX):
            core = (
                slice(max(0, r0), min(rows, r0 + BERTH_TILE_PX)),
                slice(max(0, c0), min(cols, c0 + BERTH_TILE_PX)),
            )
            tile = tuple(
                slice(max(0, s.start - halo), min(n, s.stop + halo))
                for s, n in zip(core, (rows, cols), strict=True)
            )
            sub_water = water[tile]
            if sub_water.all() or not sub_water.any():
                continue
            bands = np.stack([np.nan_to_num(scene.band(b)[tile]) for b in names])
            shore = _shore(bands, sub_water, usable[tile], reference)
            at = (origin[0] + tile[0].start, origin[1] + tile[1].start)
            local = _tile_protrusions(shore, params, pixel_m, at)
            found.extend(_to_scene(local, tile, core, water.shape))
    return found


def _to_scene(local: _Candidates, tile, core, shape) -> _Candidates:
    """Move tile candidates to scene-wide flat indices, keeping those centred in the core."""
    if not local.pixels:
        return local
    width = tile[1].stop - tile[1].start
    keep, pixels = [], []
    for flat in local.pixels:
        r, c = np.divmod(flat, width)
        r, c = r + tile[0].start, c + tile[1].start
        mr, mc = r.mean(), c.mean()
        inside = core[0].start <= mr < core[0].stop and core[1].start <= mc < core[1].stop
        keep.append(inside)
        if inside:
            pixels.append(r * shape[1] + c)
    keep = np.array(keep)
    return _Candidates(
        pixels,
        local.score[keep],
        local.kind[keep],
        {k: v[keep] for k, v in local.evidence.items()},
    )


def _tile_protrusions(shore: _Shore, params, pixel_m, origin=(0, 0)) -> _Candidates:
    found = _Candidates.empty()
    lines = [f * params.berth_line_m for f in BERTH_SCALES]
    lines = [line for line in lines if BERTH_FILL * line >= params.s2_min_length_m]
    for angle in _angles(params.berth_angles):
        reach, border = _runs(shore.land, angle, origin)
        reach *= np.float32(pixel_m)
        run = np.where(border, np.float32(np.inf), reach)
        for line_m in lines:
            found.extend(_protrusions(shore, run, reach, angle, line_m, params, pixel_m))
    return found


def _protrusions(shore: _Shore, run, reach, angle, line_m, params, pixel_m) -> _Candidates:
    """Hull-like protrusions along one direction for one line length: hulls alongside a
    quay that runs in that direction, and hulls moored end-on to it (across it, up to
    ``BERTH_END_ON_MAX_LENGTH_M`` long and of another material than the quay).

    ``run`` is the land run through each pixel in metres (inf where it reaches the
    tile border), ``reach`` the same with the part inside the tile (a lower bound).
    """
    bumps = _open(shore.land & shore.usable & (run <= line_m), params.min_width_px)
    labels, n = label_objects(bumps)
    if n == 0:
        return _Candidates.empty()
    shape = axis_shape(labels, n, pixel_m)
    off_axis = np.abs(np.mod(shape["angle"] - angle + 90.0, 180.0) - 90.0)
    elongation = shape["length_m"] / np.maximum(shape["width_m"], 1e-6)
    tolerance = 0.75 * 180.0 / params.berth_angles
    # A hull alongside lies along the quay; one moored end-on (stern-to, bow-out) lies
    # across it, as a pier does, and is told from one by its material below.
    end_on = (off_axis >= 90.0 - tolerance) & (shape["length_m"] <= BERTH_END_ON_MAX_LENGTH_M)
    keep = (
        ((off_axis <= tolerance) | end_on)
        & (shape["width_m"] <= params.berth_max_width_m)
        & (elongation >= params.berth_min_elongation)
        & _ship_sized(shape, params, params.s2_min_length_m)
    )
    keep[0] = False
    if not keep.any():
        return _Candidates.empty()
    mine = _PerLabel.of(np.where(keep[labels], labels, 0), n)
    own_run = np.maximum(mine.max(run), 0.0)
    # The quay behind: land within two pixels of the candidate, not itself a bump.
    behind = mine.ring(labels.shape, 0, 2).subset(shore.land & ~bumps)
    backing = np.nan_to_num(behind.median(reach) / np.maximum(own_run, 1e-6))
    # A hull alongside a quay faces the water along its outer side; a strip across a
    # pier or a mole touches water only at its two ends. A hull moored end-on faces it
    # along both sides.
    facing = mine.count(shore.facing_water) * pixel_m
    sides = np.where(end_on, 2.0, 1.0)
    bare_banks = _bare_banks(shore, mine, labels.shape, params, pixel_m)
    solid = mine.median(shore.step_nir) >= params.s2_foam_ratio * mine.median(shore.step_green)
    keep &= (
        (own_run <= BERTH_FILL * line_m)
        & (backing >= params.berth_min_backing)
        & (facing >= 0.6 * sides * shape["length_m"])
        & (mine.median(shore.ndvi) <= params.s2_max_ndvi)
        & bare_banks
        & solid
    )
    keep[0] = False
    if not keep.any():
        return _Candidates.empty()
    mine = mine.subset(keep[labels])
    ours, quay = _spectra(shore, mine, labels.shape)
    contrast = _quay_contrast(ours, quay)
    # The quay's rim is quay and water mixed in each pixel: on their mixing line, however
    # dark beside the quay. An end-on candidate, as a narrow pier is, must lie further off.
    floor = np.where(
        end_on, max(BERTH_END_ON_MIN_CONTRAST, params.berth_min_unmixed), params.berth_min_unmixed
    )
    passes = _unmixed_contrast(shore, mine, ours, quay) >= floor
    if params.berth_min_unmixed <= 0:  # off: alongside candidates pass, even unmeasured
        passes |= ~end_on
    keep &= passes
    if not keep.any():
        return _Candidates.empty()
    count = int(keep.sum())
    return _Candidates(
        mine.split(keep),
        _berth_score(elongation[keep], backing[keep], contrast[keep]),
        np.ones(count, dtype=np.int8),
        {
            "elongation": elongation[keep],
            "backing": backing[keep],
            "quay_contrast": contrast[keep],
        },
    )


def _bare_banks(shore: _Shore, mine: _PerLabel, shape, params, pixel_m: float) -> np.ndarray:
    """Per label 0..n: not on a vegetated bank (``params.berth_bank_m``). Only clear land
    counts (no-data pixels carry NDVI 1 here); with none near, the candidate passes."""
    if params.berth_bank_m <= 0:
        return np.ones(mine.n + 1, dtype=bool)
    reach = max(1, round(params.berth_bank_m / pixel_m))
    banks = mine.ring(shape, 0, reach).subset(shore.land & shore.usable)
    return ~(banks.median(shore.ndvi) > params.s2_max_ndvi)


def _spectra(shore: _Shore, mine: _PerLabel, shape: tuple[int, int]):
    """Median B02 B03 B04 B08, (band, label 0..n), of each candidate's inner pixels (not
    touching water, so not mixed with it; NaN when it has none) and of the quay 2-4
    pixels behind it."""
    inner = mine.subset(~shore.facing_water)
    quay = mine.ring(shape, 1, 4).subset(shore.land & ~shore.facing_water)
    ours = np.stack([inner.median(band) for band in shore.bands])
    theirs = np.stack([quay.median(band) for band in shore.bands])
    return ours, theirs


def _quay_contrast(ours: np.ndarray, quay: np.ndarray) -> np.ndarray:
    """Largest relative difference, over B02 B03 B04 B08, between a candidate's inner
    pixels and the quay behind (:func:`_spectra`).

    The mixed rim of a quay (the inside of a bend, a corner) has the quay's own
    spectrum once the water-mixed pixels are left out; a hull is another material.
    """
    relative = np.abs(ours - quay) / np.maximum(quay, 1e-3)
    return np.max(np.nan_to_num(relative, nan=0.0), axis=0)


def _unmixed_contrast(shore: _Shore, mine: _PerLabel, ours: np.ndarray, quay: np.ndarray):
    """:func:`imagery.spectral.off_mixing_line` of a candidate's inner pixels (all of
    them when it has none) against the quay behind and the water (:func:`_spectra`).

    A strip of quay narrower than the point spread (a pier one or two pixels wide) is
    quay and water mixed in each pixel: measured against the quay alone it differs by
    half its brightness, against the mixing line it does not; a hull, another material,
    still does. NaN (no quay measured behind the candidate) passes no floor.
    """
    if not np.isfinite(ours).all():
        whole = np.stack([mine.median(band) for band in shore.bands])
        ours = np.where(np.isfinite(ours), ours, whole)
    return off_mixing_line(ours, quay, shore.water)


def _berth_score(elongation: np.ndarray, backing: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """Evidence that a protrusion is a hull alongside a quay, in [0, 0.9].

    The mean of three terms in [0, 1]: elongation from 2:1 to 5:1, backing (how much
    longer the quay runs than the candidate) from 1x to 10x on a log scale, and the
    spectral contrast with the quay from 0 to 50 %; times 0.9, so that a berthed
    candidate never outranks a confident detection afloat.
    """
    shape = np.clip((elongation - 2.0) / 3.0, 0.0, 1.0)
    quay = np.clip(np.log10(np.maximum(backing, 1.0)), 0.0, 1.0)
    differs = np.clip(contrast / 0.5, 0.0, 1.0)
    return 0.9 * (shape + quay + differs) / 3.0
