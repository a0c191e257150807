"""Sentinel-2 vessels: surf zone, per-pixel B08 test, hulls afloat, and one object per ship."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from scipy import ndimage

from imagery.cfar import cfar_detect
from imagery.clouds import cloud_fragments, cloud_reach, large_patches, s2_clouds
from imagery.filters import masked_ring_stats, odd_window_px
from imagery.objects import axis_shape, label_objects, measure_objects
from imagery.raster import Raster
from imagery.spectral import leaf_ndvi
from imagery.vessels.common import (
    _grow,
    _PerLabel,
    _pixel_m,
    _score,
    _ship_sized,
    _size_filter,
    line_opening,
    opening,
)
from imagery.vessels.params import (
    S2_APPENDAGE_MIN_LENGTH_M,
    S2_CLOUD_CUT_SHARE,
    S2_FOAM_MIN_AREA_M2,
    S2_FOAM_STEP,
    S2_HULL_MIN_FILL,
    S2_JETTY_HEAD_MAX_LENGTH_M,
    S2_SURF_MAX_SHARE,
    VesselParams,
)
from imagery.vessels.s2_berths import _s2_berthed
from imagery.vessels.s2_candidates import _Candidates, _suppress
from imagery.water import S2_WATER_NIR_MARGIN, ndwi

# -- surf and the per-pixel test ------------------------------------------------------------


def _foam_pixels(
    scene: Raster, water: np.ndarray, ratio: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per pixel: whitewater (white in the visible, B03 more than ``S2_FOAM_STEP`` above the
    water, B08 step below ``ratio`` times the B03 step), and the B03 and B08 steps above
    the water's medians; None without water to measure against."""
    reference = water & np.isfinite(scene.band("B08"))
    if not reference.any():
        return None
    vis = np.stack([np.nan_to_num(scene.band(b)) for b in ("B02", "B03", "B04")])
    step_green = vis[1] - float(np.nanmedian(scene.band("B03")[reference]))
    nir = np.nan_to_num(scene.band("B08"))
    step_nir = nir - float(np.nanmedian(scene.band("B08")[reference]))
    white = vis.min(axis=0) >= 0.7 * vis.max(axis=0)
    foam = white & (step_green > S2_FOAM_STEP) & (step_nir < ratio * step_green)
    return foam, step_green, step_nir


def s2_surf(
    scene: Raster, water: np.ndarray, *, ratio: float, buffer_m: float, pixel_m: float
) -> np.ndarray:
    """Boolean (row, col) surf zone of a prepared S2 scene: foam patches and ``buffer_m`` around.

    Foam (breaking waves, whitewater) is white in the visible (B02, B03, B04 within 30 %
    of each other), at least ``S2_FOAM_STEP`` brighter than the water in B03, and short
    of near infrared, which the water in and under the foam absorbs (Koepke 1984): its
    B08 step above the water is below ``ratio`` times its B03 step. No ship lies in a
    zone of breaking waves. Foam within two pixels of a bright hull afloat (a B08 step
    at least its B03 step, off the shore) is the hull's rim, not whitewater.
    """
    return _surf_zone(_foam_pixels(scene, water, ratio), scene, water, ratio, buffer_m, pixel_m)


