"""Vessels in one scene: bright (S1) or contrasting (S2) compact objects on water.

Sentinel-1
    A CFAR detector (``imagery.cfar``; K-distributed sea clutter by default, SNAP's
    windows and PFA) runs on VV and, when present, VH; a pixel is a target when either
    polarisation says so. The search area is the water mask plus a band of land along
    the shore, so that a ship berthed against a quay is not lost in the land mask; in
    that band a pixel must also stand out against the surrounding land (a second CFAR
    with land as clutter), which keeps bright quay edges and cranes out. Berthed ships
    that merge with the quay in the water mask are recovered as shoreline protrusions
    (below) that are significantly bright against the water.

Sentinel-2
    Decisions are per object, not per pixel, and objects are of two kinds.

    *Afloat.* Water is nearly black in the near infrared, so a hull stands out in B08
    against the water around it: a two-parameter CFAR on B08, with water that looks
    like water (off the shoreline, no filled holes) as clutter, finds cores off the
    shoreline, which grow by hysteresis into the hull. An object is kept when its B08
    step is physically meaningful (``s2_min_contrast``) and it is solid: foam,
    whitecaps and sediment plumes brighten the visible more than the near infrared
    (their B08 step is below ``s2_foam_ratio`` times their B03 step), paint and steel
    do not.

    *Berthed.* A ship alongside a quay is not water in any index and merges with the
    quay in a water mask. What gives it away is geometry: a quay is straight and a
    berthed ship is a short, shallow bump on it. Along a direction theta the run of
    land through a pixel of the bump is the ship's length, bounded by water at both
    ends, while the run through the quay behind it is much longer (Soille 2003: the
    pixels whose run is shorter than L are those a closing by a line of length L
    fills). For each of ``berth_angles`` directions and three line lengths up to
    ``berth_line_m``, land whose run is shorter than the line is a protrusion, and a
    protrusion is a berthed-ship candidate when it is elongated along theta (a pier
    filled across its width is elongated across theta), at most
    ``berth_max_width_m`` deep, faces the water along its outer side (a strip across
    a pier does not), does not fill the line (the inside of a bend or a corner grows
    smoothly up to the line; a hull stops at its own length), is backed by a quay
    running ``berth_min_backing`` times longer, is not vegetation (NDVI) and is solid
    (the foam test). Its score (:func:`_berth_score`) grows with its elongation, its
    backing and its spectral contrast with the quay behind it (the mixed rim of a
    quay has the quay's spectrum once the water-mixed pixels are left out; a hull is
    another material); candidates below ``berth_min_score`` are dropped.

    Candidates of every direction, length and kind compete for their pixels: the best
    scored keeps them and absorbs touching fragments (non-maximum suppression), so one
    ship is one object. Objects in a surf zone (patches of foam and ``s2_surf_buffer_m``
    around them) are dropped: no ship lies in breaking waves. So are objects cut by
    the cloud mask (:func:`s2_clouds`: SCL when present, and spectrally flat
    brightening in patches larger than a deck). The protrusion search works in
    overlapping tiles, so its memory is bounded by the tile, not the scene.

Every object is measured in ground metres (a Web Mercator grid is handled by
``imagery.grid.ground_pixel_size``) and filtered by size. The score of an S1 object and
of an S2 object afloat is the probability that it is not a clutter false alarm,
``1 / (1 + N p)``, with ``p`` the object's peak false alarm probability and ``N`` the
number of pixels searched (a Bonferroni-style correction for testing every pixel); a
berthed S2 object has no clutter model and its evidence score is at most 0.9.

References
----------
Crisp, D. J. (2004). The state-of-the-art in ship detection in synthetic aperture radar
imagery. DSTO-RR-0272.

Heiselberg, H. (2016). A direct and fast methodology for ship recognition in Sentinel-2
multispectral imagery. Remote Sensing, 8(12), 1033. https://doi.org/10.3390/rs8121033

Soille, P. (2003). Morphological Image Analysis, 2nd ed. Springer, ch. 9 (closings by
line segments). https://doi.org/10.1007/978-3-662-05088-0

Koepke, P. (1984). Effective reflectance of oceanic whitecaps. Applied Optics, 23(11),
1816-1824. https://doi.org/10.1364/AO.23.001816
"""

