"""Vessels in one scene: bright (S1) or contrasting (S2) compact objects on water.

Sentinel-1
    A CFAR detector (``imagery.cfar``; K-distributed sea clutter by default, SNAP's
    windows and PFA) runs on VV and, when present, VH; a pixel is a target when either
    polarisation says so. The search area is the water mask plus a band of land along
    the shore, so that a ship berthed against a quay is not lost in the land mask; in
    that band a pixel must also stand out against the surrounding land (a second CFAR
    with land as clutter), which keeps bright quay edges and cranes out.
Sentinel-2
    Ships contrast with water in every band and most of all in the near infrared, where
    water is nearly black. A two-parameter CFAR runs on B08 and on the visible
    brightness (B02+B03+B04) against the water around each pixel. Clouds (SCL) and
    very bright, very small specks (whitecaps, glint) are rejected; in the shore band a
    pixel must also differ from the adjacent land.

Detected pixels grow by hysteresis into the object's full footprint (ship edges are
weaker than their peaks), are labelled, measured in ground metres and filtered by size
and shape. The score is the probability that the object is not a clutter false alarm:
``1 / (1 + N p)``, with ``p`` the object's peak false alarm probability and ``N`` the
number of pixels searched (a Bonferroni-style correction for testing every pixel).

References
----------
Crisp, D. J. (2004). The state-of-the-art in ship detection in synthetic aperture radar
imagery. DSTO-RR-0272.

Heiselberg, H. (2016). A direct and fast methodology for ship recognition in Sentinel-2
multispectral imagery. Remote Sensing, 8(12), 1033. https://doi.org/10.3390/rs8121033
"""

from __future__ import annotations

import dataclasses
import logging

import geopandas as gpd
import numpy as np
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold

from imagery.cfar import SNAP_BACKGROUND_M, SNAP_GUARD_M, SNAP_PFA, cfar_detect
from imagery.errors import InputError
from imagery.grid import ground_pixel_size
from imagery.objects import label_objects, measure_objects
from imagery.raster import Raster
from imagery.sensors import cloud_mask
from imagery.water import ndwi, water_mask

