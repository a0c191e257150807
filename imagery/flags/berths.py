"""Ships that moored at or left a quay, found from the change they brought: a
ship-shaped strip along the shore, brighter (darker when they left)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage

from imagery.change import ChangeMap, PixelStep
from imagery.errors import InputError
from imagery.flags.evidence import (
    _moved,
    _near_vessels,
    _object_evidence,
    _same_ship_nearby,
    _unmatched,
    change_objects,
    pixel_step,
    shore_distance_m,
    signed_z,
)
from imagery.flags.params import DetectParams
from imagery.flags.vessels import _solid_step
from imagery.objects import footprint_means
from imagery.raster import Raster
from imagery.vessels import S1_PSF_SIGMA_M


def berth_changes(
    change: ChangeMap,
    grid: Raster,
    water: np.ndarray,
    usable: np.ndarray,
    others: gpd.GeoDataFrame,
    found: gpd.GeoDataFrame | None,
    params: DetectParams,
    *,
    sign: float = 1.0,
    distance: np.ndarray | None = None,
    scenes: tuple[Raster, Raster] | None = None,
    pixel: PixelStep | None = None,
) -> gpd.GeoDataFrame:
    """Ships that moored against a quay, found from the change they brought.

    At 20 m resolution a ship alongside a quay wall merges with the wall in the after
    scene, and the berth beside the wall is blurred bright in the before scene, so
    neither the water mask nor the single-scene CFAR separates the ship. Its arrival
    still raises the backscatter of a ship-shaped strip along the shore by several dB.
    An arrival is an object of significant increase (seeds above ``cargo_z`` and
    ``berth_min_increase_db``, grown over ``cargo_grow_z``) within
    ``berth_change_reach_m`` of the water, off every vessel of the before date (a
    persistent ship reloading is not an arrival), ship-sized, at least
    ``berth_min_elongation`` times longer than wide and lying along the shore (within
    ``berth_max_angle_deg`` of the shoreline's direction; a crane's boom or a gangway
    stands across it), with no comparable decrease beside it (something that moved: a
    decrease of at least half its area, whose change object is of about its length,
    ``moved_length_tolerance``), and, when ``found`` is given, not already flagged there
    (the pair pipeline passes None and keeps the better of two flags of one ship,
    :func:`imagery.flags.vessels.one_flag_per_ship`).

    S2 (``scenes``, the before and after scenes, required): at 10 m a grey deck
    alongside a grey quay merges with it in a single scene, yet the ship lies on what
    was water. The search runs on the water within ``berth_change_reach_m`` of the
    shore. There the evidence is per pixel, not averaged: a hull 10-20 m wide is one or
    two pixels across, so the score is the B08 step in units of its spread over the
    water (median and MAD), and seeds are lines of at least three pixels in any of four
    directions where it exceeds ``cargo_z`` and B08 rose by at least
    ``vessel.s2_min_contrast``. Ships are at least ``vessel.s2_min_length_m`` long, an
    object that a residual misregistration of ``berth_registration_px`` explains (the
    bright first pixel of water along a quay face; Dai & Khorram 1998) is dropped, and
    the decrease that marks a ship moved along its berth is sought on the water.

    With ``sign`` -1 the same search finds ships that left a quay: a decrease, off the
    vessels of the after date (``others``). A new row of containers laid along the first
    metres of apron looks the same at this resolution and is flagged as a vessel.
    ``distance``, the distance across the shore to the side searched (S1:
    :func:`imagery.flags.evidence.shore_distance_m` of ``water``; S2: of ``~water``),
    and ``pixel`` (S2: :func:`imagery.change.s2_pixel_step` of ``scenes``) save
    computing them again.
    """
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=grid.crs), crs=grid.crs)
    if params.berth_change_reach_m <= 0 or not water.any() or water.all():
        return empty
    if grid.sensor == "s2" and scenes is None and pixel is None:
        raise InputError("berth_changes on Sentinel-2 needs scenes=(before, after) for B08")
    pixel_m = grid.pixel_m
    if grid.sensor == "s1":
        if distance is None:
            distance = shore_distance_m(water, pixel_m)
        near = (distance > 0) & (distance <= params.berth_change_reach_m)
        strong = sign * np.nan_to_num(change.magnitude) > params.berth_min_increase_db
    else:
        # At 10 m the ship lies on the water beside the quay (the mask is the water of
        # both dates, or the AOI's): the strip of water along the shore.
        if distance is None:
            distance = shore_distance_m(~water, pixel_m)
        near = water & (distance <= params.berth_change_reach_m)
        if pixel is None:
            pixel = pixel_step(*scenes, water, usable, change, params)
        if pixel is None:  # no clear water to score against: the change test's means
            step = np.nan_to_num(scenes[1].band("B08") - scenes[0].band("B08"))
        else:
            step = pixel.step - pixel.level
        strong = sign * step >= params.vessel.s2_min_contrast
    if not others.empty:
        # On the footprint itself (already as wide as the blurred hull): a margin also hid
        # ships that moored beside one that stayed.
        near &= ~_near_vessels([others], grid, 0.0)
    z = sign * (signed_z(change, grid.sensor) if pixel is None else pixel.z)
    frame, _ = change_objects(
        np.where(strong, z, np.minimum(z, params.cargo_z)),  # seeds must also be strong
        change.valid & usable & near,
        grid,
        seed_z=params.cargo_z,
        grow_z=params.cargo_grow_z,
        thin_seeds=pixel is not None,
    )
    if frame.empty:
        return empty
    vp = params.vessel
    shortest = vp.s2_min_length_m if grid.sensor == "s2" else vp.min_length_m
    measures = {"strong": strong.astype(np.float32)}
    if pixel is not None:
        # The bright first pixel of water along a quay face misregistered by a fraction
        # of a pixel, as long as the quay.
        measures["edge"] = pixel.explained.astype(np.float32)
    means = footprint_means(frame, measures, grid)
    seeded = means["strong"]
    ok = (
        (frame["length_m"] >= shortest)
        & (frame["length_m"] <= vp.max_length_m)
        & (frame["width_m"] <= vp.max_width_m)
        & (frame["area_m2"] >= vp.min_area_m2)
        & (seeded >= 0.5)
    ).to_numpy(copy=True)
    ok &= _elongation(frame, grid, params) >= params.berth_min_elongation
    if "edge" in means:
        ok &= ~(means["edge"] >= 0.5)
    if scenes is not None and grid.sensor == "s2" and ok.any():
        ok &= _solid_step(frame, *scenes, grid, water & usable, vp, sign=sign)
    if ok.any():
        # Direction of the shore at each object: across the gradient of the distance
        # to the water, smoothed over about a ship's beam.
        capped = np.minimum(distance, 3 * params.berth_change_reach_m).astype(np.float32)
        smooth = ndimage.gaussian_filter(capped, 2.0)
        cols, rows = ~grid.transform * (frame["x"].to_numpy(), frame["y"].to_numpy())
        r = np.clip(np.floor(rows).astype(int), 1, grid.shape[0] - 2)
        c = np.clip(np.floor(cols).astype(int), 1, grid.shape[1] - 2)
        d_row = smooth[r + 1, c] - smooth[r - 1, c]  # central differences, at the objects only
        d_col = smooth[r, c + 1] - smooth[r, c - 1]
        normal = np.degrees(np.arctan2(-d_row, d_col))  # from east, CCW
        shore_heading = np.mod(90.0 - (normal + 90.0), 180.0)
        off = np.abs(np.mod(frame["heading_deg"].to_numpy() - shore_heading + 90.0, 180.0) - 90.0)
        ok &= off <= params.berth_max_angle_deg
    frame = frame.loc[ok].copy()
    if frame.empty:
        return empty
    nowhere = np.zeros(grid.shape, dtype=bool)
    side = ~water if grid.sensor == "s1" else water
    moved = _moved(frame, change, side, nowhere, grid, params, sign=sign)
    if moved.any() and params.moved_length_tolerance < 1:
        # One ship leaving and another of another length arriving at the same berth is
        # two flags; only a ship of about the same length can have shifted along it.
        gone, _ = change_objects(
            -z,
            change.valid & side,
            grid,
            seed_z=params.cargo_z,
            grow_z=params.cargo_grow_z,
            thin_seeds=pixel is not None,
        )
        moved &= _same_ship_nearby(frame, gone, params)
    frame = frame.loc[~moved]
    if found is not None and not found.empty and not frame.empty:
        frame = frame.loc[_unmatched(frame, found, params.match_m)]
    if frame.empty:
        return empty
    frame = frame.copy()
    frame["score"] = _object_evidence(frame, change, grid, params, per_pixel=pixel is not None)
    frame["kind"] = "vessel"
    # The size the flag reports (and is drawn at, :func:`imagery.detect.to_schema`): the
    # hull's, once the score has been calibrated on the change object's own.
    frame["hull_length_m"], frame["hull_width_m"] = _unblurred_size(frame, grid, params)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=grid.crs)


def _elongation(frame: pd.DataFrame, grid: Raster, params: DetectParams) -> np.ndarray:
    """Length over width of S1 change objects with the blur taken off (S2: as measured;
    :func:`_unblurred_size`)."""
    length, width = _unblurred_size(frame, grid, params)
    return length / np.maximum(width, 1e-9)


def _unblurred_size(
    frame: pd.DataFrame, grid: Raster, params: DetectParams
) -> tuple[np.ndarray, np.ndarray]:
    """Length and width (m) of S1 change objects with the blur taken off (S2: as measured).

    An S1 change object is a hull seen at 20 m resolution (PSF sigma
    ``imagery.vessels.S1_PSF_SIGMA_M``) through the change test's
    ``change_window_px`` box means: each adds its variance to both axes of the
    object's second moments (the variances of convolved distributions add), so a small
    ship measures about as wide as long: a 46 m hull 15 m wide, 95 m x 48 m. That
    variance is taken off each axis (floored at a pixel), as the vessel sizes take off
    the PSF (:func:`imagery.objects.measure_objects`): 85 m x 21 m. A blob of the
    blur's own size stays round.
    """
    length = frame["length_m"].to_numpy(dtype=np.float64)
    width = frame["width_m"].to_numpy(dtype=np.float64)
    if grid.sensor == "s1":
        box_m = params.change_window_px * grid.pixel_m
        # Length^2 / 12 is a uniform bar's variance: the blur's, in the same units.
        blur = 12.0 * (S1_PSF_SIGMA_M**2 + box_m**2 / 12.0)
        floor = grid.pixel_m**2
        length = np.sqrt(np.maximum(length**2 - blur, floor))
        width = np.sqrt(np.maximum(width**2 - blur, floor))
    return length, width
