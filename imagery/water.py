"""Water masks: where vessels can be, and where land change means cargo.

A water mask comes from the AOI's water polygon when the catalogue has one (the
analyst's truth beats any classifier), else from the imagery:

Sentinel-1
    Calm harbour water is the darkest surface in a C-band scene (VV around -18 dB
    against -12 to -5 dB for land). The VV backscatter is smoothed over about 50 m to
    beat speckle, converted to dB and thresholded at the Otsu split of its histogram,
    bounded to a physically plausible range. Wind lifts the sea's VV into the range of
    land but leaves its VH at the noise floor, so when VH parts the scene into two
    classes more cleanly than VV and what VH calls water is bright in VV (a windy sea,
    not pavement, which lies at VH's floor too), VH is split instead.
Sentinel-2
    The normalised difference water index NDWI = (B03 - B08) / (B03 + B08)
    (McFeeters 1996) separates water (strongly positive) from land and from ships
    (near zero or negative); the split is Otsu's, bounded, and SCL class 6 (water)
    votes too. Haze over water pulls the water's NDWI down towards that of blue or
    white roofs, so water must also be dark in the near infrared: no more than
    ``S2_WATER_NIR_MARGIN`` above the B08 median of the NDWI water. Cloud and shadow
    pixels take the class of the surrounding majority.

Both then drop specks (a majority filter), remove small "water" patches inland and, so
that a ship does not punch a hole in the sea, fill enclosed non-water holes up to the
hole the largest vessel leaves: its footprint (``MAX_VESSEL_AREA_M2``) for Sentinel-2,
widened by its blurred echo and the smoothing for Sentinel-1 (``S1_VESSEL_HOLE_M2``).
Land enclosed by water and no larger (a detached jetty head, an islet, a breakwater
standing off the shore) is water too, and in a single scene its bright edge may be
reported as a vessel: an AOI water polygon settles it, and a pair does not flag what is
there on both dates. Sentinel-1 water has one more test: smooth pavement scatters C band
away from the sensor as calm water does (Ulaby et al. 2014), so the paved yards between
stacks are as dark as a harbour, and their stacks would be ships berthed along a
"shore". Water that no path of dark pixels (the 3 x 3 means below the split, narrow
channels included) joins to the edge of the raster, or to missing data that reaches it,
is kept only from ``MIN_ENCLOSED_WATER_M2``. A ship berthed against a quay is not a
hole; callers that need those (vessel detection over a pair) take the water of every
date, through :func:`series_water`, which for Sentinel-1 keeps out land that only a
windy pass's split called water, and judges enclosed water on all the dates at once.

References
----------
Hersbach, H., Stoffelen, A. and de Haan, S. (2007). An improved C-band scatterometer
ocean geophysical model function: CMOD5. Journal of Geophysical Research: Oceans, 112,
C03006. https://doi.org/10.1029/2006JC003743

McFeeters, S. K. (1996). The use of the Normalized Difference Water Index (NDWI) in the
delineation of open water features. International Journal of Remote Sensing, 17(7),
1425-1432. https://doi.org/10.1080/01431169608948714

Otsu, N. (1979). A threshold selection method from gray-level histograms. IEEE
Transactions on Systems, Man, and Cybernetics, 9(1), 62-66.
https://doi.org/10.1109/TSMC.1979.4310076

Vachon, P. W. and Wolfe, J. (2011). C-band cross-polarization wind speed retrieval.
IEEE Geoscience and Remote Sensing Letters, 8(3), 456-459.
https://doi.org/10.1109/LGRS.2010.2085417

Ulaby, F. T., Long, D. G., Blackwell, W. J., Elachi, C., Fung, A. K., Ruf, C., Sarabandi,
K., Zebker, H. A. and Van Zyl, J. (2014). Microwave Radar and Radiometric Remote Sensing.
University of Michigan Press.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os

import numpy as np
import rasterio
from rasterio import features
from scipy import ndimage
from skimage.filters import threshold_multiotsu, threshold_otsu

from imagery.errors import EmptyRasterError, InputError
from imagery.filters import masked_box_mean, odd_window_px
from imagery.grid import pixel_size_m
from imagery.io import raster_info, read_raster
from imagery.raster import Raster
from imagery.sensors import SCL_OPAQUE_CLASSES, SCL_WATER, cloud_mask, prepare, to_db

__all__ = [
    "WaterSplit",
    "drop_enclosed",
    "fill_small_holes",
    "ndwi",
    "rasterize_water",
    "series_water",
    "water_mask",
    "water_mask_file",
    "water_split",
    "water_split_file",
]

log = logging.getLogger(__name__)

#: Largest vessel footprint (400 m x 80 m).
MAX_VESSEL_AREA_M2 = 32_000.0
#: Sentinel-1: largest hole a vessel leaves in a water mask, which the mask swallows: the
#: largest footprint widened on every side by about 33 m of blurred echo (20 m
#: resolution) and the 50 m smoothing (ships at anchor of 265 m x 36 m left holes of
#: 33 500 m^2), about 466 m x 146 m; the margin grows with the hull's brightness, so the
#: brightest of the largest ships may still stand as islands. Sentinel-2's mask (a 3 x 3
#: mean of NDWI at 10 m, no radar blur) swallows holes up to the footprint,
#: ``MAX_VESSEL_AREA_M2``.
S1_VESSEL_HOLE_M2 = 68_000.0
#: Smallest patch of water kept; darker inland patches (tarmac, shadows) are dropped.
MIN_WATER_AREA_M2 = 20_000.0
#: Sentinel-1: smallest enclosed water kept (500 m x 500 m), m^2. Water that no path of
#: dark pixels joins to the edge of the raster (or to missing data reaching it) is paved
#: ground or a pond unless at least this large. A basin where ships lie opens to the sea,
#: if only through a channel a few pixels wide, which the path follows.
MIN_ENCLOSED_WATER_M2 = 250_000.0
#: Plausible VV dB split between water and land for a harbour.
S1_THRESHOLD_DB = (-21.0, -11.0)
S1_DEFAULT_DB = -15.0
#: Plausible VH dB split: water lies at Sentinel-1's cross-pol noise floor (NESZ about -22
#: to -26 dB, lower where the noise is removed) up to gale force; land's VH lies above
#: about -20 dB (grass and crops -20 to -15, trees and buildings brighter), all but
#: smooth bare soil and pavement. A split above -19 dB falls inside the land's range,
#: and the speckled half of a field below it floods the mask.
S1_VH_THRESHOLD_DB = (-27.0, -19.0)
S1_VH_DEFAULT_DB = -21.0
#: VH is split instead of VV when it parts the scene into two classes more cleanly by more
#: than this (Otsu's separability, the between-class share of the variance, 0-1): when
#: VV's water class is gone or blurred into the land, as under a windy sea (VV -12 to
#: -8 dB, as bright as land in VV, never in VH). Not on a close call: VV's contrast
#: between calm water and land is the wider, and VH's the noisier.
S1_VH_PREFERENCE = 0.15
#: ... and only when what VH calls water is, by its median VV, brighter than smooth
#: pavement mostly is (-20 to -15 dB): a sea roughened by the wind (6 m/s and more).
#: Pavement and calm water both lie at VH's noise floor, so a VH split takes a paved yard
#: for water where VV's split tells the two apart.
S1_WINDY_SEA_VV_DB = -14.0
#: ... and only when what VH calls water has the sea's cross-polarisation: its median VV
#: at least this far above its median VH, dB. A windy sea's VH lies 17-20 dB under its VV
#: (CMOD5 against Vachon & Wolfe 2011), 10 dB or more once the noise floor lifts it;
#: grass, crops and trees depolarise by volume scattering, VH 5-9 dB under VV, so fields
#: under VH's split are never taken for a windy sea.
S1_SEA_CROSS_POL_DB = 10.0
#: ... and whose median VH lies at the noise floor, at or under this, dB (Sentinel-1 IW's
#: NESZ is -22 dB or lower, and a windy sea's own VH under it: the two together read -21
#: dB or lower): rough bare soil can have the sea's VV and a low cross-polarisation, not
#: its VH.
S1_SEA_VH_FLOOR_DB = -21.0
#: ... and only when VH is valid wherever VV is, but for this share: the two bands'
#: separabilities are compared on the same pixels, and VH's mask has no water where VH
#: is missing.
S1_VH_MIN_COVERAGE = 0.9
#: An S1 VV split whose two sides' medians lie closer than this, dB, parts one surface,
#: not water from land: the 50 m means of a single surface (a sea, a town) spread by
#: 1.5-2.6 dB (speckle left after averaging, wind and texture), so Otsu's split through
#: them leaves halves whose medians lie 2-3.5 dB apart, while water and land at a port
#: differ by 4-14 dB (measured on the development scenes 100-127 and their half and
#: quarter crops). Such a scene (an anchorage, a port's sea side) is named by its VH
#: (:data:`S1_ONE_SURFACE_VH_DB`) unless VH parts it in two (:func:`_one_surface`).
S1_ONE_SURFACE_GAP_DB = 3.75
#: A scene of one surface is water when its median VH (50 m means) lies under this, dB:
#: a sea's VH lies at the instrument's noise floor (NESZ -22 to -26 dB) up to gale force
#: (Vachon & Wolfe 2011), land's above -19 dB but for smooth pavement and bare soil
#: (``S1_VH_THRESHOLD_DB``'s upper bound).
S1_ONE_SURFACE_VH_DB = S1_VH_THRESHOLD_DB[1]
#: ... and VH sees two surfaces only where each holds at least this share of the scene
#: and VV's medians over them differ by this much, dB (:func:`_two_in_vh`).
S1_ONE_SURFACE_MIN_SHARE = 0.05
S1_ONE_SURFACE_VV_STEP_DB = 1.5
#: Between passes land keeps its 50 m mean backscatter within speckle and calibration
#: (well under 1 dB); an object arriving or leaving, or the wind over water, moves it by
#: more than this, dB.
S1_STABLE_DB = 3.0
#: Plausible NDWI split.
S2_THRESHOLD_NDWI = (-0.15, 0.45)
S2_DEFAULT_NDWI = 0.1
#: Water is dark in the near infrared even when haze or sediment lifts its NDWI split:
#: a pixel brighter in B08 than the water's median by more than this (reflectance) is
#: not water, whatever its NDWI (blue roofs, bright pavement in haze).
S2_WATER_NIR_MARGIN = 0.05


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDWI = (green - nir) / (green + nir) (McFeeters 1996); NaN where undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (green - nir) / (green + nir)
    out[~np.isfinite(out)] = np.nan
    return out.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class WaterSplit:
    """The thresholds that part a scene's water from its land.

    Worked out once for a whole scene (:func:`water_split`, :func:`water_split_file`)
    and handed to :func:`water_mask` for each of its windows, so that a window mostly of
    land, or mostly of sea, is split as the scene is rather than by its own histogram.

    Attributes
    ----------
    sensor : {"s1", "s2"}
    threshold : float
        Sentinel-1: ``band`` of the ``smooth_m`` mean, dB, below which a pixel is water
        (and of the 3 x 3 mean of ``band`` in dB, below which it is dark, a way to open
        water). Sentinel-2: NDWI of the 3 x 3 mean above which a pixel is water.
    nir_ceiling : float or None
        Sentinel-2: B08 reflectance above which no pixel is water (the water's median
        plus ``S2_WATER_NIR_MARGIN``); None when the scene has no water.
    band : {"VV", "VH", "NDWI"}
        What is split: Sentinel-1's VV, or VH where wind makes the sea as bright as land
        in VV (see :func:`water_split`); Sentinel-2's NDWI.
    """

    sensor: str
    threshold: float
    nir_ceiling: float | None = None
    band: str = "VV"


def _valley_split(
    values: np.ndarray, bounds: tuple[float, float], default: float, *, clamp: bool = False
) -> float:
    """The water/land split: the Otsu candidate lying in the deepest histogram valley.

    Ports hold three broad surfaces (water, built-up, vegetation or bare land), so the
    two-class Otsu split may fall between the two land classes. The candidates are the
    two-class split and both three-class (multi-Otsu) splits; the one inside ``bounds``
    where the smoothed histogram is lowest wins. Without any, ``default``. With
    ``clamp``, a candidate beyond a bound is tried at that bound too (a two-class split
    just past the bound still marks a valley between water and land).
    """
    finite = values[np.isfinite(values)]
    if finite.size < 100:
        return default
    sample = _even_sample(finite)
    candidates = []
    try:
        candidates.append(float(threshold_otsu(sample)))
        candidates.extend(float(t) for t in threshold_multiotsu(sample, classes=3))
    except ValueError:
        pass
    low, high = bounds
    if clamp:
        candidates += [min(max(c, low), high) for c in candidates]
    inside = [c for c in candidates if low <= c <= high]
    if not inside:
        # A scene that is nearly all water or all land has no valley between the
        # classes; Otsu then splits one class in two. Fall back to the physics.
        log.debug("no Otsu split of %s inside %s; using %.3f", candidates, bounds, default)
        return default
    counts, edges = np.histogram(
        sample, bins=128, range=(min(low, sample.min()), max(high, sample.max()))
    )
    density = ndimage.uniform_filter1d(counts.astype(float), size=5, mode="nearest")
    centres = (edges[:-1] + edges[1:]) / 2
    return min(inside, key=lambda c: np.interp(c, centres, density))


def fill_small_holes(mask: np.ndarray, max_area_px: float) -> np.ndarray:
    """Fill holes of ``mask`` (regions of False enclosed by True) up to ``max_area_px``."""
    holes = ndimage.binary_fill_holes(mask) & ~mask
    if not holes.any():
        return mask.copy()
    labels, n = ndimage.label(holes)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    small = sizes <= max_area_px
    small[0] = False
    return mask | small[labels]


def _remove_small(mask: np.ndarray, min_area_px: float) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_area_px
    keep[0] = False
    return keep[labels]


def _edge(shape: tuple[int, int]) -> np.ndarray:
    edge = np.zeros(shape, dtype=bool)
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    return edge


def drop_enclosed(
    water: np.ndarray, passable: np.ndarray, valid: np.ndarray, min_area_px: float
) -> np.ndarray:
    """``water`` less its components smaller than ``min_area_px`` that no path through
    ``passable`` (or ``water``) joins to the open: the raster's edge, or pixels outside
    ``valid`` that reach it (beyond which the sea may go on).

    4-connected, as the labels of :func:`scipy.ndimage.label`. Missing data inside the
    raster (a dropout, a saturated pixel) opens nothing.
    """
    labels, n = ndimage.label(water)
    if n == 0:
        return water
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    small = sizes < min_area_px
    small[0] = False
    if not small.any():
        return water
    edge = _edge(water.shape)
    missing = ~valid
    outside = ndimage.binary_propagation(edge & missing, mask=missing) if missing.any() else missing
    way = passable | water
    ways, _ = ndimage.label(way)
    start = way & (edge | ndimage.binary_dilation(outside))
    reaches = np.zeros(int(ways.max()) + 1, dtype=bool)
    reaches[ways[start]] = True
    reaches[0] = False
    open_ = np.zeros(n + 1, dtype=bool)
    open_[labels[water & reaches[ways]]] = True
    drop = small & ~open_
    return water & ~drop[labels]


def _clean(mask: np.ndarray, pixel_area_m2: float, hole_m2: float) -> np.ndarray:
    """Majority vote, small patches out, holes up to ``hole_m2`` filled."""
    # A 3x3 majority vote removes single-pixel speckle without moving straight edges.
    votes = ndimage.uniform_filter(mask.astype(np.float32), size=3, mode="nearest")
    mask = votes > 0.5
    mask = _remove_small(mask, MIN_WATER_AREA_M2 / pixel_area_m2)
    return fill_small_holes(mask, hole_m2 / pixel_area_m2)


def _smoothed_db(raster: Raster, smooth_m: float, band: str = "VV") -> np.ndarray:
    """``band`` averaged over about ``smooth_m`` (linear, valid pixels only), in dB; NaN
    where the window holds no valid pixel."""
    values = raster.band(band)
    size = odd_window_px(smooth_m, raster.pixel_m, minimum=3)
    mean, _ = masked_box_mean(values, np.isfinite(values), size)
    db = to_db(mean)
    db[~np.isfinite(mean)] = np.nan
    return db


def _smoothed_db_at(
    raster: Raster, smooth_m: float, rows: np.ndarray, cols: np.ndarray, band: str = "VV"
) -> np.ndarray:
    """:func:`_smoothed_db` at the pixels ``rows``, ``cols`` alone (1-D, the same
    windows, zero outside the raster): a sparse sample of a scene's means for the cost
    of the sample, not of the scene (a 10980 px file's split, 14 -> 6 s)."""
    values = raster.band(band)
    size = odd_window_px(smooth_m, raster.pixel_m, minimum=3)
    if rows.size * size * size >= values.size:
        # A dense sample: the separable filter over the whole raster costs less.
        return _smoothed_db(raster, smooth_m, band)[rows, cols]
    half = size // 2
    valid = np.isfinite(values)
    padded = np.pad(np.where(valid, values, 0.0).astype(np.float64), half)
    weights = np.pad(valid.astype(np.float64), half)
    total = np.zeros(rows.shape, dtype=np.float64)
    count = np.zeros(rows.shape, dtype=np.float64)
    # rows, cols index the padded arrays at the window's top-left corner.
    for dr in range(2 * half + 1):
        for dc in range(2 * half + 1):
            total += padded[rows + dr, cols + dc]
            count += weights[rows + dr, cols + dc]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= 1.0, total / np.maximum(count, 1e-12), np.nan)
    db = to_db(mean)
    db[~np.isfinite(mean)] = np.nan
    return db