from __future__ import annotations

import dataclasses
import logging

import geopandas as gpd
import numpy as np
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold

from imagery.cfar import SNAP_BACKGROUND_M, SNAP_GUARD_M, SNAP_PFA, cfar_detect
from imagery.clouds import large_patches, s2_clouds
from imagery.errors import InputError
from imagery.filters import masked_ring_stats, odd_window_px
from imagery.grid import ground_pixel_size
from imagery.objects import label_objects, measure_objects
from imagery.raster import Raster
from imagery.water import S2_WATER_NIR_MARGIN, ndwi, water_mask

__all__ = [
    "VesselParams",
    "detect_vessels",
    "directional_runs",
    "s2_surf",
    "shore_protrusions",
    "vessel_candidates",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VesselParams:
    """Parameters of single-scene vessel detection; defaults suit S1 IW GRD and S2 L2A at 10 m.

    Attributes
    ----------
    pfa : float
        Per-pixel false alarm probability of the S1 CFAR test (SNAP: 10^-6.5).
    guard_m, background_m : float
        S1 CFAR guard and background window sides, metres (SNAP: 500 and 800).
    model : str
        S1 clutter model: "k" (default), "gamma" or "gaussian" (SNAP's two-parameter).
    looks : float
        Equivalent number of looks of S1 IW GRD (about 4.4).
    s2_pfa : float
        Per-pixel false alarm probability of the S2 B08 contrast test.
    s2_guard_m, s2_background_m : float
        Guard and background window sides of the S2 test, metres.
    s2_min_contrast : float
        Smallest mean B08 reflectance step of an S2 object afloat above the water
        around it (sensor noise and haze texture are well below 0.01; a sediment plume
        lifts dark water's B08 by 0.01-0.02; a hull by 0.03 or more).
    s2_min_length_m : float
        Shortest S2 vessel as measured, metres (blur adds 10-20 m to a hull at 10 m,
        so this is about a 30 m hull; smaller boats are not reported).
    s2_foam_ratio : float
        An S2 object whose B08 step above the water is below this multiple of its B03
        step is foam, a whitecap or a plume, not a hull (Koepke 1984).
    s2_max_ndvi : float
        S2 candidates whose median NDVI exceeds this are vegetation.
    s2_max_ndwi : float
        S2 cores must have NDWI below the water's median NDWI plus this (a hull is less
        water-like than the water around it; a bright patch of turbid water is not).
    s2_surf_buffer_m : float
        S2 objects within this distance of a patch of foam are surf, metres.
    shore_m : float
        Width of the band of land along the water searched by the S1 CFAR, metres.
    land_window_m : float
        Background window of the S1 land test in the shore band, metres.
    land_pfa : float
        False alarm probability against land clutter in the shore band (S1).
    min_length_m, max_length_m, min_width_m, max_width_m, min_area_m2 : float
        Size filters on the ground (S2 uses ``s2_min_length_m`` for the shortest); S1
        sizes are measured with the sensor blur removed, so boats under 30 m drop out.
    hysteresis : float
        Pixels joined to an object need this fraction of the detection significance.
    berths : bool
        Look for berthed ships as shoreline protrusions.
    berth_line_m : float
        Longest berthed ship: land runs up to this length, bounded by water at both
        ends, are protrusions, metres.
    berth_max_width_m : float
        Deepest protrusion that may be a ship (its beam), metres.
    berth_min_elongation : float
        Smallest length/width of a berthed ship.
    berth_min_backing : float
        The quay behind an S2 berthed candidate must run this many times longer than
        the candidate along the same direction.
    berth_min_score : float
        S2 berthed objects scoring below this (:func:`_berth_score`, 0-0.9) are dropped.
    berth_angles : int
        Directions searched for S2 protrusions over 180 degrees.
    min_width_px : int
        Detection cores and protrusions narrower than this (pixels) are opened away.
    grow_px : int
        Hysteresis growth reaches this far from a core, pixels.
    """

    pfa: float = SNAP_PFA
    guard_m: float = SNAP_GUARD_M
    background_m: float = SNAP_BACKGROUND_M
    model: str = "k"
    looks: float = 4.4
    s2_pfa: float = 1e-7
    s2_guard_m: float = 150.0
    s2_background_m: float = 450.0
    s2_min_contrast: float = 0.02
    s2_min_length_m: float = 45.0
    s2_foam_ratio: float = 0.6
    s2_max_ndvi: float = 0.3
    s2_max_ndwi: float = 0.0
    s2_surf_buffer_m: float = 60.0
    shore_m: float = 40.0
    land_window_m: float = 150.0
    land_pfa: float = 1e-3
    min_length_m: float = 30.0
    min_width_m: float = 6.0
    max_length_m: float = 500.0
    max_width_m: float = 90.0
    min_area_m2: float = 250.0
    hysteresis: float = 0.5
    berths: bool = True
    berth_line_m: float = 400.0
    berth_max_width_m: float = 60.0
    berth_min_elongation: float = 2.5
    berth_min_backing: float = 2.0
    berth_min_score: float = 0.55
    berth_angles: int = 16
    min_width_px: int = 2
    grow_px: int = 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- directional runs ---------------------------------------------------------------------


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


# -- shared helpers ---------------------------------------------------------------------------


def _pixel_m(scene: Raster) -> float:
    return float(np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)))


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
        out |= ndimage.binary_opening(mask, structure=line)
    return out


