"""New vessels and departures of a pair from each date's vessels: one flag per ship,
the change a flagged hull must show, and what is no ship (surf, puffs of cloud, lines)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from scipy import ndimage

from imagery.calibration import calibrate
from imagery.change import ChangeMap, PixelStep
from imagery.clouds import cloud_fragments
from imagery.flags.evidence import _brightness_weights, _close, _object_evidence, signed_z
from imagery.flags.params import DetectParams
from imagery.layover import correct_layover
from imagery.objects import footprint_means, label_objects, measure_objects, numbered
from imagery.raster import Raster
from imagery.vessels import VesselParams, s2_surf
from imagery.vessels.common import line_opening, opening, ship_sized_rows
from imagery.vessels.params import S2_SURF_MAX_SHARE


def one_flag_per_ship(
    first: gpd.GeoDataFrame,
    second: gpd.GeoDataFrame,
    sensor: str,
    params: DetectParams,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """One flag per ship found by two searches: the one with the higher calibrated score.

    The vessel pieces (:func:`vessel_flags`) and the berth change search
    (:func:`imagery.flags.berths.berth_changes`) often both find a ship moored at a
    quay, from different evidence, with centres up to tens of metres apart. Two flags
    are one ship when their centres lie within ``params.match_m`` or half the longer
    one's length. Keeping the first search's flag whatever its score let a weak or
    mislocated piece hide a strong berth flag. Flags are taken best first (calibrated
    score; ``first`` on a tie) and one is kept unless a flag of the other search already
    kept is one ship with it.

    Returns
    -------
    first, second : GeoDataFrame
        The rows kept of each.
    """
    if first.empty or second.empty:
        return first, second

    def calibrated(frame: gpd.GeoDataFrame) -> np.ndarray:
        return calibrate(frame.assign(evidence=frame["score"].clip(0.0, 1.0)), sensor)

    scores = np.concatenate([calibrated(first), calibrated(second)])
    close = _close(first, second, params.match_m)
    n_first = len(first)
    kept = np.zeros(len(scores), dtype=bool)
    # Best first, the first search on a tie; a flag already dropped hides nothing, so a
    # flag between two ships moored end to end cannot take the second one with it.
    for k in np.lexsort((np.arange(len(scores)), -scores)):
        if k < n_first:
            kept[k] = not (close[k] & kept[n_first:]).any()
        else:
            kept[k] = not (close[:, k - n_first] & kept[:n_first]).any()
    return first.loc[kept[:n_first]], second.loc[kept[n_first:]]


def vessel_flags(
    vessels: gpd.GeoDataFrame,
    others: gpd.GeoDataFrame,
    change: ChangeMap,
    grid: Raster,
    params: DetectParams,
    *,
    sign: float,
    other_water: np.ndarray,
    usable: np.ndarray,
    scene: Raster | None = None,
    water: np.ndarray | None = None,
    pixel: PixelStep | None = None,
) -> gpd.GeoDataFrame:
    """The part of each vessel of one date that was open water on the other date.

    A new vessel (``sign`` +1; departed: -1, with the dates' roles swapped) is made of
    the pixels of a vessel footprint that are water on either date, or berths beside it
    (``other_water``), brightened significantly (S1: the increase score; S2: the
    per-pixel B08 score of ``pixel``, else the signed change test) and are usable
    (valid, cloud-free on both dates). This keeps a berthed
    ship apart from the quay it touches, never flags a structure that is there on both
    dates, and needs no luck in matching whole objects. Pieces that are not ship-sized,
    or whose centre lies on a vessel of the other date (a ship that swung at anchor or
    shifted along its berth), or belong to a vessel that is the other
    date's ship swung at anchor (:func:`_swung`; ``water``, the pair's, tells it where
    land is, else the land beyond ``other_water``), are dropped. The score is the
    vessel's detection score times the probability that the change is real.

    With ``pixel`` (S2, :func:`imagery.change.s2_pixel_step`) the change is judged per
    pixel, not on the change test's local means, since a hull 10-20 m wide is one or two
    pixels across: pieces are lines of at least three pixels in any of four directions,
    and those that a residual misregistration explains on half their pixels (a quay's
    edge) are dropped.
    """
    if vessels.empty:
        return vessels.iloc[0:0]
    owner = numbered(vessels, grid, all_touched=False)
    z = sign * (signed_z(change, grid.sensor) if pixel is None else pixel.z)
    appeared = (owner > 0) & other_water & usable & change.valid & (z > params.vessel_change_z)
    if pixel is None:
        appeared = opening(appeared, np.ones((2, 2), dtype=bool))
    else:
        appeared = line_opening(appeared, length_px=3)
    labels, n = label_objects(appeared)
    if n == 0:
        return vessels.iloc[0:0]
    weights, psf = _brightness_weights(scene, other_water)
    pieces = measure_objects(
        labels,
        n,
        transform=grid.transform,
        crs=grid.crs,
        values={"z": np.nan_to_num(z)},
        weights=weights,
        psf_sigma_m=psf,
    )
    inside = labels > 0
    parent_of = np.zeros(n + 1, dtype=np.int64)
    np.maximum.at(parent_of, labels[inside], owner[inside])
    parent = parent_of[1:] - 1
    pieces["score"] = vessels["score"].to_numpy()[parent]
    pieces["heading_deg"] = np.where(
        pieces["length_m"] > 2 * pieces["width_m"],
        pieces["heading_deg"],
        vessels["heading_deg"].to_numpy()[parent],
    )
    vp = params.vessel
    shortest = vp.s2_min_length_m if grid.sensor == "s2" else vp.min_length_m
    keep = ship_sized_rows(pieces, vp, shortest)
    if pixel is not None:
        explained = ndimage.mean(pixel.explained, labels, np.arange(1, n + 1))
        keep &= np.asarray(explained) < 0.5
    if not others.empty and keep.any():
        # The same ship, swung at anchor or shifted along its berth: the other date's
        # vessel covers the piece's centre.
        near = others.geometry.union_all()
        centres = gpd.GeoSeries(gpd.points_from_xy(pieces["x"], pieces["y"]), crs=grid.crs)
        keep &= ~centres.within(near).to_numpy()
        land = ~other_water if water is None else ~water
        keep &= ~_swung(vessels, others, land, grid, params)[parent]
    pieces = gpd.GeoDataFrame(pieces.loc[keep].copy(), geometry="geometry", crs=grid.crs)
    if pieces.empty:
        return pieces
    changed = _object_evidence(pieces, change, grid, params, per_pixel=pixel is not None)
    pieces["score"] = pieces["score"].to_numpy() * changed
    pieces["kind"] = "vessel"
    return pieces


def _swung(
    vessels: gpd.GeoDataFrame,
    others: gpd.GeoDataFrame,
    land: np.ndarray,
    grid: Raster,
    params: DetectParams,
) -> np.ndarray:
    """Per vessel: the same ship as one of ``others`` (the other date's vessels), swung
    at anchor.

    A ship at anchor swings about its anchor with wind and tide, through a circle of
    about its length plus the scope of its chain, so on a later pass it lies across its
    earlier footprint at another heading; the piece of it that was open water is no
    new ship. Two ships at anchor do not touch (anchorages space them by their swing
    circles), so a vessel is the same ship when its footprint touches one of the other
    date's, their lengths agree within ``swing_length_tolerance`` (of the longer), and
    both lie afloat: no ``land`` within ``berth_reach_m`` plus a pixel of either hull
    (``land``: not water of the pair).
    Alongside a quay a ship is replaced by another of any length in the same berth, so
    berthed ships are left to the change test.
    """
    found = np.zeros(len(vessels), dtype=bool)
    if vessels.empty or others.empty or params.swing_length_tolerance <= 0:
        return found
    mine, theirs = others.sindex.query(vessels.geometry, predicate="intersects")
    la = vessels["length_m"].to_numpy()[mine]
    lb = others["length_m"].to_numpy()[theirs]
    similar = np.abs(la - lb) <= params.swing_length_tolerance * np.maximum(la, lb)
    mine, theirs = mine[similar], theirs[similar]
    if mine.size == 0:
        return found
    # Only the few touching pairs are tested, each date's hulls apart (they overlap
    # across the dates, never within one).
    reach_px = max(1, int(np.ceil(params.berth_reach_m / grid.pixel_m)) + 1)
    near_land = ndimage.binary_dilation(land, structure=np.ones((3, 3), bool), iterations=reach_px)

    def ashore(frame: gpd.GeoDataFrame, rows: np.ndarray) -> np.ndarray:
        unique, back = np.unique(rows, return_inverse=True)
        hulls = gpd.GeoDataFrame(geometry=frame.geometry.iloc[unique].to_numpy(), crs=grid.crs)
        share = footprint_means(hulls, {"land": near_land}, grid)["land"]
        return (np.nan_to_num(share) > 0)[back]

    afloat = ~(ashore(vessels, mine) | ashore(others, theirs))
    found[mine[afloat]] = True
    return found


def _solid_step(
    frame: gpd.GeoDataFrame,
    before: Raster,
    after: Raster,
    grid: Raster,
    clear_water: np.ndarray,
    vessel: VesselParams,
    *,
    sign: float,
    steps: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Per S2 object on the water: is the step between the date with it and the date
    without it that of a hull, not of foam or a shoal? ``steps`` (:func:`hull_steps` of
    the pair) saves computing them again for each frame.

    The single-scene tests of afloat hulls (:mod:`imagery.vessels.s2`), applied to the
    change: surf on a beach or a breakwater, come or gone between passes, brightens the
    visible more than the near infrared (B08 step below ``vessel.s2_foam_ratio`` times
    the B03 step), and water that foams or shoals stays black at 1.6 um where a hull
    above the surface does not (B11 step below ``vessel.s2_min_swir_ratio`` times the
    B08 step; only when both scenes have B11). Each band's step is taken relative to
    the median step of ``clear_water`` (haze or sun on one date moves the visible bands
    more than B08), and a band without a valid pixel under the object leaves its test
    undecided (passed). An independent simulator's S2 departures: false 31 -> 19, none
    lost (``benchmarks/second_opinion.py``).
    """
    if steps is None:
        steps = hull_steps(before, after, clear_water, vessel)
    # A departure's step is the arrival's, negated (exactly, level included).
    means = {name: sign * m for name, m in footprint_means(frame, steps, grid).items()}
    nir, green = means["B08"], means["B03"]
    with np.errstate(invalid="ignore"):
        solid = ~(nir < vessel.s2_foam_ratio * green)  # NaN on either side: undecided
        if "B11" in means:
            solid &= ~(means["B11"] < vessel.s2_min_swir_ratio * nir)
    return solid


def hull_steps(
    before: Raster, after: Raster, clear_water: np.ndarray, vessel: VesselParams
) -> dict[str, np.ndarray]:
    """The steps after minus before that :func:`_solid_step` judges (B08, B03, and B11
    when both dates have it and ``vessel.s2_min_swir_ratio`` is set), each less its
    median over ``clear_water`` (0 with fewer than 100 pixels there)."""
    bands = ["B08", "B03"]
    if vessel.s2_min_swir_ratio > 0 and before.has_band("B11") and after.has_band("B11"):
        bands.append("B11")
    steps = {}
    for name in bands:
        step = after.band(name) - before.band(name)
        water_step = step[clear_water & np.isfinite(step)]
        level = float(np.median(water_step)) if water_step.size >= 100 else 0.0
        steps[name] = step - level
    return steps


def pair_surf(before: Raster, after: Raster, water: np.ndarray, vessel: VesselParams) -> np.ndarray:
    """S2: the surf zone of either date.

    Waves break on beaches and rubble, more on one pass than the other, and foam come or
    gone beside the shore is a ship-sized, shore-parallel change on the water: the berth
    change search (:func:`imagery.flags.berths.berth_changes`) would take it for a ship
    moored or gone. No ship lies in breaking waves on either date, which is the
    single-scene rule (:mod:`imagery.vessels.s2`) applied to the pair.

    Parameters
    ----------
    before, after : Raster
        Prepared S2 scenes on one grid.
    water : ndarray of bool
        The pair's water; each date's foam is measured against its median.
    vessel : VesselParams
        ``s2_foam_ratio`` and ``s2_surf_buffer_m`` (:func:`imagery.vessels.s2_surf`).

    Returns
    -------
    ndarray of bool
        The union of the two dates' surf zones.

    Notes
    -----
    An independent simulator's S2 departures (``benchmarks/second_opinion.py``): false
    20 -> 17 with the zone, none lost; with the session's foam changes
    (``S2_FOAM_STEP`` 0.03, ``s2_foam_ratio`` 0.8, a hull's rim not foam) 20 -> 5 and
    true 30 -> 29.
    """
    return scene_surf(before, water, vessel) | scene_surf(after, water, vessel)


def scene_surf(scene: Raster, water: np.ndarray, vessel: VesselParams) -> np.ndarray:
    """One date's surf zone for :func:`pair_surf` (:func:`imagery.vessels.s2_surf` with
    ``vessel``'s foam ratio and buffer)."""
    return s2_surf(
        scene,
        water,
        ratio=vessel.s2_foam_ratio,
        buffer_m=vessel.s2_surf_buffer_m,
        pixel_m=scene.pixel_m,
    )


def unlaid(
    arrived: list[gpd.GeoDataFrame],
    left: list[gpd.GeoDataFrame],
    before: Raster,
    after: Raster,
    params: DetectParams,
) -> list[gpd.GeoDataFrame]:
    """S1 vessel flags moved from where their echoes lie back over the hulls
    (:func:`imagery.layover.correct_layover`): the ``arrived`` frames by the after
    scene's viewing geometry, the ``left`` ones by the before scene's."""
    height = params.vessel.s1_layover_height_m
    return [correct_layover(f, after, height) for f in arrived] + [
        correct_layover(f, before, height) for f in left
    ]


def not_cloud_fragments(
    frame: gpd.GeoDataFrame,
    present: Raster,
    absent: Raster,
    grid: Raster,
    water: np.ndarray,
    reach: np.ndarray,
) -> gpd.GeoDataFrame:
    """The S2 vessel flags of ``frame`` that are not detached puffs of cloud
    (:func:`imagery.clouds.cloud_fragments`): judged on the step from the date without
    the ship (``absent``) to the date with it (``present``), within ``reach``
    (:func:`imagery.clouds.cloud_reach` of ``present``)."""
    if frame.empty or not reach.any():
        return frame
    steps = {name: present.band(name) - absent.band(name) for name in ("B02", "B08")}
    return frame.loc[~cloud_fragments(frame, steps, water, reach, grid)]


def s2_not_ships(
    arrived: list[gpd.GeoDataFrame],
    left: list[gpd.GeoDataFrame],
    before: Raster,
    after: Raster,
    water: np.ndarray,
    *,
    usable: np.ndarray,
    vessel: VesselParams,
    surf: np.ndarray,
    reach: tuple[np.ndarray, np.ndarray],
) -> tuple[list[gpd.GeoDataFrame], list[gpd.GeoDataFrame]]:
    """S2 vessel flags of a step, less those in the surf of either date
    (:func:`pair_surf`), those whose step between the dates is not a hull's
    (:func:`_solid_step` on ``water & usable``: foam or a shoal, the berth change
    search's test, now for every flag) and the broken cloud of the date with the ship
    (:func:`not_cloud_fragments`; ``reach``: :func:`imagery.clouds.cloud_reach` of
    ``before`` and ``after``). ``arrived`` are flags of ships there ``after``, ``left``
    ``before``.

    A candidate of one date passes the hull tests against that date's water; its step
    from the other date need not: along a beach, swash and wet sand on one date and
    bright sand on the other step like a ship come alongside, more in the visible than
    in the near infrared and not at all at 1.6 um. An independent simulator's S2 pairs:
    false new vessels 22 -> 16, none lost (``benchmarks/README.md``, session 23).
    """
    clear_water = water & usable
    steps = hull_steps(before, after, clear_water, vessel)

    def judged(frame: gpd.GeoDataFrame, sign: float) -> gpd.GeoDataFrame:
        frame = _outside_zone(frame, surf, before)
        if frame.empty:
            return frame
        solid = _solid_step(
            frame, before, after, before, clear_water, vessel, sign=sign, steps=steps
        )
        return frame.loc[solid]

    arrived = [
        not_cloud_fragments(judged(f, 1.0), after, before, before, water, reach[1]) for f in arrived
    ]
    left = [
        not_cloud_fragments(judged(f, -1.0), before, after, before, water, reach[0]) for f in left
    ]
    return arrived, left


def _outside_zone(frame: gpd.GeoDataFrame, zone: np.ndarray, grid: Raster) -> gpd.GeoDataFrame:
    """The rows of ``frame`` with at most ``S2_SURF_MAX_SHARE`` of their footprint in ``zone``."""
    if frame.empty or not zone.any():
        return frame
    share = footprint_means(frame, {"zone": zone.astype(np.float32)}, grid)["zone"]
    return frame.loc[~(np.nan_to_num(share) > S2_SURF_MAX_SHARE)]


def evidence_hulls(
    vessels: gpd.GeoDataFrame, sensor: str, params: DetectParams, pixel_m: float = 10.0
) -> gpd.GeoDataFrame:
    """The vessels of one date that count as ships where they lie (S1: at least
    ``evidence_min_width_m`` wide; S2: all).

    Parameters
    ----------
    vessels : geopandas.GeoDataFrame
        One date's single-scene vessels, with ``width_m`` (S1: the blur taken off).
    sensor : {"s1", "s2"}
    params : DetectParams
    pixel_m : float
        Ground pixel size, metres: widths are floored at one pixel.

    Returns
    -------
    geopandas.GeoDataFrame
        The rows of ``vessels`` that count as ships.

    A pair keeps every single-scene candidate, and on S1 many are lines thinner than the
    20 m blur: quay edges, walls, crane rails. Counted as ships, a line beside a berth
    hid the departure of the ship that had lain there, and its 80 m cargo keep-out hid
    the stacks behind the quay. Development seeds 100-131: S1 departed 0.830 -> 0.851
    (true 112 -> 117), vessel + cargo 0.808 -> 0.805; independent simulator
    (``benchmarks/second_opinion.py``): cargo 0.562 -> 0.628 (true 41 -> 49), vessel +
    cargo 0.693 -> 0.724.
    """
    if sensor != "s1" or params.evidence_min_width_m <= 0 or vessels.empty:
        return vessels
    # Widths are floored at one pixel: on a grid coarser than 10 m the floor alone would
    # pass 12 m, so a hull must also measure more than a pixel and a fifth.
    least = max(params.evidence_min_width_m, 1.2 * pixel_m)
    return vessels.loc[vessels["width_m"] >= least]
