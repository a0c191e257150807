"""What is new between two passes: the detection pipeline for one pair of scenes.

1. Prepare both scenes (band order, units, NaN for invalid; ``imagery.sensors``); a
   scene whose map unit is not a ground metre (EPSG:4326, Web Mercator) is warped
   onto its UTM zone first (``imagery.reproject``).
2. Co-register the after scene onto the before grid (``imagery.coregister``); a pair
   that cannot be co-registered is refused, not flagged.
3. Water: the AOI's water polygon, else the water of either date, so a berth that is
   empty on either date counts as water (S1: only where the other date is brighter
   by ``water_stable_db``, since pavement as dark as a windy sea is stable;
   :func:`imagery.water.series_water`).
4. Vessels in each scene (``imagery.vessels``). A vessel of the after scene with no
   vessel near it in the before scene, whose footprint also brightened significantly
   between the dates, is a new ``vessel``; the reverse is ``departed``. S2 judges that
   per pixel (a 10-20 m hull is one or two pixels across;
   :func:`imagery.flags.evidence.pixel_step`), less what a residual misregistration of
   the edges explains. Persistent bright structures are in both scenes and so never new.
   Ships that moored against a quay, which merge with it in a single scene (S1 at 20 m
   resolution; S2 where a grey deck meets a grey quay), are also found from the change
   they brought: a ship-shaped strip along the shore, brighter (darker when they left;
   :func:`imagery.flags.berths.berth_changes`).
5. Cargo: on land (not water of the pair), pixels whose change test is significant
   (``imagery.change``), grown by hysteresis, away from vessels, and of stack scale
   (``cargo_min_area_m2`` to ``cargo_max_area_m2``, at most ``cargo_max_length_m``
   long: nothing larger is ever cargo).

Everything returned is on the (prepared) before scene's grid and CRS.

References
----------
Canny, J. (1986). A computational approach to edge detection. IEEE TPAMI, 8(6), 679-698.
https://doi.org/10.1109/TPAMI.1986.4767851

Dai, X., & Khorram, S. (1998). The effects of image misregistration on the accuracy of
remotely sensed change detection. IEEE TGRS, 36(5), 1566-1577.
https://doi.org/10.1109/36.718860
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage

from imagery.calibration import calibrate
from imagery.change import match_through_veil, s1_change, s2_change
from imagery.clouds import cloud_reach
from imagery.errors import CoregistrationError, NoOverlapError
from imagery.filters import odd_window_px
from imagery.flags.berths import berth_changes
from imagery.flags.cargo import cargo_flags, cargo_land
from imagery.flags.evidence import pixel_step, shore_distance_m
from imagery.flags.masks import _cloud_buffer_px, berth_water, cirrus_veil, pair_masks
from imagery.flags.params import DetectParams
from imagery.flags.vessels import (
    evidence_hulls,
    one_flag_per_ship,
    pair_surf,
    s2_not_ships,
    unlaid,
    vessel_flags,
)
from imagery.layover import other_look
from imagery.objects import draw_hulls
from imagery.raster import Raster
from imagery.registration.apply import apply_georeferencing
from imagery.registration.model import Georeferenced
from imagery.schema import DETECTION_FIELDS
from imagery.sensors import S2_OPTIONAL_BANDS, keep_shared, prepare, refuse_empty
from imagery.vessels import detect_vessels_each
from imagery.water import WaterSplit, series_water, water_mask

__all__ = [
    "DetectParams",
    "PairResult",
    "cargo_flags",
    "detect_pair",
    "empty_detections",
    "evidence_hulls",
    "one_flag_per_ship",
    "to_schema",
    "vessel_flags",
]


log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PairResult:
    """Everything a pair run produced, on the before grid."""

    before: Raster
    after: Raster
    change: Raster
    water: np.ndarray
    vessels_before: gpd.GeoDataFrame
    vessels_after: gpd.GeoDataFrame
    detections: gpd.GeoDataFrame
    departed: gpd.GeoDataFrame
    registration: Any
    parameters: dict[str, Any]


def empty_detections(crs) -> gpd.GeoDataFrame:
    """A detections layer with the schema's columns and no rows."""
    frame = pd.DataFrame({name: pd.Series(dtype=_dtype(name)) for name in DETECTION_FIELDS})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _dtype(name: str) -> str:
    if name == "id":
        return "int64"
    if name in ("kind", "status", "before_time", "after_time"):
        return "object"
    return "float64"