def _separability(values: np.ndarray, split: float) -> float:
    """Share of the variance of ``values`` between the two classes ``split`` makes
    (Otsu's 1979 criterion eta, 0-1); 0 when one class is empty."""
    finite = values[np.isfinite(values)]
    below = finite < split
    share = float(below.mean()) if finite.size else 0.0
    if share in (0.0, 1.0):
        return 0.0
    gap = float(finite[below].mean() - finite[~below].mean())
    return share * (1.0 - share) * gap * gap / float(finite.var())


def _s1_split(vv_db: np.ndarray, vh_db: np.ndarray | None = None) -> WaterSplit:
    """The S1 split of a scene's ``smooth_m`` means (dB, the same pixels in both bands,
    NaN where missing): :func:`_valley_split` of VV, or of VH when VH is valid wherever
    VV is (``S1_VH_MIN_COVERAGE``), separates two classes more cleanly by
    ``S1_VH_PREFERENCE``, and its water is a windy sea (median VV above
    ``S1_WINDY_SEA_VV_DB``, at least ``S1_SEA_CROSS_POL_DB`` over its VH, and VH at the
    noise floor, ``S1_SEA_VH_FLOOR_DB``).

    Calm water is darkest in VV, where the contrast with land is widest. Wind roughens
    the sea: its VV rises with the wind speed (CMOD5, Hersbach et al. 2007: about -13 to
    -7 dB at 10 m/s over IW's 30-46 degrees of incidence) into the range of land, while
    its VH stays under the instrument's noise floor (NESZ -22 to -26 dB) well into a
    gale (Vachon & Wolfe 2011: about -30 dB at 10 m/s, -24 dB at 20 m/s, whatever the
    incidence) and land's lies 5-15 dB above that. Under such a wind the VV histogram
    has no water class left and VH's has.

    A scene of one surface (a sea alone) has no split: :func:`_one_surface`.
    """
    split = WaterSplit("s1", _valley_split(vv_db, S1_THRESHOLD_DB, S1_DEFAULT_DB))
    windy = _windy_sea_split(vv_db, vh_db, split) if vh_db is not None else None
    if windy is not None:
        return windy
    one_surface = _one_surface(vv_db, vh_db, split)
    if one_surface is not None:
        return one_surface
    log.debug("S1 water split at %.2f dB %s", split.threshold, split.band)
    return split