def _open(mask: np.ndarray, width_px: int) -> np.ndarray:
    """Binary opening by a ``width_px`` square; by array shifts for the usual 2 x 2."""
    if width_px <= 1:
        return mask
    if width_px != 2:
        return ndimage.binary_opening(mask, structure=np.ones((width_px, width_px), dtype=bool))
    eroded = np.zeros_like(mask)
    eroded[:-1, :-1] = mask[:-1, :-1] & mask[1:, :-1] & mask[:-1, 1:] & mask[1:, 1:]
    opened = eroded.copy()
    opened[1:, :] |= eroded[:-1, :]
    opened[:, 1:] |= eroded[:, :-1]
    opened[1:, 1:] |= eroded[:-1, :-1]
    return opened


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
    grown = apply_hysteresis_threshold(image, weak, strong)
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


def _axis_shape(labels: np.ndarray, n: int, pixel_m: float) -> dict[str, np.ndarray]:
    """Per label 0..n: pixel count, length and width (m, from second moments, as
    ``imagery.objects``) and the major axis angle in the pixel grid (degrees clockwise
    from +col, 0-180)."""
    rows, cols = np.nonzero(labels)
    owner = labels[rows, cols]
    count = np.bincount(owner, minlength=n + 1).astype(np.float64)
    safe = np.maximum(count, 1.0)
    mr = np.bincount(owner, rows, n + 1) / safe
    mc = np.bincount(owner, cols, n + 1) / safe
    dr, dc = rows - mr[owner], cols - mc[owner]
    srr = np.bincount(owner, dr * dr, n + 1) / safe + 1.0 / 12.0
    scc = np.bincount(owner, dc * dc, n + 1) / safe + 1.0 / 12.0
    src = np.bincount(owner, dr * dc, n + 1) / safe
    half = (srr + scc) / 2.0
    root = np.sqrt(((scc - srr) / 2.0) ** 2 + src * src)
    return {
        "count": count,
        "length_m": np.sqrt(12.0 * (half + root)) * pixel_m,
        "width_m": np.sqrt(12.0 * np.maximum(half - root, 0.0)) * pixel_m,
        "angle": np.mod(np.degrees(0.5 * np.arctan2(2.0 * src, scc - srr)), 180.0),
    }


def _ship_sized(shape: dict[str, np.ndarray], params: VesselParams, min_length_m: float):
    return (
        (shape["length_m"] >= min_length_m)
        & (shape["length_m"] <= params.max_length_m)
        & (shape["width_m"] <= params.max_width_m)
    )


# -- Sentinel-1 -------------------------------------------------------------------------------


