"""Vessel detection on one prepared scene: the entry points, dispatching on the sensor."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np

from imagery.clouds import s2_clouds
from imagery.errors import InputError
from imagery.layover import correct_layover
from imagery.objects import draw_hulls
from imagery.raster import Raster
from imagery.vessels.common import _pixel_m
from imagery.vessels.params import VesselParams
from imagery.vessels.s1 import _s1_candidates, _s1_frame
from imagery.vessels.s2 import _s2_cores, _s2_frame, s2_without_puffs
from imagery.vessels.shore import ShoreGeometry
from imagery.water import water_mask

log = logging.getLogger(__name__)


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
        usable = scene.valid_mask() & ~s2_clouds(scene, water=water, pixel_m=pixel_m, opaque=True)
        detected, significance, _ = _s2_cores(scene, water, usable, params, pixel_m)
        return detected, significance, water & usable
    raise InputError(
        f"vessel detection needs a prepared s1 or s2 scene, got sensor {scene.sensor!r}"
    )


def detect_vessels(
    scene: Raster,
    *,
    water: np.ndarray | None = None,
    aoi=None,
    params: VesselParams | None = None,
    origin: tuple[int, int] = (0, 0),
) -> gpd.GeoDataFrame:
    """Every vessel in one prepared scene.

    S1: CFAR on sea clutter (Crisp 2004), with ESA SNAP's Ocean Object Detection
    windows and false alarm probability (``imagery.cfar``); S2: a contrast test of B08
    against the water around it, and berthed ships as shoreline protrusions
    (``imagery.vessels``).

    Parameters
    ----------
    scene : Raster
        Prepared by ``imagery.sensors.prepare_s1`` / ``prepare_s2``.
    water : ndarray of bool, optional
        Water mask on the scene grid, (row, col); computed with
        :func:`imagery.water.water_mask` (and the AOI's water polygon) when not given.
        A pair pipeline passes the water of both dates
        (:func:`imagery.water.series_water`), under which a ship of one date is afloat.
    aoi : imagery.aoi.AOI, optional
    params : VesselParams, optional
    origin : (int, int), default (0, 0)
        The scene's first row and column in a larger raster it is a window of
        (:mod:`imagery.tiled`): the shoreline's digital lines and the berth search's
        tiles are laid on that raster's grid, as a run on the whole would lay them.

    Returns
    -------
    geopandas.GeoDataFrame
        One polygon per vessel in the scene's CRS, with ``id``, ``score``,
        ``length_m``, ``width_m``, ``heading_deg``, ``lon``, ``lat``, ``time``,
        ``area_m2``, ``x``, ``y`` and the peak significance ``sig_max``; S2 adds
        ``kind`` ("afloat" or "berthed") and the evidence behind the score. S1 ships
        are moved from where their echoes lie back over their hulls
        (``params.s1_layover_height_m``) when the scene records its look direction.
    """
    if water is None:
        _check_sensor(scene)
        water = water_mask(scene, aoi=aoi)
    water = np.asarray(water, dtype=bool)
    params = params or VesselParams()
    frame = _detect(scene, water, params, ShoreGeometry(water, origin))
    if scene.sensor == "s2":
        frame = s2_without_puffs(frame, scene, water)
    if scene.sensor == "s1":
        # Where the ships stand, not where their echoes lie (the pair pipeline keeps
        # the echoes' outlines, :func:`detect_vessels_each`, as masks on the image).
        frame = correct_layover(frame, scene, params.s1_layover_height_m)
    return draw_hulls(frame, scene)


def detect_vessels_each(
    scenes: list[Raster],
    *,
    water: np.ndarray,
    params: VesselParams | None = None,
    origin: tuple[int, int] = (0, 0),
) -> list[gpd.GeoDataFrame]:
    """:func:`detect_vessels` on each of ``scenes``, all searched on one ``water`` mask
    (a pair's or a series', :func:`imagery.water.series_water`).

    The candidates one call per scene finds before its last steps (S2 puffs, S1
    layover, the hull drawn): each keeps the pixel outline of its echoes, which a pair
    compares as masks on the image. The shoreline geometry of the water (the shore band,
    the protrusions that may be berthed ships) is worked out once.
    ``origin`` as for :func:`detect_vessels`.
    """
    water = np.asarray(water, dtype=bool)
    geometry = ShoreGeometry(water, origin)
    params = params or VesselParams()
    return [_detect(scene, water, params, geometry) for scene in scenes]


def _check_sensor(scene: Raster) -> None:
    if scene.sensor not in ("s1", "s2"):
        raise InputError(
            f"vessel detection needs a prepared s1 or s2 scene, got sensor {scene.sensor!r}"
        )


def _detect(
    scene: Raster, water: np.ndarray, params: VesselParams, geometry: ShoreGeometry
) -> gpd.GeoDataFrame:
    _check_sensor(scene)
    if water.shape != scene.shape:
        raise InputError(
            f"water mask of shape {water.shape} does not match the scene's {scene.shape}"
        )
    if scene.sensor == "s1":
        frame = _s1_frame(scene, water, params, geometry)
    else:
        frame = _s2_frame(scene, water, params, geometry.origin)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["time"] = scene.time.isoformat() if scene.time else None
    log.info("%d vessels in scene (%s)", len(frame), scene.sensor)
    return frame