def _windy_sea_split(vv_db: np.ndarray, vh_db: np.ndarray, split: WaterSplit) -> WaterSplit | None:
    """VH's split when it parts a windy sea from the land more cleanly than ``split``
    (VV's) does (the conditions of :func:`_s1_split`), else None."""
    vv_valid = np.isfinite(vv_db)
    both = vv_valid & np.isfinite(vh_db)
    if both.sum() < S1_VH_MIN_COVERAGE * max(1, vv_valid.sum()):
        log.debug("S1 water split at %.2f dB VV: VH is missing", split.threshold)
        return None
    vv, vh = vv_db[both], vh_db[both]
    vh_split = _valley_split(vh, S1_VH_THRESHOLD_DB, S1_VH_DEFAULT_DB, clamp=True)
    vv_eta = _separability(vv, split.threshold)
    vh_eta = _separability(vh, vh_split)
    below = vh < vh_split
    water_vv = float(np.median(vv[below])) if below.any() else -np.inf
    ratio = float(np.median(vv[below] - vh[below])) if below.any() else -np.inf
    floor = float(np.median(vh[below])) if below.any() else np.inf
    log.debug(
        "S1 separability VV %.3f, VH %.3f; VH's water at VV %.1f dB, %.1f dB over VH",
        vv_eta,
        vh_eta,
        water_vv,
        ratio,
    )
    windy_sea = (
        water_vv > S1_WINDY_SEA_VV_DB
        and ratio >= S1_SEA_CROSS_POL_DB
        and floor <= S1_SEA_VH_FLOOR_DB
    )
    if vh_eta > vv_eta + S1_VH_PREFERENCE and windy_sea:
        log.debug("S1 water split at %.2f dB VH (a windy sea)", vh_split)
        return WaterSplit("s1", vh_split, band="VH")
    return None