def _surf_zone(
    measured: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    scene: Raster,
    water: np.ndarray,
    ratio: float,
    buffer_m: float,
    pixel_m: float,
) -> np.ndarray:
    """:func:`s2_surf` from the per-pixel foam test already made (:func:`_foam_pixels`)."""
    if measured is None:
        return np.zeros(scene.shape, dtype=bool)
    foam, step_green, step_nir = measured
    foam = foam.copy()
    # The rim of a bright hull afloat is not whitewater: the bands' blur and
    # co-registration spread its visible light a little wider than its near infrared.
    # A hull steps at least as much in B08 as in B03 (over water; the real ports'
    # hulls: 5th percentile 1.14), which foam, however its spectrum varies from pixel
    # to pixel, does not; and it lies off the shore, where sand, rock and the shore's
    # mixed pixels step alike and surf breaks.
    offshore = water & ~ndimage.binary_dilation(~water, iterations=2)
    hull = offshore & (step_nir > S2_FOAM_STEP) & (step_nir >= max(1.0, ratio) * step_green)
    foam &= ~ndimage.binary_dilation(hull, iterations=2)
    patches = large_patches(
        ndimage.binary_closing(foam, iterations=1) | foam, S2_FOAM_MIN_AREA_M2, pixel_m
    )
    if not patches.any():
        return patches
    return ndimage.binary_dilation(patches, iterations=max(1, round(buffer_m / pixel_m)))


def _s2_cores(scene: Raster, water: np.ndarray, usable: np.ndarray, params, pixel_m):
    """Per-pixel B08 test against the water around: (cores, significance, background)."""
    nir = scene.band("B08")
    # The clutter is water that looks like water: not the shoreline, whose pixels mix
    # in the land, nor the vessel-sized holes that the water mask fills.
    clutter = water & usable & ~ndimage.binary_dilation(~water, iterations=2)
    if clutter.any():
        ceiling = float(np.nanmedian(nir[clutter])) + S2_WATER_NIR_MARGIN
        clutter &= np.nan_to_num(nir, nan=np.inf) <= ceiling
    sea = cfar_detect(
        nir,
        water & usable,
        clutter,
        pixel_m=pixel_m,
        pfa=params.s2_pfa,
        guard_m=params.s2_guard_m,
        background_m=params.s2_background_m,
        model="gaussian",
    )
    index = np.nan_to_num(ndwi(scene.band("B03"), nir), nan=1.0)
    water_ndwi = float(np.median(index[clutter])) if clutter.any() else 0.0
    # A hull is less water-like than the water around it; a bright patch of turbid
    # water or glint keeps the water's NDWI. Cores lie off the shoreline, whose pixels
    # mix in the land's brightness: berthed hulls are the protrusion search's business.
    offshore = water & ~ndimage.binary_dilation(~water, iterations=1)
    cores = sea.detected & (index < water_ndwi + params.s2_max_ndwi) & offshore
    return cores, sea.significance, sea.background_mean


# -- hulls afloat ----------------------------------------------------------------------------