def _check_overlap(before: Raster, after: Raster, names: tuple[str, str]) -> None:
    from rasterio.warp import transform_bounds

    left, bottom, right, top = transform_bounds(after.crs, before.crs, *after.bounds)
    b_left, b_bottom, b_right, b_top = before.bounds
    width = min(right, b_right) - max(left, b_left)
    height = min(top, b_top) - max(bottom, b_bottom)
    if width <= 0 or height <= 0:
        raise NoOverlapError(
            f"{names[1]}: does not overlap {names[0]} (no common ground between the pair)"
        )


def to_schema(
    frames: list[gpd.GeoDataFrame],
    crs,
    before: Raster,
    after: Raster,
    status: str,
    *,
    min_score: float = 0.0,
) -> gpd.GeoDataFrame:
    """Flags in the layer schema (``imagery.schema``), with calibrated scores.

    ``evidence`` keeps the statistical score (probability that the change is not noise);
    ``score`` is the calibrated probability that the flag is right
    (``imagery.calibration``), on the sizes the flag was found at; a flag that also
    carries its hull's (``hull_length_m``, ``hull_width_m``: an S1 berth change, blur
    taken off) then reports those. Flags scoring below ``min_score`` are dropped.
    Vessels are drawn as the hulls they measure (:func:`imagery.objects.draw_hulls`).
    """
    parts = [f for f in frames if not f.empty]
    if not parts:
        return empty_detections(crs)
    frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    frame["evidence"] = frame["score"].clip(0.0, 1.0)
    frame["score"] = calibrate(frame, before.sensor)
    for name in ("length_m", "width_m"):
        hull = f"hull_{name}"
        if hull in frame.columns:
            frame[name] = frame[hull].where(frame[hull].notna(), frame[name])
    frame = frame.loc[frame["score"] >= min_score]
    if frame.empty:
        return empty_detections(crs)
    frame = frame.sort_values(["kind", "score"], ascending=[False, False]).reset_index(drop=True)
    frame = draw_hulls(frame, before, rows=(frame["kind"] == "vessel").to_numpy())
    frame["id"] = np.arange(1, len(frame) + 1)
    frame["before_time"] = before.time.isoformat() if before.time else None
    frame["after_time"] = after.time.isoformat() if after.time else None
    frame["status"] = status
    extra = [c for c in ("heading_deg", "evidence", "z_mean") if c in frame.columns]
    return frame[[*DETECTION_FIELDS, *extra, "geometry"]]


def detect_pair(
    before: Raster,
    after: Raster,
    *,
    sensor: str,
    aoi=None,
    params: DetectParams | None = None,
    names: tuple[str, str] = ("before", "after"),
) -> PairResult:
    """Flag new vessels and cargo between two scenes, and vessels that departed.

    Parameters
    ----------
    before, after : Raster
        Scenes as read from files (``imagery.io.read_raster``); they are prepared for
        ``sensor`` here. ``after`` may be on another grid or CRS.
    sensor : {"s1", "s2"}
    aoi : imagery.aoi.AOI, optional
        Supplies a water polygon when it has one.
    params : DetectParams, optional
    names : (str, str)
        How to name the scenes in errors (their file paths).

    Returns
    -------
    PairResult

    Raises
    ------
    NoOverlapError
        The scenes share no ground.
    CoregistrationError
        The pair cannot be co-registered reliably (nothing is flagged).
    """
    params = params or DetectParams()
    before = prepare(before, sensor, source=names[0])
    after = prepare(after, sensor, source=names[1])
    for scene, name in zip((before, after), names, strict=True):
        refuse_empty(scene, name)
    _check_overlap(before, after, names)
    if sensor == "s1":
        other_look([before.look_azimuth_deg, after.look_azimuth_deg], names)
    # Water moves and speckles: it must not vote on the shift. (Enclosed water is judged
    # on the pair's water, in detect_aligned.)
    water_before = water_mask(before, aoi=aoi, enclosed=False)
    water_after = water_mask(after, aoi=aoi, enclosed=False)
    aligned, registration = align(before, after, water_before, water_after, params, names)
    return detect_aligned(
        before,
        aligned,
        aoi=aoi,
        params=params,
        registration=registration,
        water_before=water_before,
    )


