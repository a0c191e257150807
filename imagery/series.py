"""What changed, and when, over a series of passes of one port.

Every scene is co-registered onto the first. Sentinel-1 intensities, locally averaged,
go through the sequential omnibus test (``imagery.omnibus``, Conradsen et al. 2016),
which dates each change; Sentinel-2 scenes are compared pair by pair with the change
vector test. Each consecutive pair then yields its new vessels, departures and cargo
as a single pair does (``imagery.detect``, ships at a quay found from the change they
brought included), using the series' change scores, and every flag carries
``change_time``: the first date on which it is seen.

A series travels as an ``xarray.DataArray`` (time, band, y, x) with its CRS and
transform written the way rioxarray writes them.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from imagery.change import ChangeMap, calibration_pixels, effective_looks, s2_change
from imagery.clouds import cloud_reach
from imagery.detect import DetectParams, align, empty_detections, to_schema
from imagery.errors import CoregistrationError, DetectionError, InputError, NothingToCompareError
from imagery.filters import masked_box_mean
from imagery.flags.berths import berth_changes
from imagery.flags.cargo import cargo_flags, cargo_land
from imagery.flags.evidence import pixel_step, shore_distance_m
from imagery.flags.masks import berth_water, pair_masks
from imagery.flags.vessels import (
    evidence_hulls,
    one_flag_per_ship,
    s2_not_ships,
    scene_surf,
    unlaid,
    vessel_flags,
)
from imagery.layover import other_look
from imagery.omnibus import sequential_omnibus
from imagery.raster import Raster
from imagery.sensors import keep_shared, prepare, refuse_empty
from imagery.vessels import detect_vessels_each
from imagery.water import series_water, water_mask

__all__ = ["SeriesResult", "detect_series", "to_series"]

log = logging.getLogger(__name__)


def to_series(rasters: Sequence[Raster]) -> xr.DataArray:
    """Stack rasters on one grid into a (time, band, y, x) DataArray with CRS and transform.

    The ``time`` coordinate holds each scene's acquisition time in UTC as numpy
    datetime64 (which has no time zone), the CRS and transform are written as rioxarray
    writes them (the ``spatial_ref`` coordinate), and the attributes are the first
    scene's: per-date metadata lives in the coordinate, not in ``attrs``."""
    first = rasters[0]
    for r in rasters[1:]:
        if r.shape != first.shape or r.transform != first.transform or r.crs != first.crs:
            raise InputError(
                "a series needs every scene on the first scene's grid; co-register them first"
            )
        if r.band_names != first.band_names:
            raise InputError(f"band mismatch in series: {r.band_names} vs {first.band_names}")
    arrays = [r.to_xarray() for r in rasters]
    # Raster keeps its time in UTC: dropping the zone loses nothing.
    times = pd.DatetimeIndex([r.time.replace(tzinfo=None) if r.time else pd.NaT for r in rasters])
    da = xr.concat(arrays, dim=pd.Index(times, name="time"))
    return da.rio.write_crs(first.crs).rio.write_transform(first.transform)


@dataclasses.dataclass(frozen=True)
class SeriesResult:
    """Flags over a series, on the first scene's grid."""

    scenes: tuple[Raster, ...]
    series: xr.DataArray
    water: np.ndarray
    detections: gpd.GeoDataFrame
    departed: gpd.GeoDataFrame
    change: Raster
    registrations: tuple[Any, ...]
    parameters: dict[str, Any]


def _s1_steps(
    scenes: Sequence[Raster], params: DetectParams, stable: np.ndarray | None = None
) -> list[ChangeMap]:
    """The omnibus test's steps of an S1 series, as :func:`imagery.change.s1_change`
    gives a pair's: each date's calibration gain against the first and the equivalent
    looks estimated on ``stable`` ground (land: the sea's texture decorrelates between
    passes and its level follows the wind; :func:`imagery.change.calibration_pixels`).
    Each date is averaged on its own valid pixels, so that a date without data
    somewhere (a swath's edge) leaves the other dates' steps there intact."""
    window = params.change_window_px
    present = [s.valid_mask() for s in scenes]
    averaged = np.stack(
        [
            np.stack(
                [masked_box_mean(s.band(b), ok, window, min_count=window)[0] for b in s.band_names]
            )
            for s, ok in zip(scenes, present, strict=True)
        ]
    )

    gains = []
    for t in range(1, len(scenes)):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.log(averaged[t] / averaged[0])
        use = calibration_pixels(np.isfinite(ratio).all(axis=0), stable)
        gain = np.median(ratio[:, use], axis=1) if use.sum() >= 100 else np.zeros(ratio.shape[0])
        averaged[t] /= np.exp(gain)[:, None, None]
        gains.append(gain)
    per_step = []
    for t in range(1, len(scenes)):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.log(averaged[t] / averaged[t - 1])
        use = calibration_pixels(np.isfinite(ratio).all(axis=0), stable)
        if use.sum() >= 100:
            # Every band's looks, as for a pair (s1_change): VH speckle is VV's.
            per_step.append(np.mean([effective_looks(band[use]) for band in ratio]))
    if not per_step:
        raise NothingToCompareError(
            "no two consecutive dates of the series share enough valid pixels to compare"
        )
    looks = float(np.median(per_step))
    result = sequential_omnibus(averaged, looks=looks, alpha=1e-6)
    steps = []
    for j in range(1, len(scenes)):
        with np.errstate(divide="ignore", invalid="ignore"):
            magnitude = 10.0 * np.log10(np.mean(averaged[j] / averaged[j - 1], axis=0))
        z = result.z[j - 1]
        steps.append(
            ChangeMap(
                magnitude=magnitude.astype(np.float32),
                z=z,
                valid=present[j - 1] & present[j] & np.isfinite(z),
                looks=looks,
                gain_db=tuple(10 * np.log10(np.exp(gains[j - 1]))),
            )
        )
    return steps


