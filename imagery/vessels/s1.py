"""Sentinel-1 vessels: CFAR targets on water and the shore band, and bright berthed protrusions."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings

import geopandas as gpd
import numpy as np

from imagery.cfar import cfar_detect
from imagery.objects import axis_shape, label_objects, label_sums
from imagery.raster import Raster
from imagery.vessels.common import (
    _grow,
    _open,
    _PerLabel,
    _pixel_m,
    _size_filter,
    objects_from_mask,
)
from imagery.vessels.params import S1_BERTH_BRIGHT_SHARE, S1_PSF_SIGMA_M, VesselParams
from imagery.vessels.shore import ShoreGeometry


def _s1_candidates(
    scene: Raster,
    water: np.ndarray,
    params: VesselParams,
    pixel_m: float,
    geometry: ShoreGeometry | None = None,
):
    """CFAR targets of each polarisation on the water and the shore band (``geometry``:
    of ``water``, shared by the scenes searched on it)."""
    geometry = geometry or ShoreGeometry(water)
    shore = geometry.band(round(params.shore_m / pixel_m))
    land = ~water & np.isfinite(scene.data[0])
    detected = np.zeros(scene.shape, dtype=bool)
    significance = np.zeros(scene.shape, dtype=np.float32)
    excess = np.zeros(scene.shape, dtype=np.float32)
    for name in scene.band_names:
        band = scene.band(name)
        sea = cfar_detect(
            band,
            water | shore,
            water,
            pixel_m=pixel_m,
            pfa=params.pfa,
            guard_m=params.guard_m,
            background_m=params.background_m,
            model=params.model,
            looks=params.looks,
        )
        hits = sea.detected
        if shore.any():
            against_land = cfar_detect(
                band,
                shore,
                land,
                pixel_m=pixel_m,
                pfa=params.land_pfa,
                guard_m=params.land_window_m / 3.0,
                background_m=params.land_window_m,
                model=params.model,
                looks=params.looks,
                passes=1,
                background_everywhere=False,
            )
            hits = hits & (water | against_land.detected)
        detected |= hits
        significance = np.maximum(significance, sea.significance)
        # Backscatter above the sea's, in units of the sea's: the weight of each pixel in
        # an object's size, so that a bright ship's blur does not count as hull.
        with np.errstate(invalid="ignore", divide="ignore"):
            above = np.nan_to_num(band / sea.background_mean - 1.0, nan=0.0, posinf=0.0)
        excess = np.maximum(excess, above.astype(np.float32))
    return detected, significance, water | shore, excess


def _ship_shaped(labels: np.ndarray, n: int, scene: Raster, params) -> np.ndarray:
    """Per label 0..n: within the berthed size and elongation limits."""
    shape = axis_shape(labels, n, _pixel_m(scene))
    elongation = shape["length_m"] / np.maximum(shape["width_m"], 1e-6)
    keep = (
        (shape["width_m"] <= params.berth_max_width_m)
        & (elongation >= params.berth_min_elongation)
        & (shape["length_m"] >= params.min_length_m)
        & (shape["length_m"] <= params.max_length_m)
    )
    keep[0] = False
    return keep


@dataclasses.dataclass(frozen=True)
class _Bumps:
    """Berth candidates of one water mask on one valid mask: the protrusions on valid
    pixels (``raw``), and opened, labelled, with each label's pixels, the pixels of its
    2-pixel ring, its size and whether it is ship-shaped. The same for both dates of a
    pair; only the brightness differs."""

    raw: np.ndarray
    labels: np.ndarray
    n: int
    own: _PerLabel
    ring: _PerLabel
    size: np.ndarray
    shaped: np.ndarray


def _berth_bumps(
    scene: Raster, geometry: ShoreGeometry, valid: np.ndarray, params: VesselParams
) -> _Bumps:
    """:class:`_Bumps` of the scene, from ``geometry``'s memory when a scene with the
    same valid pixels (and pixel size and parameters) was searched on the same water."""
    pixel_m = _pixel_m(scene)

    def make() -> _Bumps:
        raw = geometry.protrusions(max(3, round(params.berth_line_m / pixel_m))) & valid
        labels, n = label_objects(_open(raw, params.min_width_px))
        own = _PerLabel.of(labels, n)
        return _Bumps(
            raw,
            labels,
            n,
            own,
            own.ring(labels.shape, 0, 2),
            np.bincount(labels.ravel(), minlength=n + 1),
            _ship_shaped(labels, n, scene, params),
        )

    key = ("s1 berth bumps", params, pixel_m, _digest(valid))
    return geometry.derived(key, make)


def _digest(mask: np.ndarray) -> bytes:
    return hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()


def _s1_berthed(
    scene: Raster, geometry: ShoreGeometry, significance: np.ndarray, params
) -> np.ndarray:
    """S1 berthed-ship mask: thin, elongated shoreline protrusions that are
    significantly bright against the water.

    Two readings of the same evidence: the bright pixels of the protrusions, when they
    alone are ship-shaped; and whole protrusions that are ship-shaped and lit (see
    ``S1_BERTH_BRIGHT_SHARE``), with the bright pixels next to them.
    """
    valid = scene.valid_mask()
    bumps = _berth_bumps(scene, geometry, valid, params)
    bright = valid & ~geometry.water & (significance >= -np.log10(params.pfa))
    lit_bumps = _open(bumps.raw & bright, params.min_width_px)
    labels, n = label_objects(lit_bumps)
    mask = _ship_shaped(labels, n, scene, params)[labels] if n else lit_bumps
    if bumps.n == 0:
        return mask
    near = bumps.ring.subset(bright)
    lit = bumps.own.count(bright) + np.bincount(near.owner, minlength=bumps.n + 1)
    keep = bumps.shaped & (lit >= S1_BERTH_BRIGHT_SHARE * bumps.size)
    mask |= keep[bumps.labels]
    mask.ravel()[near.where[keep[near.owner]]] = True
    return mask


def _s1_frame(
    scene: Raster, water: np.ndarray, params: VesselParams, geometry: ShoreGeometry | None = None
) -> gpd.GeoDataFrame:
    geometry = geometry or ShoreGeometry(water)
    detected, significance, searched, excess = _s1_candidates(
        scene, water, params, _pixel_m(scene), geometry
    )
    if params.min_width_px > 1:
        detected = _open(detected, params.min_width_px)
    mask = _grow(detected, significance, water | detected, params, params.pfa)
    afloat = mask
    if params.berths:
        mask = mask | _s1_berthed(scene, geometry, significance, params)
    frame = objects_from_mask(
        mask,
        significance,
        scene,
        n_tests=max(1.0, float(searched.sum())),
        weights=excess,
        psf_sigma_m=S1_PSF_SIGMA_M,
    )
    frame = _size_filter(frame, params, params.min_length_m)
    if params.thin_min_significance is not None and len(frame):
        frame = frame.loc[~_thin_and_faint(frame, params.thin_min_significance, _pixel_m(scene))]
    tested = params.berth_min_end_contrast_db is not None or params.berth_min_vv_db is not None
    if params.berths and tested and len(frame):
        frame = frame.loc[_keeps_berthed(frame, mask, afloat, scene, params)]
    return frame


def _thin_and_faint(frame: gpd.GeoDataFrame, min_significance: float, pixel_m: float) -> np.ndarray:
    """Boolean per row: no wider than a pixel with the blur taken off, and less significant
    on average than ``min_significance`` (``VesselParams.thin_min_significance``)."""
    # The blur correction floors a width at one pixel; 5 % over it is still that floor.
    thin = frame["width_m"].to_numpy() <= 1.05 * pixel_m
    return thin & (frame["sig_mean"].to_numpy() < min_significance)


def _keeps_berthed(
    frame: gpd.GeoDataFrame,
    mask: np.ndarray,
    afloat: np.ndarray,
    scene: Raster,
    params: VesselParams,
) -> np.ndarray:
    """Boolean per row: afloat (mostly CFAR pixels), or a berthed candidate that passes
    the berthed tests: a median VV of at least ``berth_min_vv_db``, and brighter than the
    shore continuing along its axis (``berth_min_end_contrast_db``); None turns either off."""
    band = scene.band("VV")
    labels, n = label_objects(mask)
    size = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    share_afloat = label_sums(afloat.astype(np.float32), labels, n) / np.maximum(size, 1)
    rows_of = frame["label"].to_numpy() - 1
    berthed = share_afloat[rows_of] < 0.5
    keep = np.ones(len(frame), dtype=bool)
    if not berthed.any():
        return keep
    # Median VV of each berthed object's pixels, from one sort of the labelled pixels.
    flat = np.flatnonzero(labels)
    owner = labels.ravel()[flat]
    order = np.argsort(owner, kind="stable")
    values = band.ravel()[flat][order]
    starts = np.searchsorted(owner[order], np.arange(1, n + 2))
    pixel_m = _pixel_m(scene)
    beyond = np.arange(20.0, 121.0, pixel_m)
    units_per_m = scene.res[0] / pixel_m  # map units are not metres in Web Mercator
    height, width = band.shape
    for k in np.flatnonzero(berthed):
        label = rows_of[k]
        inside = np.nanmedian(values[starts[label] : starts[label + 1]])
        if params.berth_min_vv_db is not None and not (
            inside > 0 and 10.0 * np.log10(inside) >= params.berth_min_vv_db
        ):
            keep[k] = False
            continue
        if params.berth_min_end_contrast_db is None:
            continue
        row = frame.iloc[k]
        heading = np.radians(row["heading_deg"])
        reach = 0.5 * row["length_m"] + beyond
        along = np.concatenate([reach, -reach]) * units_per_m
        xs = row["x"] + along * np.sin(heading)
        ys = row["y"] + along * np.cos(heading)
        cols, rows = ~scene.transform * (xs, ys)
        r = np.floor(rows).astype(int)[:, None] + np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1])
        c = np.floor(cols).astype(int)[:, None] + np.array([-1, 0, 1, -1, 0, 1, -1, 0, 1])
        on = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        samples = np.where(on, band[np.clip(r, 0, height - 1), np.clip(c, 0, width - 1)], np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN samples off the image
            ends = np.nanmedian(np.nanmax(samples, axis=1))
        if np.isfinite(ends) and np.isfinite(inside) and ends > 0:
            keep[k] = 10.0 * np.log10(inside / ends) >= params.berth_min_end_contrast_db
    return keep