__all__ = ["VesselParams", "detect_vessels", "vessel_candidates"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VesselParams:
    """Parameters of single-scene vessel detection; defaults suit S1 IW GRD and S2 L2A at 10 m.

    Attributes
    ----------
    pfa : float
        Per-pixel false alarm probability of the CFAR test (SNAP: 10^-6.5).
    guard_m, background_m : float
        CFAR guard and background window sides, metres (SNAP: 500 and 800).
    model : str
        S1 clutter model: "k" (default), "gamma" or "gaussian" (SNAP's two-parameter).
    looks : float
        Equivalent number of looks of S1 IW GRD (about 4.4).
    s2_pfa : float
        Per-pixel false alarm probability of the S2 contrast test.
    shore_m : float
        Width of the band of land along the water searched for berthed ships, metres.
    land_window_m : float
        Background window of the land test in the shore band, metres.
    land_pfa : float
        False alarm probability against land clutter in the shore band.
    min_length_m, max_length_m, max_width_m, min_area_m2 : float
        Size filters on the ground.
    hysteresis : float
        Pixels joined to an object need this fraction of the detection significance.
    """

    pfa: float = SNAP_PFA
    guard_m: float = SNAP_GUARD_M
    background_m: float = SNAP_BACKGROUND_M
    model: str = "k"
    looks: float = 4.4
    s2_pfa: float = 1e-7
    shore_m: float = 40.0
    land_window_m: float = 150.0
    land_pfa: float = 1e-3
    min_length_m: float = 25.0
    max_length_m: float = 500.0
    max_width_m: float = 90.0
    min_area_m2: float = 250.0
    hysteresis: float = 0.5
    berths: bool = True
    berth_line_m: float = 400.0
    berth_max_width_m: float = 60.0
    berth_min_elongation: float = 2.5
    s2_max_ndwi: float = 0.0
    min_width_px: int = 2
    grow_px: int = 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
    return detected, significance, water | shore


def _s2_candidates(scene: Raster, water: np.ndarray, params: VesselParams, pixel_m: float):
    clouds = ndimage.binary_dilation(cloud_mask(scene), iterations=2)
    shore = _shore_band(water, round(params.shore_m / pixel_m))
    valid = scene.valid_mask() & ~clouds
    land = ~water & valid
    nir = scene.band("B08")
    visible = scene.band("B02") + scene.band("B03") + scene.band("B04")
    detected = np.zeros(scene.shape, dtype=bool)
    significance = np.zeros(scene.shape, dtype=np.float32)
    for band in (nir, visible):
        sea = cfar_detect(
            band,
            (water | shore) & valid,
            water & valid,
            pixel_m=pixel_m,
            pfa=params.s2_pfa,
            guard_m=params.guard_m / 4.0,
            background_m=params.background_m / 4.0,
            model="gaussian",
        )
        hits = sea.detected
        if shore.any():
            against_land = cfar_detect(
                band,
                shore & valid,
                land,
                pixel_m=pixel_m,
                pfa=params.land_pfa,
                guard_m=params.land_window_m / 3.0,
                background_m=params.land_window_m,
                model="gaussian",
                passes=1,
            )
            hits = hits & (water | against_land.detected)
        detected |= hits
        significance = np.maximum(significance, sea.significance)
    # A ship is a solid object: its core pixels reflect the near infrared at least as
    # much as green, unlike turbid plumes, glint or foam, which stay water-like.
    solid = ndwi(scene.band("B03"), nir) < params.s2_max_ndwi
    return detected & solid, significance, (water | shore) & valid


def _line_footprint(length_px: int, angle_deg: float) -> np.ndarray:
    from skimage.draw import line

    r = length_px // 2
    dx = r * np.cos(np.radians(angle_deg))
    dy = r * np.sin(np.radians(angle_deg))
    footprint = np.zeros((2 * r + 1, 2 * r + 1), dtype=bool)
    rr, cc = line(round(r - dy), round(r - dx), round(r + dy), round(r + dx))
    footprint[rr, cc] = True
    return footprint


def shore_protrusions(water: np.ndarray, *, length_px: int, angles: int = 12) -> np.ndarray:
    """Land that juts into water: filled by a closing of the water with a line.

    A ship berthed along a quay is a short, thin bump on the shoreline with water at
    both ends; closing the water mask with a line longer than the ship, in the ship's
    direction, fills it. The union over ``angles`` directions of these closings, minus
    the water, holds berthed ships, but also short piers and the inside of sharp
    corners, which the caller separates by shape.
    """
    filled = np.zeros_like(water)
    if not water.any():
        return filled
    pad = length_px // 2 + 1
    padded = np.pad(water, pad, mode="edge")
    for angle in np.arange(0.0, 180.0, 180.0 / angles):
        filled |= ndimage.binary_closing(padded, structure=_line_footprint(length_px, angle))[
            pad:-pad, pad:-pad
        ]
    return filled & ~water


def vessel_candidates(
    scene: Raster, water: np.ndarray, *, params: VesselParams | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel vessel detection on one prepared scene.

    Returns
    -------
    detected : ndarray of bool
    significance : ndarray of float32
        -log10 false alarm probability of each pixel against water clutter.
    searched : ndarray of bool
        The pixels tested (water plus the shore band).
    """
    params = params or VesselParams()
    pixel_m = float(np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)))
    if scene.sensor == "s1":
        return _s1_candidates(scene, water, params, pixel_m)
    if scene.sensor == "s2":
        return _s2_candidates(scene, water, params, pixel_m)
    raise InputError(
        f"vessel detection needs a prepared s1 or s2 scene, got sensor {scene.sensor!r}"
    )


def _grow(
    core: np.ndarray,
    significance: np.ndarray,
    allowed: np.ndarray,
    params: VesselParams,
    pfa: float,
) -> np.ndarray:
    """Grow detection cores into their objects' footprints by hysteresis.

    Ship edges are weaker than their peaks; pixels within ``grow_px`` of a core, allowed
    (water-side, and not plain water for S2) and at least ``hysteresis`` times as
    significant as the detection threshold join the core's object.
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


def objects_from_mask(
    mask: np.ndarray, significance: np.ndarray, scene: Raster, *, n_tests: float
) -> gpd.GeoDataFrame:
    """Label and measure an object mask, scoring each object by its peak significance."""
    labels, n = label_objects(mask)
    frame = measure_objects(
        labels, n, transform=scene.transform, crs=scene.crs, values={"sig": significance}
    )
    if n:
        peak = frame["sig_max"].to_numpy()
        frame["score"] = 1.0 / (1.0 + n_tests * np.power(10.0, -np.minimum(peak, 300.0)))
    else:
        frame["score"] = []
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=scene.crs)


def _berthed(
    scene: Raster, water: np.ndarray, significance: np.ndarray, params: VesselParams, pfa: float
) -> np.ndarray:
    """Mask of berthed-ship candidates: thin, elongated shoreline protrusions that stand
    out from water (S1: significant backscatter; S2: a solid, non-water spectrum)."""
    pixel_m = float(np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)))
    bumps = shore_protrusions(water, length_px=max(3, round(params.berth_line_m / pixel_m)))
    bumps &= scene.valid_mask()
    if scene.sensor == "s2":
        bumps &= ndwi(scene.band("B03"), scene.band("B08")) < params.s2_max_ndwi
        bumps &= ~ndimage.binary_dilation(cloud_mask(scene), iterations=2)
    else:
        bumps &= significance >= -np.log10(pfa)
    square = np.ones((params.min_width_px, params.min_width_px), dtype=bool)
    bumps = ndimage.binary_opening(bumps, structure=square)
    labels, n = label_objects(bumps)
    if n == 0:
        return bumps
    shape = measure_objects(labels, n, transform=scene.transform, crs=scene.crs)
    elongation = shape["length_m"] / np.maximum(shape["width_m"], 1e-6)
    keep = (
        (shape["width_m"] <= params.berth_max_width_m)
        & (elongation >= params.berth_min_elongation)
        & (shape["length_m"] >= params.min_length_m)
        & (shape["length_m"] <= params.max_length_m)
    ).to_numpy()
    lookup = np.concatenate([[False], keep])
    return lookup[labels]