def detect_series(
    rasters: Sequence[Raster],
    *,
    sensor: str,
    aoi=None,
    params: DetectParams | None = None,
    names: Sequence[str] | None = None,
) -> SeriesResult:
    """Flag what appeared (and left) at each pass of a series of three or more scenes.

    Parameters
    ----------
    rasters : sequence of Raster
        Scenes as read from files, in any order (sorted by acquisition time here).
    sensor : {"s1", "s2"}
    aoi : imagery.aoi.AOI, optional
    params : DetectParams, optional
    names : sequence of str, optional
        File names for messages.

    Returns
    -------
    SeriesResult
        ``detections`` and ``departed`` hold every pair's flags with ``change_time``.
    """
    params = params or DetectParams()
    if len(rasters) < 3:
        raise InputError(f"a series needs at least three scenes, got {len(rasters)}")
    names = list(names or [f"scene {i + 1}" for i in range(len(rasters))])
    prepared = [prepare(r, sensor, source=n) for r, n in zip(rasters, names, strict=True)]
    for scene, name in zip(prepared, names, strict=True):
        refuse_empty(scene, name)
    if sensor == "s1":
        other_look([p.look_azimuth_deg for p in prepared], names)
    if any(p.time is None for p in prepared):
        missing = [n for p, n in zip(prepared, names, strict=True) if p.time is None]
        raise InputError(
            f"{missing[0]}: no acquisition time (tag or date in the file name); a series needs dates"
        )
    order = np.argsort([p.time for p in prepared], kind="stable")
    for a, b in itertools.pairwise(order):
        if prepared[a].time == prepared[b].time:
            # A step of no time: the omnibus would count one pass as two dates.
            raise InputError(
                f"{names[a]} and {names[b]}: both acquired {prepared[a].time.isoformat()}; "
                "a series needs one scene per pass"
            )
    prepared = [prepared[i] for i in order]
    # One (time, band, y, x) array, and every date judged on the same evidence.
    shared = keep_shared(prepared)
    dropped = sorted({b for p in prepared for b in p.band_names} - set(shared[0].band_names))
    if dropped:
        log.info("bands not on every date of the series, left out: %s", " ".join(dropped))
    prepared = shared
    reference = prepared[0]
    reference_water = water_mask(reference, aoi=aoi, enclosed=False)  # no votes on shifts
    scenes, registrations, refused = [reference], [None], []
    for scene, name in zip(prepared[1:], [names[i] for i in order[1:]], strict=True):
        try:
            aligned, registration = align(
                reference,
                scene,
                reference_water,
                water_mask(scene, aoi=aoi, enclosed=False),
                params,
                (names[order[0]], name),
            )
        except CoregistrationError as exc:
            # Refuse the scene, not the series: nothing is flagged from a bad alignment.
            log.warning("%s: left out of the series: %s", name, exc)
            refused.append({"scene": name, "reason": exc.reason, "message": str(exc)})
            continue
        scenes.append(aligned)
        registrations.append(registration)
    if len(scenes) < 2:
        raise DetectionError(
            f"{names[order[0]]}: no other scene of the series could be co-registered onto it"
        )
    polygon = aoi is not None and getattr(aoi, "water", None) is not None
    if polygon:
        waters = [water_mask(reference, aoi=aoi)] * len(scenes)
    else:
        waters = [water_mask(s, enclosed=False) for s in scenes]
    water = series_water(scenes, waters, stable_db=params.water_stable_db, enclosed=not polygon)
    vessels = detect_vessels_each(scenes, water=water, params=params.vessel)
    hulls = [evidence_hulls(v, sensor, params, reference.pixel_m) for v in vessels]
    s1_steps = _s1_steps(scenes, params, stable=~water) if sensor == "s1" else None
    pixel_m = reference.pixel_m
    distance = shore_distance_m(water, pixel_m)
    # S2's berth search runs on the water: its distance is to the land.
    berth_distance = distance if sensor == "s1" else shore_distance_m(~water, pixel_m)
    berths = berth_water(water, params, pixel_m)
    if sensor == "s2":
        # Each date's surf zone (imagery.flags.vessels.pair_surf) and cloud reach, made once for
        # both its steps.
        surf = [scene_surf(s, water, params.vessel) for s in scenes]
        reach = [cloud_reach(s, water) for s in scenes]
    found, gone, steps = [], [], []
    for j in range(1, len(scenes)):
        before, after = scenes[j - 1], scenes[j]
        # Each step is judged on the same masks as a pair (imagery.detect.detect_aligned).
        masks = pair_masks(before, after, water, params)
        usable, seen = masks.usable, masks.seen
        if s1_steps is not None:
            change = s1_steps[j - 1]
        else:
            change = s2_change(
                before,
                after,
                window_px=params.change_window_px,
                strata=water,
                usable=usable,
                extent=seen,
            )
        steps.append(change)
        pixel = pixel_step(before, after, water, usable, change, params)
        new = vessel_flags(
            vessels[j],
            hulls[j - 1],
            change,
            reference,
            params,
            sign=+1.0,
            other_water=berths,
            usable=masks.arrivals,
            scene=after,
            water=water,
            pixel=pixel,
        )
        left = vessel_flags(
            vessels[j - 1],
            hulls[j],
            change,
            reference,
            params,
            sign=-1.0,
            other_water=berths,
            usable=masks.departures,
            scene=before,
            water=water,
            pixel=pixel,
        )
        pair = {"distance": berth_distance, "scenes": (before, after), "pixel": pixel}
        moored = berth_changes(
            change, reference, water, masks.berth_arrivals, hulls[j - 1], None, params, **pair
        )
        unmoored = berth_changes(
            change,
            reference,
            water,
            masks.berth_departures,
            hulls[j],
            None,
            params,
            sign=-1.0,
            **pair,
        )
        if sensor == "s2":
            (new, moored), (left, unmoored) = s2_not_ships(
                [new, moored],
                [left, unmoored],
                before,
                after,
                water,
                usable=usable,
                vessel=params.vessel,
                surf=surf[j - 1] | surf[j],
                reach=(reach[j - 1], reach[j]),
            )
        new, moored = one_flag_per_ship(new, moored, sensor, params)
        left, unmoored = one_flag_per_ship(left, unmoored, sensor, params)
        if sensor == "s1":
            new, moored, left, unmoored = unlaid(
                [new, moored], [left, unmoored], before, after, params
            )
        land = cargo_land(water, usable, [before, after], params, distance=distance)
        cargo = cargo_flags(
            change,
            reference,
            land,
            [hulls[j - 1], hulls[j]],
            params,
            scenes=(before, after),
            cloudless=masks.cloudless,
        )
        for frames, out in (([new, moored, cargo], found), ([left, unmoored], gone)):
            flags = to_schema(
                frames, reference.crs, before, after, "new", min_score=params.min_score
            )
            if not flags.empty:
                flags["change_time"] = flags["after_time"]
                flags["change_index"] = j
                out.append(flags)
    detections = _concat(found, reference.crs)
    departed = _concat(gone, reference.crs)
    z_stack = np.stack([np.where(c.valid, c.z, np.nan) for c in steps])
    first = np.full(reference.shape, -1.0, dtype=np.float32)
    significant = np.nan_to_num(np.abs(z_stack)) > params.cargo_z
    first = np.where(significant.any(axis=0), significant.argmax(axis=0) + 1, first).astype(
        np.float32
    )
    change = reference.replace(
        data=np.stack([first, _nan_absmax(z_stack)]).astype(np.float32),
        nodata=float("nan"),
        band_names=("first_change", "z_max"),
    )
    parameters = {
        "sensor": sensor,
        "detect": params.to_dict(),
        "dates": [s.time.isoformat() for s in scenes],
        "registrations": [r.to_dict() if hasattr(r, "to_dict") else None for r in registrations],
        "looks": steps[0].looks,
        "refused": refused,
    }
    return SeriesResult(
        scenes=tuple(scenes),
        series=to_series(scenes),
        water=water,
        detections=detections,
        departed=departed,
        change=change,
        registrations=tuple(registrations),
        parameters=parameters,
    )


def _nan_absmax(stack: np.ndarray) -> np.ndarray:
    peak = np.where(np.isfinite(stack), np.abs(stack), -np.inf).max(axis=0)
    return np.where(np.isfinite(peak), peak, np.nan)


def _concat(frames: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    if not frames:
        out = empty_detections(crs)
        out["change_time"] = pd.Series(dtype="object")
        out["change_index"] = pd.Series(dtype="int64")
        return out
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    out["id"] = np.arange(1, len(out) + 1)
    return out