def without_thin_appendages(
    mask: np.ndarray,
    land: np.ndarray,
    pixel_m: float,
    *,
    min_length_m: float = S2_APPENDAGE_MIN_LENGTH_M,
) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` less the long narrow arms that run out from the land to its thick parts.

    A jetty's trestle (10-20 m of roadway and pipe rack), a conveyor or a catwalk is as
    bright in B08 as a hull and thinner than the water mask resolves, so it is water to
    the mask and grows (by hysteresis, to two or three pixels) into the object of the
    tanker moored at its head: one T of a kilometre, which is no ship, or a ship
    centred on the trestle. The thick parts are what survives an opening by a 3 x 3
    square, then by a 5 x 5 one (so arms up to four pixels wide next to thicker parts),
    grown back by a pixel within ``mask`` (Soille 2003, ch. 4); a remainder that runs
    out from the ``land`` to them (touching the land with at most a quarter of its
    pixels: its root) and is at least ``min_length_m`` long is cut away. A hull's
    tapered ends, thinner than its middle, reach no land, and a strip along the shore
    touches it all along; narrow objects with no thick part (hulls one to four pixels
    wide) stay.

    Parameters
    ----------
    mask : ndarray of bool, (row, col)
        Objects afloat (grown detection cores).
    land : ndarray of bool, (row, col)
        Not water. A window's edge is not land: a trestle longer than a tiled run's halo
        has no root in the window and is not cut there.
    pixel_m : float
        Pixel side on the ground, metres.
    min_length_m : float
        Shortest arm cut, metres (``S2_APPENDAGE_MIN_LENGTH_M``).

    Returns
    -------
    kept, cut : ndarray of bool, (row, col)
        ``mask`` without the arms, and the arms.

    References
    ----------
    Soille, P. (2003). Morphological Image Analysis, 2nd ed. Springer.
    """
    square = np.ones((3, 3), dtype=bool)
    removed = np.zeros_like(mask)
    shore = ndimage.binary_dilation(land, structure=square)
    for side in (3, 5):
        thick = opening(mask, np.ones((side, side), dtype=bool))
        if not thick.any():
            continue
        body = ndimage.binary_dilation(thick, structure=square) & mask
        rest = mask & ~body
        labels, n = label_objects(rest)
        if n == 0:
            continue
        shape = axis_shape(labels, n, pixel_m)
        beside = ndimage.binary_dilation(body, structure=square)
        touching = np.bincount(labels[beside & rest], minlength=n + 1) > 0
        # A trestle meets the land at its root only; a strip along the shore, all along.
        ashore = np.bincount(labels[shore & rest], minlength=n + 1) / np.maximum(shape["count"], 1)
        cut = touching & (ashore > 0) & (ashore <= 0.25) & (shape["length_m"] >= min_length_m)
        cut[0] = False
        removed |= cut[labels]
        mask = mask & ~cut[labels]
    return mask, removed


def _ndvi(scene: Raster) -> np.ndarray:
    return leaf_ndvi(*(scene.band(name) for name in ("B02", "B03", "B04", "B08")))


def _s2_afloat(
    scene, water, usable, params, pixel_m, measured=None
) -> tuple[_Candidates, np.ndarray]:
    """Hulls afloat: B08 cores grown by hysteresis, less whitewater and the trestles
    that join them to the land (:func:`without_thin_appendages`), kept when solid,
    ship-sized and convex (filling at least ``S2_HULL_MIN_FILL`` of the rectangle of
    their second moments: a hook or an L of pier is not a hull; shape analysis as the
    first, coarse rejection of optical ship candidates, Zhu et al. 2010); what a trestle
    was cut from must be longer than a jetty's loading platform
    (``S2_JETTY_HEAD_MAX_LENGTH_M``).

    ``measured``: :func:`_foam_pixels` of the scene, when the caller has it.

    References
    ----------
    Zhu, C., Zhou, H., Wang, R. & Guo, J. (2010). A novel hierarchical method of ship
    detection from spaceborne optical image based on shape and texture features. IEEE
    TGRS 48(9), 3446-3456. https://doi.org/10.1109/TGRS.2010.2046330
    """
    cores, significance, nir_bg = _s2_cores(scene, water, usable, params, pixel_m)
    if params.min_width_px > 1:
        # A hull 8-15 m wide is one pixel wide at 10 m: keep lines, drop specks.
        cores = line_opening(cores, length_px=params.min_width_px + 1)
    mask = _grow(cores, significance, (water & usable) | cores, params, params.s2_pfa)
    # A ship underway trails whitewater, as significant in B08 as its hull: grown
    # together, their mean step is foam's and the foam test drops the ship. Whitewater
    # is no hull; without it the two come apart. Only foam at least a few pixels across
    # (opened): a line of mixed pixels where a white superstructure meets a grey deck,
    # its bands a fraction of a pixel apart, passes the foam test and would cut the hull.
    if measured is None:
        measured = _foam_pixels(scene, water, params.s2_foam_ratio)
    grown = mask
    if measured is not None:
        mask = mask & ~ndimage.binary_opening(measured[0])
    mask, trestles = without_thin_appendages(mask, ~water, pixel_m)
    labels, n = label_objects(mask)
    if n == 0:
        return _Candidates.empty(), significance
    clutter = water & usable & ~ndimage.binary_dilation(grown, iterations=2)
    objects = _PerLabel.of(labels, n)
    index = np.arange(n + 1)

    def step_above_water(band: str) -> np.ndarray:
        """Mean step of each object over the water around it, in ``band``."""
        image = scene.band(band)
        background, _, _ = masked_ring_stats(
            image,
            clutter,
            outer=odd_window_px(params.s2_background_m, pixel_m, minimum=5),
            inner=odd_window_px(params.s2_guard_m, pixel_m, minimum=3),
            min_count=10,
        )
        return ndimage.mean(np.nan_to_num(image - background), labels, index)

    shape = axis_shape(labels, n, pixel_m)
    on_trestle = np.zeros(n + 1, dtype=bool)
    if trestles.any():
        beside = ndimage.binary_dilation(trestles, structure=np.ones((3, 3), dtype=bool))
        on_trestle[np.unique(labels[beside])] = True
    step_nir = ndimage.mean(np.nan_to_num(scene.band("B08") - nir_bg), labels, index)
    step_green = step_above_water("B03")
    keep = (
        (step_nir >= params.s2_min_contrast)
        & (step_nir >= params.s2_foam_ratio * step_green)
        & (objects.median(np.nan_to_num(_ndvi(scene))) <= params.s2_max_ndvi)
        & _ship_sized(shape, params, params.s2_min_length_m)
        & (shape["count"] * pixel_m**2 >= S2_HULL_MIN_FILL * shape["length_m"] * shape["width_m"])
        # What was cut from a trestle is a jetty's head, unless longer than one: a ship
        # moored at the head (its loading platform) reaches past it on both sides.
        & ~(on_trestle & (shape["length_m"] < S2_JETTY_HEAD_MAX_LENGTH_M))
    )
    if scene.has_band("B11") and params.s2_min_swir_ratio > 0:
        # Water absorbs 1.6 um light within a millimetre or so, turbid or not (the SWIR
        # "black pixel" of Wang & Shi 2007): shallows, sand bars and sediment plumes
        # brighten B08 but not B11; a hull above the surface brightens both.
        keep &= step_above_water("B11") >= params.s2_min_swir_ratio * step_nir
    keep[0] = False
    n_tests = max(1.0, float((water & usable).sum()))
    return (
        _Candidates(
            objects.split(keep),
            _score(objects.max(significance)[keep], n_tests),
            np.zeros(int(keep.sum()), dtype=np.int8),
            {"contrast": step_nir[keep]},
        ),
        significance,
    )


# -- one object per ship --------------------------------------------------------------------


def _s2_frame(
    scene: Raster, water: np.ndarray, params: VesselParams, origin: tuple[int, int] = (0, 0)
) -> gpd.GeoDataFrame:
    pixel_m = _pixel_m(scene)
    clouds = s2_clouds(scene, water=water, pixel_m=pixel_m, opaque=True)
    usable = scene.valid_mask() & ~clouds
    # One per-pixel foam test serves the hull/wake split and the surf zone.
    measured = _foam_pixels(scene, water, params.s2_foam_ratio)
    candidates, significance = _s2_afloat(scene, water, usable, params, pixel_m, measured)
    if params.berths:
        candidates.extend(_s2_berthed(scene, water, usable, params, pixel_m, origin))
    surf = _surf_zone(
        measured, scene, water, params.s2_foam_ratio, params.s2_surf_buffer_m, pixel_m
    ).ravel()
    # An object cut by the cloud mask is not a whole ship (a ship half hidden, or the
    # cloud's own edge); an object in the surf is foam.
    cut = _cut_by_cloud(scene, clouds, water & usable, candidates.pixels, params)
    if candidates.pixels and (surf.any() or cut.any()):
        dropped = np.array(
            [surf[p].mean() > S2_SURF_MAX_SHARE for p in candidates.pixels], dtype=bool
        )
        dropped |= cut
        candidates.score = np.where(dropped, -1.0, candidates.score)
    objects, source = _suppress(
        candidates, water.shape, pixel_m=pixel_m, max_width_m=params.berth_max_width_m
    )
    score = candidates.score[source] if len(source) else np.zeros(0)
    berthed = candidates.kind[source] == 1 if len(source) else np.zeros(0, dtype=bool)
    good = (score >= 0) & (~berthed | (score >= params.berth_min_score))
    labels = np.zeros(water.size, dtype=np.int32)
    for number, pixels in enumerate((o for o, g in zip(objects, good, strict=True) if g), 1):
        labels[pixels] = number
    n = int(good.sum())
    frame = measure_objects(
        labels.reshape(water.shape),
        n,
        transform=scene.transform,
        crs=scene.crs,
        values={"sig": significance},
    )
    frame["score"] = score[good]
    frame["setting"] = np.where(berthed[good], "berthed", "afloat")
    for key, values in candidates.evidence.items():
        frame[key] = values[source[good]]
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=scene.crs)
    return _size_filter(frame, params, params.s2_min_length_m)


def _cut_by_cloud(
    scene: Raster,
    clouds: np.ndarray,
    clear_water: np.ndarray,
    pixels: list[np.ndarray],
    params: VesselParams,
) -> np.ndarray:
    """Which objects (``pixels``: flat indices of each) the cloud mask cuts: a masked
    pixel within two pixels of the object steps above the clear water in B08 by at least
    ``S2_CLOUD_CUT_SHARE`` of the object's brightest step among its own pixels within
    four pixels of the mask, and by at least ``params.s2_min_contrast``.

    The mask is the cloud grown by ``S2_CLOUD_BUFFER_M``. A ship that runs into it goes
    on under its edge as bright as it is where it meets it (its own deck, or the cloud
    over it); a ship at anchor in open water beside a cloud has only water in the buffer
    next to it, and the faint tail of its own blur, and is whole. Detached puffs of
    cloud are :func:`s2_without_puffs`' business. Boolean, one per object.
    """
    cut = np.zeros(len(pixels), dtype=bool)
    if not pixels or not clouds.any():
        return cut
    nir = np.nan_to_num(scene.band("B08"), nan=-np.inf)
    level = float(np.median(nir[clear_water])) if clear_water.any() else 0.0
    reach = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), 2)
    beside = ndimage.maximum_filter(np.where(clouds, nir, -np.inf), footprint=reach)
    beside = np.where(clouds, -np.inf, beside).ravel()
    # The object's own brightness is judged within twice that reach of the mask: across
    # a hull's whole beam, not on the mixed pixels of its rim alone, and not on a white
    # superstructure at its far end, which says nothing of the deck running under it.
    near = ndimage.binary_dilation(clouds, iterations=4).ravel()
    flat = nir.ravel()
    for i, p in enumerate(pixels):
        if not (beside[p] > -np.inf).any():
            continue
        step = float(flat[p][near[p]].max()) - level
        floor = max(params.s2_min_contrast, S2_CLOUD_CUT_SHARE * step)
        cut[i] = float(beside[p].max()) - level >= floor
    return cut


def s2_without_puffs(frame: gpd.GeoDataFrame, scene: Raster, water: np.ndarray) -> gpd.GeoDataFrame:
    """One scene's S2 vessels less the detached puffs of cloud among them: beside a
    cloud, an object that stands out of the water around it as much in the blue as in
    the near infrared (:func:`imagery.clouds.cloud_fragments`, on the scene's own
    reflectance). A pair judges its flags on their steps instead
    (:func:`imagery.flags.vessels.not_cloud_fragments`) and keeps every candidate of each date
    as evidence."""
    if frame.empty:
        return frame
    bands = {name: scene.band(name) for name in ("B02", "B08")}
    puffs = cloud_fragments(frame, bands, water, cloud_reach(scene, water), scene)
    kept = frame.loc[~puffs].reset_index(drop=True)
    return kept.assign(id=np.arange(1, len(kept) + 1))