def align(
    reference: Raster,
    moving: Raster,
    water_reference: np.ndarray,
    water_moving: np.ndarray,
    params: DetectParams,
    names: tuple[str, str] = ("before", "after"),
):
    """``moving`` co-registered onto ``reference``'s grid, and how.

    Each window side of ``params.coreg_window_px`` is tried in turn
    (:func:`imagery.coregister.coregister`, water kept out of the measurement). When
    every one found too few windows, the scenes are Sentinel-1 and water covers
    ``params.open_water_share`` of both scenes' VV pixels, ``moving`` is resampled onto
    the grid as georeferenced (:func:`~imagery.registration.apply.apply_georeferencing`)
    and the registration is a :class:`~imagery.registration.model.Georeferenced`, with
    a warning.

    Returns
    -------
    (Raster, Registration or Georeferenced)

    Raises
    ------
    CoregistrationError
        Named after both scenes, when neither applies.
    """
    from imagery.coregister import coregister

    if not params.coreg_window_px:
        raise ValueError("DetectParams.coreg_window_px names no window side")
    refusals: list[CoregistrationError] = []
    for attempt, window_px in enumerate(params.coreg_window_px):
        try:
            return coregister(
                reference,
                moving,
                window_px=window_px,
                max_shift_px=params.max_shift_px,
                exclude_reference=water_reference,
                exclude_moving=water_moving,
            )
        except CoregistrationError as exc:
            refusals.append(exc)
            if exc.reason in ("windows", "correlation") and attempt + 1 < len(
                params.coreg_window_px
            ):
                continue
            break
    # Only where no window side found anything to measure: a refusal for a shift too
    # large or for windows that disagree says there was land, and it did not fit. The
    # refusal named is the one that ruled the fallback out, if any did.
    refused = next((r for r in refusals if r.reason != "windows"), refusals[-1])
    shares = []
    allowed = params.open_water_share is not None and reference.sensor == "s1"
    if refused.reason == "windows" and allowed:
        shares = [_water_share(water_reference, reference), _water_share(water_moving, moving)]
    if not shares or min(shares) < params.open_water_share:
        raise CoregistrationError(
            f"{names[1]} onto {names[0]}: {refused}", reason=refused.reason
        ) from refused
    log.warning(
        "%s onto %s: %.0f %% of the scene is water, with no land to register on; compared as "
        "georeferenced (%s)",
        names[1],
        names[0],
        100 * shares[0],
        refused,
    )
    record = Georeferenced("open water: nothing to register on", shares[0], str(refused))
    return apply_georeferencing(moving, reference), record


def _water_share(water: np.ndarray, scene: Raster) -> float:
    """Share of the pixels where Sentinel-1 ``scene`` has VV that ``water`` covers, 0-1."""
    valid = np.isfinite(scene.band("VV"))
    return float(water[valid].mean()) if valid.any() else 0.0