def _shore_band(water: np.ndarray, width_px: int) -> np.ndarray:
    if width_px < 1 or not water.any():
        return np.zeros_like(water)
    near = ndimage.binary_dilation(water, iterations=width_px)
    return near & ~water


def _s1_candidates(scene: Raster, water: np.ndarray, params: VesselParams, pixel_m: float):
    shore = _shore_band(water, round(params.shore_m / pixel_m))
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


#: The S1 water mask is smoothed, so its shoreline, and the bump a berthed hull makes
#: in it, may lie a pixel or two off the hull: a whole bump is a hull when the bright
#: pixels in it and within two pixels of it number at least this share of it.
S1_BERTH_BRIGHT_SHARE = 0.5


def _ship_shaped(labels: np.ndarray, n: int, scene: Raster, params) -> np.ndarray:
    """Per label 0..n: within the berthed size and elongation limits."""
    shape = measure_objects(labels, n, transform=scene.transform, crs=scene.crs)
    elongation = shape["length_m"] / np.maximum(shape["width_m"], 1e-6)
    keep = (
        (shape["width_m"] <= params.berth_max_width_m)
        & (elongation >= params.berth_min_elongation)
        & (shape["length_m"] >= params.min_length_m)
        & (shape["length_m"] <= params.max_length_m)
    ).to_numpy()
    return np.concatenate([[False], keep])


def _s1_berthed(scene: Raster, water: np.ndarray, significance: np.ndarray, params) -> np.ndarray:
    """S1 berthed-ship mask: thin, elongated shoreline protrusions that are
    significantly bright against the water.

    Two readings of the same evidence: the bright pixels of the protrusions, when they
    alone are ship-shaped; and whole protrusions that are ship-shaped and lit (see
    ``S1_BERTH_BRIGHT_SHARE``), with the bright pixels next to them.
    """
    pixel_m = _pixel_m(scene)
    bumps = shore_protrusions(water, length_px=max(3, round(params.berth_line_m / pixel_m)))
    bumps &= scene.valid_mask()
    bright = scene.valid_mask() & ~water & (significance >= -np.log10(params.pfa))
    lit_bumps = ndimage.binary_opening(bumps & bright, structure=_square(params))
    labels, n = label_objects(lit_bumps)
    mask = _ship_shaped(labels, n, scene, params)[labels] if n else lit_bumps
    bumps = ndimage.binary_opening(bumps, structure=_square(params))
    labels, n = label_objects(bumps)
    if n == 0:
        return mask
    own = _PerLabel.of(labels, n)
    near = own.ring(labels.shape, 0, 2).subset(bright)
    lit = own.count(bright) + np.bincount(near.owner, minlength=n + 1)
    size = np.bincount(labels.ravel(), minlength=n + 1)
    keep = _ship_shaped(labels, n, scene, params) & (lit >= S1_BERTH_BRIGHT_SHARE * size)
    mask |= keep[labels]
    mask.ravel()[near.where[keep[near.owner]]] = True
    return mask


#: Standard deviation of the point spread function of S1 IW GRD (about 20 m x 22 m
#: resolution, FWHM / 2.355), metres; removed from measured sizes.
S1_PSF_SIGMA_M = 9.0


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


def _s1_frame(scene: Raster, water: np.ndarray, params: VesselParams) -> gpd.GeoDataFrame:
    detected, significance, searched, excess = _s1_candidates(scene, water, params, _pixel_m(scene))
    if params.min_width_px > 1:
        detected = ndimage.binary_opening(detected, structure=_square(params))
    mask = _grow(detected, significance, water | detected, params, params.pfa)
    if params.berths:
        mask |= _s1_berthed(scene, water, significance, params)
    frame = objects_from_mask(
        mask,
        significance,
        scene,
        n_tests=max(1.0, float(searched.sum())),
        weights=excess,
        psf_sigma_m=S1_PSF_SIGMA_M,
    )
    return _size_filter(frame, params, params.min_length_m)


# -- Sentinel-2: clouds, surf, the per-pixel test ---------------------------------------------