def _size_filter(frame: gpd.GeoDataFrame, params: VesselParams) -> gpd.GeoDataFrame:
    if frame.empty:
        return frame
    keep = (
        (frame["length_m"] >= params.min_length_m)
        & (frame["length_m"] <= params.max_length_m)
        & (frame["width_m"] <= params.max_width_m)
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
        Water mask on the scene grid; computed with :func:`imagery.water.water_mask`
        (and the AOI's water polygon) when not given.
    aoi : imagery.aoi.AOI, optional
    params : VesselParams, optional

    Returns
    -------
    geopandas.GeoDataFrame
        One polygon per vessel in the scene's CRS, with ``id``, ``score``,
        ``length_m``, ``width_m``, ``heading_deg``, ``lon``, ``lat``, ``time``,
        ``area_m2`` and the peak significance ``sig_max``.
    """
    params = params or VesselParams()
    if water is None:
        water = water_mask(scene, aoi=aoi)
    detected, significance, searched = vessel_candidates(scene, water, params=params)
    if params.min_width_px > 1:
        square = np.ones((params.min_width_px, params.min_width_px), dtype=bool)
        detected = ndimage.binary_opening(detected, structure=square)
    pfa = params.pfa if scene.sensor == "s1" else params.s2_pfa
    allowed = water.copy()
    if scene.sensor == "s2":
        allowed &= ndwi(scene.band("B03"), scene.band("B08")) < params.s2_max_ndwi + 0.2
    mask = _grow(detected, significance, allowed | detected, params, pfa)
    if params.berths:
        mask |= _berthed(scene, water, significance, params, pfa)
    frame = objects_from_mask(mask, significance, scene, n_tests=max(1.0, float(searched.sum())))
    frame = _size_filter(frame, params)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["time"] = scene.time.isoformat() if scene.time else None
    log.info("%d vessels in scene (%s)", len(frame), scene.sensor)
    return frame