def detect_aligned(
    before: Raster,
    aligned: Raster,
    *,
    aoi=None,
    params: DetectParams | None = None,
    registration=None,
    water_before: np.ndarray | None = None,
    water_splits: tuple[WaterSplit, WaterSplit] | None = None,
    origin: tuple[int, int] = (0, 0),
) -> PairResult:
    """Steps 3-5 of :func:`detect_pair` on two prepared scenes already on one grid.

    This is the unit of work of tiled processing (``imagery.tiled``), which aligns each
    window of the after scene itself, and hands over ``water_splits``: the water/land
    thresholds of the whole before and after files (:func:`imagery.water.water_split_file`),
    so that a window mostly of land or of sea is split as its tile is, and the window's
    ``origin`` (first row and column in the tile: the shoreline's digital lines are laid
    on the tile's grid, :func:`imagery.vessels.detect_vessels`). ``water_before``,
    when the caller has it, saves computing the before scene's water mask again
    (:func:`imagery.water.water_mask` with ``enclosed=False``: the pair's water judges
    enclosed water).
    """
    params = params or DetectParams()
    sensor = before.sensor
    if sensor == "s2":
        before, aligned = keep_shared([before, aligned], S2_OPTIONAL_BANDS)
    if aoi is not None and getattr(aoi, "water", None) is not None:
        water_before = water_after = water = water_mask(before, aoi=aoi)
    else:
        split_before, split_after = water_splits or (None, None)
        if water_before is None:
            water_before = water_mask(before, enclosed=False, split=split_before)
        water_after = water_mask(aligned, enclosed=False, split=split_after)
        water = series_water(
            [before, aligned],
            [water_before, water_after],
            stable_db=params.water_stable_db,
            splits=[split_before, split_after],
        )
    masks = pair_masks(before, aligned, water, params)
    usable, seen = masks.usable, masks.seen
    # The ground's change (cargo) is also judged through thin cirrus on either date,
    # the after date matched onto the before there: ``relit`` and ``judged``.
    relit, judged, strata = aligned, usable, water
    if sensor == "s2":
        veil = cirrus_veil(before, aligned, seen & ~usable & ~water, params)
        if veil.any():
            relit, matched = match_through_veil(
                aligned,
                before,
                veil,
                window_px=odd_window_px(params.cirrus_match_m, before.pixel_m, minimum=3),
            )
            # Off the veil's rim, where a window takes in ground it cannot match.
            buffer_px = _cloud_buffer_px(params, before.pixel_m)
            matched = ndimage.binary_erosion(matched, iterations=buffer_px)
            judged = usable | matched
            strata = water.astype(np.int8) + 2 * (matched & ~usable).astype(np.int8)
    vessels_before, vessels_after = detect_vessels_each(
        [before, aligned], water=water, params=params.vessel, origin=origin
    )
    if sensor == "s1":
        change = s1_change(before, aligned, window_px=params.change_window_px, stable=~water)
    else:
        change = s2_change(
            before,
            relit,
            window_px=params.change_window_px,
            strata=strata,
            usable=judged,
            extent=seen,
        )
    pixel_m = before.pixel_m
    berths = berth_water(water, params, pixel_m)
    pixel = pixel_step(before, aligned, water, usable, change, params, origin=origin)
    flags = {"other_water": berths, "water": water, "pixel": pixel}
    hulls_before, hulls_after = (
        evidence_hulls(v, sensor, params, pixel_m) for v in (vessels_before, vessels_after)
    )
    new_vessels = vessel_flags(
        vessels_after,
        hulls_before,
        change,
        before,
        params,
        sign=+1.0,
        scene=aligned,
        usable=masks.arrivals,
        **flags,
    )
    distance = shore_distance_m(water, pixel_m)
    # S2's berth search runs on the water: its distance is to the land.
    berth_distance = distance if sensor == "s1" else shore_distance_m(~water, pixel_m)
    moored = berth_changes(
        change,
        before,
        water,
        masks.berth_arrivals,
        hulls_before,
        None,
        params,
        distance=berth_distance,
        scenes=(before, aligned),
        pixel=pixel,
    )
    gone = vessel_flags(
        vessels_before,
        hulls_after,
        change,
        before,
        params,
        sign=-1.0,
        scene=before,
        usable=masks.departures,
        **flags,
    )
    unmoored = berth_changes(
        change,
        before,
        water,
        masks.berth_departures,
        hulls_after,
        None,
        params,
        sign=-1.0,
        distance=berth_distance,
        scenes=(before, aligned),
        pixel=pixel,
    )
    if sensor == "s2":
        # Before one flag per ship is chosen, so that foam does not hide a ship's flag.
        (new_vessels, moored), (gone, unmoored) = s2_not_ships(
            [new_vessels, moored],
            [gone, unmoored],
            before,
            aligned,
            water,
            usable=usable,
            vessel=params.vessel,
            surf=pair_surf(before, aligned, water, params.vessel),
            reach=tuple(
                cloud_reach(scene, water, shadows=shadow)
                for scene, shadow in zip((before, aligned), masks.shadows, strict=True)
            ),
        )
    new_vessels, moored = one_flag_per_ship(new_vessels, moored, sensor, params)
    gone, unmoored = one_flag_per_ship(gone, unmoored, sensor, params)
    if sensor == "s1":
        new_vessels, moored, gone, unmoored = unlaid(
            [new_vessels, moored], [gone, unmoored], before, aligned, params
        )
    land = cargo_land(water, judged, [before, relit], params, distance=distance)
    cargo = cargo_flags(
        change,
        before,
        land,
        [hulls_before, hulls_after],
        params,
        scenes=(before, relit),
        cloudless=masks.cloudless,
    )
    detections = to_schema(
        [new_vessels, moored, cargo], before.crs, before, aligned, "new", min_score=params.min_score
    )
    departed = to_schema(
        [gone, unmoored], before.crs, before, aligned, "new", min_score=params.min_score
    )
    change_raster = before.replace(
        data=np.stack([change.magnitude, change.z]).astype(np.float32),
        nodata=float("nan"),
        band_names=("change", "z"),
        time=aligned.time,
    )
    parameters = {
        "sensor": sensor,
        "detect": params.to_dict(),
        "registration": registration.to_dict() if hasattr(registration, "to_dict") else None,
        "change": {"looks": change.looks, "gain": list(change.gain_db)},
        "vessels_before": len(vessels_before),
        "vessels_after": len(vessels_after),
    }
    log.info(
        "%d new vessels, %d new cargo, %d departed",
        int((detections["kind"] == "vessel").sum()),
        int((detections["kind"] == "cargo").sum()),
        len(departed),
    )
    return PairResult(
        before=before,
        after=aligned,
        change=change_raster,
        water=water,
        vessels_before=vessels_before,
        vessels_after=vessels_after,
        detections=detections,
        departed=departed,
        registration=registration,
        parameters=parameters,
    )