#: Foam: at least this much brighter than the water in B03 (reflectance), in patches at
#: least this large (a lone whitecap is not a surf zone; the size filter drops it).
S2_FOAM_STEP = 0.05
S2_FOAM_MIN_AREA_M2 = 1_000.0


def s2_surf(
    scene: Raster, water: np.ndarray, *, ratio: float, buffer_m: float, pixel_m: float
) -> np.ndarray:
    """Boolean (row, col) surf zone of a prepared S2 scene: foam patches and ``buffer_m`` around.

    Foam (breaking waves, whitewater) is white in the visible (B02, B03, B04 within 30 %
    of each other), at least ``S2_FOAM_STEP`` brighter than the water in B03, and short
    of near infrared, which the water in and under the foam absorbs (Koepke 1984): its
    B08 step above the water is below ``ratio`` times its B03 step. No ship lies in a
    zone of breaking waves.
    """
    reference = water & np.isfinite(scene.band("B08"))
    if not reference.any():
        return np.zeros(scene.shape, dtype=bool)
    vis = np.stack([np.nan_to_num(scene.band(b)) for b in ("B02", "B03", "B04")])
    step_green = vis[1] - float(np.nanmedian(scene.band("B03")[reference]))
    nir = np.nan_to_num(scene.band("B08"))
    step_nir = nir - float(np.nanmedian(scene.band("B08")[reference]))
    white = vis.min(axis=0) >= 0.7 * vis.max(axis=0)
    foam = white & (step_green > S2_FOAM_STEP) & (step_nir < ratio * step_green)
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


# -- Sentinel-2: candidate objects ------------------------------------------------------------


@dataclasses.dataclass
class _Candidates:
    """Objects competing for pixels: flat pixel indices per object, scores and evidence."""

    pixels: list[np.ndarray]
    score: np.ndarray
    kind: np.ndarray  # 0 afloat, 1 berthed
    evidence: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @classmethod
    def empty(cls) -> _Candidates:
        return cls([], np.zeros(0), np.zeros(0, dtype=np.int8), {})

    def extend(self, other: _Candidates) -> None:
        mine, theirs = len(self.score), len(other.score)
        for key in set(self.evidence) | set(other.evidence):
            self.evidence[key] = np.concatenate(
                [
                    self.evidence.get(key, np.full(mine, np.nan)),
                    other.evidence.get(key, np.full(theirs, np.nan)),
                ]
            )
        self.pixels.extend(other.pixels)
        self.score = np.concatenate([self.score, other.score])
        self.kind = np.concatenate([self.kind, other.kind])


def _ndvi(scene: Raster) -> np.ndarray:
    nir, red = scene.band("B08"), scene.band("B04")
    with np.errstate(invalid="ignore", divide="ignore"):
        return (nir - red) / (nir + red)


def _s2_afloat(scene, water, usable, params, pixel_m) -> tuple[_Candidates, np.ndarray]:
    """Hulls afloat: B08 cores grown by hysteresis, kept when solid and ship-sized."""
    cores, significance, nir_bg = _s2_cores(scene, water, usable, params, pixel_m)
    if params.min_width_px > 1:
        # A hull 8-15 m wide is one pixel wide at 10 m: keep lines, drop specks.
        cores = line_opening(cores, length_px=params.min_width_px + 1)
    mask = _grow(cores, significance, (water & usable) | cores, params, params.s2_pfa)
    labels, n = label_objects(mask)
    if n == 0:
        return _Candidates.empty(), significance
    clutter = water & usable & ~ndimage.binary_dilation(mask, iterations=2)
    green = scene.band("B03")
    green_bg, _, _ = masked_ring_stats(
        green,
        clutter,
        outer=odd_window_px(params.s2_background_m, pixel_m, minimum=5),
        inner=odd_window_px(params.s2_guard_m, pixel_m, minimum=3),
        min_count=10,
    )
    objects = _PerLabel.of(labels, n)
    index = np.arange(n + 1)
    step_nir = ndimage.mean(np.nan_to_num(scene.band("B08") - nir_bg), labels, index)
    step_green = ndimage.mean(np.nan_to_num(green - green_bg), labels, index)
    keep = (
        (step_nir >= params.s2_min_contrast)
        & (step_nir >= params.s2_foam_ratio * step_green)
        & (objects.median(np.nan_to_num(_ndvi(scene))) <= params.s2_max_ndvi)
        & _ship_sized(_axis_shape(labels, n, pixel_m), params, params.s2_min_length_m)
    )
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