def _even_sample(values: np.ndarray, size: int = 500_000) -> np.ndarray:
    """About ``size`` of ``values`` (1-D), evenly spread: what a histogram or a median of
    a whole scene needs, at a fraction of its cost."""
    return values[:: max(1, values.size // size)]


def _halves_gap(values: np.ndarray, split: float, *, by: np.ndarray | None = None) -> float:
    """How far apart the medians of ``values`` lie either side of ``split`` (inf when one
    side is empty); the sides are those of ``by`` (the same pixels) when given."""
    finite = np.isfinite(values) & (np.isfinite(by) if by is not None else True)
    values = _even_sample(values[finite])
    side = values if by is None else _even_sample(by[finite])
    below = side < split
    if below.all() or not below.any():
        return np.inf
    return float(np.median(values[~below]) - np.median(values[below]))


def _two_in_vh(vv_db: np.ndarray, vh_db: np.ndarray) -> bool:
    """Whether VH parts two surfaces (the same pixels of both bands, dB): its split's
    halves lie :data:`S1_ONE_SURFACE_GAP_DB` apart or more, each holds at least
    :data:`S1_ONE_SURFACE_MIN_SHARE` of the scene (ships at anchor are no second
    surface), and VV differs between them by :data:`S1_ONE_SURFACE_VV_STEP_DB` or more
    (a step in VH's noise floor between sub-swaths lies over one sea, which VV sees
    alike on both sides; grass and pavement, bare soil and crops, or a breezy sea and
    fields differ in VV too)."""
    split = _valley_split(vh_db, S1_VH_THRESHOLD_DB, S1_VH_DEFAULT_DB, clamp=True)
    share = float(np.mean(_even_sample(vh_db) < split))
    if min(share, 1.0 - share) < S1_ONE_SURFACE_MIN_SHARE:
        return False
    vv_step = abs(_halves_gap(vv_db, split, by=vh_db))
    return _halves_gap(vh_db, split) >= S1_ONE_SURFACE_GAP_DB and vv_step >= (
        S1_ONE_SURFACE_VV_STEP_DB
    )


def _one_surface(
    vv_db: np.ndarray, vh_db: np.ndarray | None, split: WaterSplit
) -> WaterSplit | None:
    """The split of a scene whose VV ``split`` parts one surface, or None when it parts two.

    Otsu's split always parts a histogram in two, even a sea's alone: when the medians
    either side of VV's split lie closer than :data:`S1_ONE_SURFACE_GAP_DB`, VV holds one
    surface (an anchorage read on its own lost 26-76 % of its sea to such a split). With
    VH valid wherever VV is (``S1_VH_MIN_COVERAGE``): when VH parts two surfaces
    (:func:`_two_in_vh`: a breezy sea beside fields, grass beside pavement, bare soil
    among crops), VV's split stands; else the scene is one surface in both, water up to
    VV's upper bound when its median VH lies under :data:`S1_ONE_SURFACE_VH_DB` (the
    noise floor), land but for what lies under the lower bound otherwise. VV alone cannot tell
    a breezy sea from fields: a scene darker than ``S1_DEFAULT_DB`` is water, any other
    keeps VV's split.
    """
    gap = _halves_gap(vv_db, split.threshold)
    if gap >= S1_ONE_SURFACE_GAP_DB:
        return None
    vv_valid = np.isfinite(vv_db)
    both = vv_valid & np.isfinite(vh_db) if vh_db is not None else None
    decided: WaterSplit | None
    if both is not None and both.sum() >= S1_VH_MIN_COVERAGE * max(1, vv_valid.sum()):
        if _two_in_vh(vv_db[both], vh_db[both]):
            decided = None
        elif float(np.median(_even_sample(vh_db[both]))) < S1_ONE_SURFACE_VH_DB:
            decided = WaterSplit("s1", S1_THRESHOLD_DB[1])
        else:
            decided = WaterSplit("s1", S1_THRESHOLD_DB[0])
    elif float(np.median(_even_sample(vv_db[vv_valid]))) < S1_DEFAULT_DB:
        decided = WaterSplit("s1", S1_THRESHOLD_DB[1])
    else:
        decided = None
    if decided is not None:
        log.info(
            "S1 water: VV's split at %.1f dB parts one surface (its halves %.1f dB apart); "
            "split at %.1f dB %s instead",
            split.threshold,
            gap,
            decided.threshold,
            decided.band,
        )
    return decided


def _s1_scene_split(raster: Raster, smooth_m: float) -> WaterSplit:
    vh = _smoothed_db(raster, smooth_m, "VH") if raster.has_band("VH") else None
    return _s1_split(_smoothed_db(raster, smooth_m), vh)


def _s1_levels(
    raster: Raster, smooth_m: float, split: WaterSplit | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three images of the scene: the split's band smoothed over ``smooth_m``, in dB;
    where that is below the water split (the scene's own, or ``split``'s); and where the
    3 x 3 mean of the band in dB (a geometric mean: a lone bright scatterer barely
    moves it) is below the split too."""
    if split is None:
        split = _s1_scene_split(raster, smooth_m)
    values = raster.band(split.band)
    valid = np.isfinite(values)
    db = _smoothed_db(raster, smooth_m, split.band)
    coarse = np.where(np.isfinite(db), db < split.threshold, False)
    fine, _ = masked_box_mean(np.where(valid, to_db(values), 0.0), valid, 3)
    dark = np.isfinite(fine) & (fine < split.threshold)
    return db, coarse, dark


def _s1_water(
    raster: Raster, smooth_m: float, split: WaterSplit | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The scene's water before cleaning, and its dark pixels (:func:`_s1_levels`)."""
    size = odd_window_px(smooth_m, raster.pixel_m, minimum=3)
    _, coarse, dark = _s1_levels(raster, smooth_m, split)
    # The 50 m mean that beats speckle also lets a bright quay wall spill 20-50 m onto
    # the water beside it: exactly the berths. Grow the water back, pixel by pixel,
    # through dark pixels within the smoothing distance of the coarse water.
    reach = ndimage.binary_dilation(coarse, iterations=max(1, size // 2 + 1))
    return ndimage.binary_propagation(coarse, mask=(dark & reach) | coarse), dark


def _drop_s1_enclosed(water: np.ndarray, dark: np.ndarray, scene: Raster) -> np.ndarray:
    """:func:`drop_enclosed` with ``MIN_ENCLOSED_WATER_M2``, on the scene's VV data."""
    min_area_px = MIN_ENCLOSED_WATER_M2 / scene.pixel_m**2
    return drop_enclosed(water, dark, np.isfinite(scene.band("VV")), min_area_px)


def _s2_index(raster: Raster) -> tuple[np.ndarray, np.ndarray]:
    """NDWI of the 3 x 3 means, and where it is opaque cloud (SCL)."""
    index = ndwi(raster.band("B03"), raster.band("B08"))
    # A 3x3 mean quiets sensor noise and haze without moving the shoreline.
    smooth, _ = masked_box_mean(index, np.isfinite(index), 3)
    index = np.where(np.isfinite(index), smooth, np.nan).astype(np.float32)
    # NDWI is a ratio: a cloud's shadow or thin cirrus hardly moves it.
    return index, cloud_mask(raster, SCL_OPAQUE_CLASSES)


def _s2_split(raster: Raster, index: np.ndarray, usable: np.ndarray) -> WaterSplit:
    split = _valley_split(index[usable], S2_THRESHOLD_NDWI, S2_DEFAULT_NDWI)
    water = usable & (index > split)
    ceiling = None
    if water.any():
        ceiling = float(np.nanmedian(raster.band("B08")[water])) + S2_WATER_NIR_MARGIN
    log.debug("S2 water split at NDWI %.3f, B08 below %s", split, ceiling)
    return WaterSplit("s2", split, ceiling, band="NDWI")


def _s2_water(raster: Raster, smooth_m: float, split: WaterSplit | None = None) -> np.ndarray:
    index, cloudy = _s2_index(raster)
    usable = np.isfinite(index) & ~cloudy
    scl = raster.band("SCL") if raster.has_band("SCL") else None
    if split is None:
        split = _s2_split(raster, index, usable)
    water = usable & (index > split.threshold)
    nir = raster.band("B08")
    if split.nir_ceiling is not None:
        usable &= ~(nir > split.nir_ceiling)
        water &= usable
    if scl is not None:
        # SCL's water class is a second opinion; it misses turbid water, so it may
        # only add, and only where NDWI is not clearly land.
        water |= usable & (scl == SCL_WATER) & (index > split.threshold - 0.15)
    if cloudy.any():
        size = odd_window_px(4 * smooth_m, raster.pixel_m, minimum=5)
        share, count = masked_box_mean(water.astype(np.float32), usable, size)
        water |= cloudy & (np.nan_to_num(share) > 0.5) & (count > 0)
    return water


def rasterize_water(geometry, raster: Raster) -> np.ndarray:
    """Burn a water (Multi)Polygon, already in ``raster.crs``, onto the raster's grid."""
    if geometry is None or geometry.is_empty:
        return np.zeros(raster.shape, dtype=bool)
    burned = features.rasterize(
        [(geometry, 1)], out_shape=raster.shape, transform=raster.transform, fill=0, dtype="uint8"
    )
    return burned.astype(bool)


def water_mask(
    raster: Raster,
    *,
    aoi=None,
    smooth_m: float = 50.0,
    enclosed: bool = True,
    split: WaterSplit | None = None,
) -> np.ndarray:
    """Boolean (row, col) water mask of one prepared scene.

    From the AOI's water polygon when it has one, else split at the thresholds of
    :func:`water_split`: the Otsu split (Otsu 1979) of S1 VV (or VH, under a windy sea)
    in dB, or of S2 NDWI (McFeeters 1996).

    Parameters
    ----------
    raster : Raster
        Prepared by :func:`imagery.sensors.prepare_s1` or ``prepare_s2``.
    aoi : imagery.aoi.AOI, optional
        When it carries a water polygon, that polygon is the mask.
    smooth_m : float, default 50
        Smoothing scale against speckle and noise, metres.
    enclosed : bool, default True
        Sentinel-1: False keeps enclosed water of any size (see the module's notes).
        Masks that only keep water out of co-registration, and the masks of the dates
        of a pair or series (:func:`series_water` drops the enclosed water of their
        combination), are made without the test: a ship in a basin's entrance on one
        date must not close the basin on every date.
    split : WaterSplit, optional
        The thresholds of the whole scene this raster is a window of
        (:func:`water_split_file`); by default the raster's own (:func:`water_split`).

    Returns
    -------
    ndarray of bool, shape (row, col)
    """
    if aoi is not None and getattr(aoi, "water", None) is not None:
        return rasterize_water(aoi.water_in(raster.crs), raster)
    _check_split(split, raster)
    pixel_area = raster.pixel_m**2
    if raster.sensor == "s1":
        raw, dark = _s1_water(raster, smooth_m, split)
        water = _clean(raw, pixel_area, S1_VESSEL_HOLE_M2)
        return _drop_s1_enclosed(water, dark, raster) if enclosed else water
    if raster.sensor == "s2":
        return _clean(_s2_water(raster, smooth_m, split), pixel_area, MAX_VESSEL_AREA_M2)
    raise InputError(f"water_mask needs a prepared s1 or s2 raster, got sensor {raster.sensor!r}")


def _check_split(split: WaterSplit | None, raster: Raster) -> None:
    if split is not None and split.sensor != raster.sensor:
        raise InputError(f"a {split.sensor} water split cannot split a {raster.sensor} scene")
    if split is not None and split.sensor == "s1" and not raster.has_band(split.band):
        raise InputError(f"a water split of {split.band} cannot split a scene without {split.band}")


def water_split(raster: Raster, *, smooth_m: float = 50.0) -> WaterSplit:
    """The water/land thresholds of one prepared scene, as :func:`water_mask` finds them.

    Sentinel-1: the Otsu split in the deepest valley of the histogram of VV's
    ``smooth_m`` means in dB, bounded to ``S1_THRESHOLD_DB`` (Otsu 1979), or of VH's,
    bounded to ``S1_VH_THRESHOLD_DB``, when VH separates the two classes more cleanly
    by ``S1_VH_PREFERENCE`` (Otsu's separability) and what it calls water has a median
    VV above ``S1_WINDY_SEA_VV_DB`` (a windy sea; see :func:`_s1_split`); a scene whose VV
    split parts one surface (``S1_ONE_SURFACE_GAP_DB``) is named by its VH unless VH parts it
    (:func:`_one_surface`). Sentinel-2: the
    same on NDWI (McFeeters 1996), bounded to ``S2_THRESHOLD_NDWI``, and the B08 ceiling
    over it.

    Parameters
    ----------
    raster : Raster
        Prepared by :func:`imagery.sensors.prepare_s1` or ``prepare_s2``.
    smooth_m : float, default 50
        As for :func:`water_mask`, metres.

    Returns
    -------
    WaterSplit
    """
    if raster.sensor == "s1":
        return _s1_scene_split(raster, smooth_m)
    if raster.sensor == "s2":
        index, cloudy = _s2_index(raster)
        return _s2_split(raster, index, np.isfinite(index) & ~cloudy)
    raise InputError(f"water_split needs a prepared s1 or s2 raster, got sensor {raster.sensor!r}")


def series_water(
    scenes: list[Raster],
    waters: list[np.ndarray],
    *,
    smooth_m: float = 50.0,
    stable_db: float = S1_STABLE_DB,
    enclosed: bool = True,
    splits: list[WaterSplit | None] | None = None,
) -> np.ndarray:
    """Water of co-registered scenes of one place: where a vessel may be on any date.

    A ship berthed on one date is land in that date's mask and water in the others; the
    pair's water must hold it, so water on any date counts. For Sentinel-1 one more
    test: smooth pavement (-20 to -13 dB VV) is as dark as a windy sea (-15 to -10 dB),
    so under a windy pass's high water split a paved yard is "water" and a stack that
    appears on it is never searched for as cargo. Land keeps its backscatter between
    passes; a vessel arriving or leaving, or the wind over the water, changes it. A
    pixel that is water on some dates is water of the series only when, on every date
    it is land, it is at least ``stable_db`` brighter than on every date it is water,
    after removing each scene's overall calibration difference from the first (the
    median over land of all dates, where both have data); a date without data at a
    pixel gives no evidence there. Temporal variability as the mark of water in a SAR
    series: Santoro, M. and Wegmuller, U. (2014), Multi-temporal synthetic aperture
    radar metrics applied to map open water bodies, IEEE JSTARS 7(8), 3225-3238. Last,
    enclosed water is dropped from the combination as :func:`water_mask` drops it from
    one scene, where no date's dark pixels join it to the open (a channel is open on a
    date its ship is not in it).

    Parameters
    ----------
    scenes : list of Raster
        Prepared scenes on one grid.
    waters : list of ndarray of bool
        Their :func:`water_mask` with ``enclosed=False`` (or one shared polygon mask, with
        ``enclosed=False`` here too).
    smooth_m : float
        The scale of :func:`water_mask`'s smoothing, metres.
    stable_db : float
        Largest change of the smoothed VV between passes that is still the same
        surface, dB. ``inf`` gives the union of the masks (less enclosed water, with
        ``enclosed``).
    enclosed : bool, default True
        Sentinel-1: drop enclosed water (False: keep it, as for a polygon's mask).
    splits : list of WaterSplit or None, optional
        Per scene, the split its ``waters`` were made with (:func:`water_mask`).

    Returns
    -------
    ndarray of bool
    """
    union = np.logical_or.reduce(waters)
    if scenes[0].sensor != "s1":
        return union
    every = np.logical_and.reduce(waters)
    partly = union & ~every
    judge = len(scenes) >= 2 and np.isfinite(stable_db) and bool(partly.any())
    if not (judge or enclosed):
        return union
    pixel_area = scenes[0].pixel_m ** 2
    passable = np.zeros(union.shape, dtype=bool)
    seen_any = np.zeros(union.shape, dtype=bool)
    # Date by date, so that memory does not grow with the length of a series. A date
    # without data at a pixel gives no evidence there.
    darkest_land = np.full(union.shape, np.inf, dtype=np.float32) if judge else None
    brightest_water = np.full(union.shape, -np.inf, dtype=np.float32) if judge else None
    reference = None
    splits = splits or [None] * len(scenes)
    for scene, water, split in zip(scenes, waters, splits, strict=True):
        _check_split(split, scene)
        split = split or _s1_scene_split(scene, smooth_m)
        level, _, dark = _s1_levels(scene, smooth_m, split)
        passable |= dark
        seen_any |= np.isfinite(scene.band("VV"))
        if not judge:
            continue
        # Judged in VV whichever band split the date: wind moves the sea's VV, which
        # is what tells it from land, and leaves its VH at the noise floor.
        if split.band != "VV":
            level = _smoothed_db(scene, smooth_m)
        level = level.astype(np.float32)
        if reference is None:
            reference = level
        else:
            common = ~union & np.isfinite(level) & np.isfinite(reference)
            if common.any():
                level -= np.float32(np.median(level[common] - reference[common]))
        seen = np.isfinite(level)
        np.minimum(darkest_land, level, out=darkest_land, where=seen & ~water)
        np.maximum(brightest_water, level, out=brightest_water, where=seen & water)
    water = union
    if judge:
        with np.errstate(invalid="ignore"):
            # No evidence on either side (inf - x, x - -inf) keeps the union's answer.
            moved = (darkest_land - brightest_water) >= stable_db
        water = _clean(every | (partly & moved), pixel_area, S1_VESSEL_HOLE_M2)
    if enclosed:
        water = drop_enclosed(water, passable, seen_any, MIN_ENCLOSED_WATER_M2 / pixel_area)
    return water


def water_mask_file(
    path: str | os.PathLike, *, sensor: str, aoi=None, decimation: int = 4
) -> np.ndarray:
    """Water mask of a whole scene file on its own grid, from a decimated read.

    Water moves and speckles, so co-registration must not measure on it; over a full
    tile the mask is computed at ``decimation`` times the pixel size (40 m for
    Sentinel data: :func:`imagery.water.water_mask` smooths over 50 m anyway), which
    reads the file once at a sixteenth of its pixels, then expanded to full resolution
    (one byte per pixel). Vessels at anchor count as water (they move too).

    Returns
    -------
    ndarray of bool, shape (row, col) of the file
    """
    info = raster_info(path)
    # GDAL's block cache (5 % of RAM by default) would keep the whole file resident; 64 MB
    # (rasterio passes the size to GDAL in bytes). Every band, as the detection reads
    # them: which is VV and which VH is for prepare to tell. A pixel with VV but no VH
    # still has water.
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20):
        coarse = read_raster(
            path, sensor=sensor, decimation=decimation, require_valid=sensor != "s1"
        )
    # On the file's own grid, whatever its CRS: the mask is expanded onto that grid.
    coarse = prepare(coarse, sensor, source=str(path), grid="native")
    if sensor == "s1" and not np.isfinite(coarse.band("VV")).any():
        raise EmptyRasterError(f"{path}: the raster holds no valid VV pixel")
    # Only kept out of the shift's measurement: enclosed water costs nothing there.
    water = water_mask(coarse, aoi=aoi, enclosed=False)
    # Mixed pixels at the coarse scale widen a ship by about a pixel on every side.
    side_m = np.sqrt(MAX_VESSEL_AREA_M2) + 2 * coarse.pixel_m
    water = fill_small_holes(water, side_m**2 / coarse.pixel_m**2)
    full = np.repeat(np.repeat(water, decimation, axis=0), decimation, axis=1)
    return np.ascontiguousarray(full[: info.height, : info.width])


def _lattice(
    rows: tuple[int, int], cols: tuple[int, int], *, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every pixel in the block ``rows`` x ``cols`` (half-open ranges)
    whose row and column are both multiples of ``step``: an even sample of the whole
    raster, whichever blocks it is read in."""
    r = np.arange(-(-rows[0] // step) * step, rows[1], step)
    c = np.arange(-(-cols[0] // step) * step, cols[1], step)
    grid_r, grid_c = np.meshgrid(r, c, indexing="ij")
    return grid_r.ravel(), grid_c.ravel()


def water_split_file(
    path: str | os.PathLike,
    *,
    sensor: str,
    smooth_m: float = 50.0,
    s2_scale: float | None = None,
    chunk_px: int = 2048,
    samples: int = 500_000,
) -> WaterSplit:
    """:func:`water_split` of a whole scene file, read window by window.

    For windowed processing (:mod:`imagery.tiled`): a window of a tile that is mostly
    land, or mostly open sea, has no valley between water and land in its own
    histogram, so each window would draw its shoreline at its own level. The split is
    found once for the file, as :func:`water_split` finds it for a scene in memory, from
    about ``samples`` of the file's full-resolution values on a regular lattice (VV's
    and VH's ``smooth_m`` means in dB; NDWI's 3 x 3 means with B08 beside them),
    gathered window by window so that memory stays that of one window. A decimated read would not do:
    block means narrow the histogram's classes and move the split (Busan's NDWI split
    by 0.006 at 40 m, which moves berthed ships in and out of the water).

    Parameters
    ----------
    path : path-like
        A scene file, or a product (:mod:`imagery.products`).
    sensor : {"s1", "s2"}
    smooth_m : float, default 50
        As for :func:`water_mask`.
    s2_scale : float, optional
        Reflectance per S2 digital number; by default each file's numbers tell it
        (:func:`imagery.sensors.s2_file_scale`: L2A's 1e-4 or EO Browser's 1 / 65535).
    chunk_px : int, default 2048
        Side of the windows read, pixels.
    samples : int, default 500 000
        About how many pixels the split is found on.

    Returns
    -------
    WaterSplit

    Raises
    ------
    InputError
        The file cannot be read as a ``sensor`` scene (its bands, its values).
    """
    from rasterio.windows import Window

    info = raster_info(path, sensor=sensor)
    # The smoothing's reach, so that each window's core is smoothed as in the whole.
    pixel_m = pixel_size_m(info.transform, info.crs, (info.height, info.width))
    pad = odd_window_px(smooth_m, pixel_m, minimum=3) // 2 + 1
    step = max(1, math.isqrt((info.height * info.width) // max(1, samples)))
    values, nir, cross = [], [], []
    # GDAL's block cache (5 % of RAM by default) would keep the file resident; windows
    # are read once each (rasterio passes the size to GDAL in bytes).
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20):
        for row, col in itertools.product(
            range(0, info.height, chunk_px), range(0, info.width, chunk_px)
        ):
            r0, c0 = max(0, row - pad), max(0, col - pad)
            r1 = min(info.height, row + chunk_px + pad)
            c1 = min(info.width, col + chunk_px + pad)
            # Every band, as the detection's windows read them (a window with VV but no
            # VH still has water to sample).
            raster = read_raster(
                path, sensor=sensor, window=Window(c0, r0, c1 - c0, r1 - r0), require_valid=False
            )
            if not raster.valid_mask(every_band=False).any():
                continue
            raster = prepare(
                raster, sensor, source=str(path), grid="native", s2_scale=s2_scale, window=True
            )
            if not (
                np.isfinite(raster.band("VV")).any()
                if sensor == "s1"
                else raster.valid_mask().any()
            ):
                continue
            rows, cols = _lattice(
                (row, min(row + chunk_px, info.height)),
                (col, min(col + chunk_px, info.width)),
                step=step,
            )
            rows, cols = rows - r0, cols - c0
            if sensor == "s1":
                level = _smoothed_db_at(raster, smooth_m, rows, cols)
                keep = np.isfinite(level)
                values.append(level[keep])
                # A file whose VH holds nothing reads as VV alone (prepare_s1); a window
                # of one whose VH ends short keeps its VH, empty, and so its samples.
                cross.append(
                    _smoothed_db_at(raster, smooth_m, rows[keep], cols[keep], "VH")
                    if raster.has_band("VH")
                    else np.full(int(keep.sum()), np.nan, dtype=np.float32)
                )
            else:
                index, cloudy = _s2_index(raster)
                index, cloudy = index[rows, cols], cloudy[rows, cols]
                usable = np.isfinite(index) & ~cloudy
                values.append(index[usable])
                nir.append(raster.band("B08")[rows, cols][usable])
    values = np.concatenate(values) if values else np.empty(0, dtype=np.float32)
    if sensor == "s1":
        cross = np.concatenate(cross) if cross else np.empty(0, dtype=np.float32)
        return _s1_split(values, cross if np.isfinite(cross).any() else None)
    split = _valley_split(values, S2_THRESHOLD_NDWI, S2_DEFAULT_NDWI)
    nir = np.concatenate(nir) if nir else np.empty(0, dtype=np.float32)
    water = values > split
    ceiling = float(np.nanmedian(nir[water])) + S2_WATER_NIR_MARGIN if water.any() else None
    return WaterSplit("s2", split, ceiling, band="NDWI")