# -- Sentinel-2: berthed ships as protrusions of the shoreline -------------------------------

#: Line lengths searched, as fractions of ``berth_line_m``. A hull shows at every line
#: longer than itself; the inside of a bend deepens as the square of the line, so
#: short lines keep small ships clear of it.
BERTH_SCALES = (1.0, 0.63, 0.4)
#: A protrusion whose longest run fills this fraction of the line is the inside of a
#: bend or a corner, whose runs grow smoothly up to the line, not a hull, whose runs
#: stop at its own length and jump to the quay's behind it.
BERTH_FILL = 0.85
#: The protrusion search runs in tiles of this many pixels (plus a halo of two lines).
BERTH_TILE_PX = 2048


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


def _shore(bands: np.ndarray, water: np.ndarray, usable: np.ndarray, reference) -> _Shore:
    land = ~water
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (bands[3] - bands[2]) / (bands[3] + bands[2])
    return _Shore(
        land=land,
        usable=usable,
        facing_water=land
        & ndimage.binary_dilation(water, structure=ndimage.generate_binary_structure(2, 1)),
        ndvi=np.nan_to_num(ndvi, nan=1.0),
        step_nir=bands[3] - reference[3],
        step_green=bands[1] - reference[1],
        bands=bands,
    )


def _s2_berthed(scene, water, usable, params, pixel_m) -> _Candidates:
    """Hulls alongside a quay, searched tile by tile (objects kept by their tile core)."""
    found = _Candidates.empty()
    reference_water = water & usable
    if water.all() or not reference_water.any():
        return found
    names = ("B02", "B03", "B04", "B08")
    reference = np.array([np.nanmedian(scene.band(b)[reference_water]) for b in names])
    rows, cols = water.shape
    halo = int(np.ceil(2.0 * params.berth_line_m / pixel_m)) + 4
    for r0 in range(0, rows, BERTH_TILE_PX):
        for c0 in range(0, cols, BERTH_TILE_PX):
            core = (
                slice(r0, min(rows, r0 + BERTH_TILE_PX)),
                slice(c0, min(cols, c0 + BERTH_TILE_PX)),
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
            local = _tile_protrusions(shore, params, pixel_m)
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


def _tile_protrusions(shore: _Shore, params, pixel_m) -> _Candidates:
    found = _Candidates.empty()
    lines = [f * params.berth_line_m for f in BERTH_SCALES]
    lines = [line for line in lines if BERTH_FILL * line >= params.s2_min_length_m]
    for angle in _angles(params.berth_angles):
        reach, border = _runs(shore.land, angle)
        reach *= np.float32(pixel_m)
        run = np.where(border, np.float32(np.inf), reach)
        for line_m in lines:
            found.extend(_protrusions(shore, run, reach, angle, line_m, params, pixel_m))
    return found


def _protrusions(shore: _Shore, run, reach, angle, line_m, params, pixel_m) -> _Candidates:
    """Hull-like protrusions along one direction for one line length.

    ``run`` is the land run through each pixel in metres (inf where it reaches the
    tile border), ``reach`` the same with the part inside the tile (a lower bound).
    """
    bumps = _open(shore.land & shore.usable & (run <= line_m), params.min_width_px)
    labels, n = label_objects(bumps)
    if n == 0:
        return _Candidates.empty()
    shape = _axis_shape(labels, n, pixel_m)
    off_axis = np.abs(np.mod(shape["angle"] - angle + 90.0, 180.0) - 90.0)
    elongation = shape["length_m"] / np.maximum(shape["width_m"], 1e-6)
    keep = (
        (off_axis <= 0.75 * 180.0 / params.berth_angles)
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
    # pier or a mole touches water only at its two ends.
    facing = mine.count(shore.facing_water) * pixel_m
    solid = mine.median(shore.step_nir) >= params.s2_foam_ratio * mine.median(shore.step_green)
    keep &= (
        (own_run <= BERTH_FILL * line_m)
        & (backing >= params.berth_min_backing)
        & (facing >= 0.6 * shape["length_m"])
        & (mine.median(shore.ndvi) <= params.s2_max_ndvi)
        & solid
    )
    keep[0] = False
    if not keep.any():
        return _Candidates.empty()
    mine = mine.subset(keep[labels])
    contrast = _quay_contrast(shore, mine, labels.shape)
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


def _quay_contrast(shore: _Shore, mine: _PerLabel, shape: tuple[int, int]) -> np.ndarray:
    """Largest relative difference, over B02 B03 B04 B08, between a candidate's inner
    pixels (not touching water, so not mixed with it) and the quay 2-4 pixels behind.

    The mixed rim of a quay (the inside of a bend, a corner) has the quay's own
    spectrum once the water-mixed pixels are left out; a hull is another material.
    """
    inner = mine.subset(~shore.facing_water)
    quay = mine.ring(shape, 1, 4).subset(shore.land & ~shore.facing_water)
    ours = np.stack([inner.median(band) for band in shore.bands])
    theirs = np.stack([quay.median(band) for band in shore.bands])
    relative = np.abs(ours - theirs) / np.maximum(theirs, 1e-3)
    return np.max(np.nan_to_num(relative, nan=0.0), axis=0)


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


# -- Sentinel-2: one object per ship ----------------------------------------------------------


def _minor_width_m(pixels: np.ndarray, cols: int, pixel_m: float) -> float:
    rows_, cols_ = np.divmod(pixels, cols)
    if pixels.size < 3:
        return pixel_m
    cov = np.cov(np.vstack([rows_, cols_]).astype(float)) + np.eye(2) / 12.0
    return float(np.sqrt(12.0 * max(float(np.linalg.eigvalsh(cov)[0]), 0.0))) * pixel_m


def _suppress(candidates: _Candidates, shape, *, pixel_m: float, max_width_m: float, overlap=0.3):
    """Greedy non-maximum suppression, best score first.

    A candidate whose pixels are more than ``overlap`` taken is dropped. A fragment that
    touches exactly one chosen object is absorbed into it when the union is no wider
    than ``max_width_m`` (one ship found in pieces by different directions or lines).

    Returns
    -------
    objects : list of ndarray
        Flat pixel indices of each chosen object.
    source : ndarray of int
        The candidate each object was chosen as.
    """
    rows, cols = shape
    owner = np.zeros(rows * cols, dtype=np.int32)
    objects: list[np.ndarray] = []
    source: list[int] = []
    offsets = np.array([-cols - 1, -cols, -cols + 1, -1, 1, cols - 1, cols, cols + 1])
    for i in np.argsort(-candidates.score, kind="stable"):
        pixels = candidates.pixels[i]
        taken = owner[pixels]
        if (taken > 0).mean() > overlap:
            continue
        pixels = pixels[taken == 0]
        around = (pixels[:, None] + offsets[None, :]).ravel()
        touching = np.unique(owner[around[(around >= 0) & (around < owner.size)]])
        touching = touching[touching > 0]
        if touching.size == 1:
            merged = np.concatenate([objects[touching[0] - 1], pixels])
            if _minor_width_m(merged, cols, pixel_m) <= max_width_m:
                objects[touching[0] - 1] = merged
                owner[pixels] = touching[0]
                continue
        objects.append(pixels)
        source.append(int(i))
        owner[pixels] = len(objects)
    return objects, np.array(source, dtype=int)


def _s2_frame(scene: Raster, water: np.ndarray, params: VesselParams) -> gpd.GeoDataFrame:
    pixel_m = _pixel_m(scene)
    clouds = s2_clouds(scene, water=water, pixel_m=pixel_m)
    usable = scene.valid_mask() & ~clouds
    candidates, significance = _s2_afloat(scene, water, usable, params, pixel_m)
    if params.berths:
        candidates.extend(_s2_berthed(scene, water, usable, params, pixel_m))
    surf = s2_surf(
        scene, water, ratio=params.s2_foam_ratio, buffer_m=params.s2_surf_buffer_m, pixel_m=pixel_m
    ).ravel()
    # An object cut by the cloud mask is not a whole ship (a cloud fragment, or a ship
    # half hidden); an object in the surf is foam.
    cut = (ndimage.binary_dilation(clouds, iterations=2) & ~clouds).ravel()
    if candidates.pixels and (surf.any() or cut.any()):
        dropped = np.array(
            [surf[p].mean() > 0.3 or cut[p].any() for p in candidates.pixels], dtype=bool
        )
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


def vessel_candidates(
    scene: Raster, water: np.ndarray, *, params: VesselParams | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel vessel detection on one prepared scene, before any object decision.

    Returns
    -------
    detected : ndarray of bool
    significance : ndarray of float32
        -log10 false alarm probability of each pixel against water clutter.
    searched : ndarray of bool
        The pixels tested (S1: water plus the shore band; S2: usable water).
    """
    params = params or VesselParams()
    pixel_m = _pixel_m(scene)
    if scene.sensor == "s1":
        return _s1_candidates(scene, water, params, pixel_m)[:3]
    if scene.sensor == "s2":
        usable = scene.valid_mask() & ~s2_clouds(scene, water=water, pixel_m=pixel_m)
        detected, significance, _ = _s2_cores(scene, water, usable, params, pixel_m)
        return detected, significance, water & usable
    raise InputError(
        f"vessel detection needs a prepared s1 or s2 scene, got sensor {scene.sensor!r}"
    )


def _size_filter(frame: gpd.GeoDataFrame, params: VesselParams, min_length_m: float):
    if frame.empty:
        return frame
    keep = (
        (frame["length_m"] >= min_length_m)
        & (frame["length_m"] <= params.max_length_m)
        & (frame["width_m"] <= params.max_width_m)
        & (frame["width_m"] >= params.min_width_m)
        & (frame["area_m2"] >= params.min_area_m2)
    )
    return frame.loc[keep].reset_index(drop=True)


def detect_vessels(
    scene: Raster,
    *,
    water: np.ndarray | None = None,
    aoi=None,
    params: VesselParams | None = None,
) -> gpd.GeoDataFrame:
    """Every vessel in one prepared scene.

    Parameters
    ----------
    scene : Raster
        Prepared by ``imagery.sensors.prepare_s1`` / ``prepare_s2``.
    water : ndarray of bool, optional
        Water mask on the scene grid, (row, col); computed with
        :func:`imagery.water.water_mask` (and the AOI's water polygon) when not given.
        A pair pipeline passes the union of both dates' water, under which a ship of
        one date is afloat.
    aoi : imagery.aoi.AOI, optional
    params : VesselParams, optional

    Returns
    -------
    geopandas.GeoDataFrame
        One polygon per vessel in the scene's CRS, with ``id``, ``score``,
        ``length_m``, ``width_m``, ``heading_deg``, ``lon``, ``lat``, ``time``,
        ``area_m2``, ``x``, ``y`` and the peak significance ``sig_max``; S2 adds
        ``kind`` ("afloat" or "berthed") and the evidence behind the score.
    """
    params = params or VesselParams()
    if scene.sensor not in ("s1", "s2"):
        raise InputError(
            f"vessel detection needs a prepared s1 or s2 scene, got sensor {scene.sensor!r}"
        )
    if water is None:
        water = water_mask(scene, aoi=aoi)
    water = np.asarray(water, dtype=bool)
    if water.shape != scene.shape:
        raise InputError(
            f"water mask of shape {water.shape} does not match the scene's {scene.shape}"
        )
    if scene.sensor == "s1":
        frame = _s1_frame(scene, water, params)
    else:
        frame = _s2_frame(scene, water, params)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["time"] = scene.time.isoformat() if scene.time else None
    log.info("%d vessels in scene (%s)", len(frame), scene.sensor)
    return frame
