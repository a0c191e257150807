"""S2 hulls one or two pixels wide: the pair pipeline judges their change per pixel."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from s2_scenes import blurred_s2
from shapely.geometry import LineString

from imagery.change import s2_change, s2_pixel_step
from imagery.detect import DetectParams, detect_aligned
from imagery.flags.vessels import vessel_flags
from imagery.raster import Raster

SIZE = 240
WATER = (0.05, 0.045, 0.025, 0.012)
LAND = (0.10, 0.11, 0.12, 0.15)
DECK = (0.09, 0.10, 0.11, 0.16)


def _ground(*, hull: bool) -> np.ndarray:
    """Open water with a quay along the east edge; with ``hull``, a 130 m ship 12 m wide at
    anchor, lying north-east (a staircase of pixels, nowhere two pixels wide)."""
    ground = np.empty((4, SIZE, SIZE))
    ground[:] = np.array(WATER)[:, None, None]
    ground[:, :, 200:] = np.array(LAND)[:, None, None]
    if hull:
        rows = np.arange(100, 110)
        for k, r in enumerate(rows):
            ground[:, r, 80 - k] = np.array(DECK)
            ground[:, r, 81 - k] = 0.5 * np.array(DECK) + 0.5 * np.array(WATER)
    return ground


def _footprint(scene: Raster) -> gpd.GeoDataFrame:
    """The hull as a single-scene detector outlines it (a polygon two pixels wide)."""
    t = scene.transform
    line = LineString([t * (81.5, 99.5), t * (71.5, 110.5)])
    frame = gpd.GeoDataFrame(
        {"score": [0.9], "length_m": [150.0], "width_m": [20.0], "heading_deg": [45.0]},
        geometry=[line.buffer(10.0, cap_style="flat")],
        crs=scene.crs,
    )
    return frame


def _flags(
    before: Raster,
    after: Raster,
    vessels: gpd.GeoDataFrame,
    *,
    water_cols: int = 200,
    registration_px: float = 0.3,
):
    """``vessels`` of the after date judged new per pixel, with water west of ``water_cols``."""
    water = np.zeros(before.shape, dtype=bool)
    water[:, :water_cols] = True
    usable = before.valid_mask() & after.valid_mask()
    change = s2_change(before, after, strata=water, usable=usable)
    sea = water & usable & change.valid
    pixel = s2_pixel_step(before, after, sea, registration_px=registration_px)
    return vessel_flags(
        vessels,
        vessels.iloc[0:0],
        change,
        before,
        DetectParams(),
        sign=+1.0,
        other_water=water,
        usable=usable,
        scene=after,
        water=water,
        pixel=pixel,
    )


def test_a_hull_one_pixel_wide_at_anchor_is_one_new_vessel():
    before = blurred_s2(_ground(hull=False), 1, 1, blur_px=0.4)
    after = blurred_s2(_ground(hull=True), 11, 2, blur_px=0.4)
    flags = _flags(before, after, _footprint(after))
    assert len(flags) == 1 and 110 <= flags.iloc[0].length_m <= 180


def test_the_pipeline_flags_the_thin_hull_and_its_departure():
    quiet = blurred_s2(_ground(hull=False), 1, 1, blur_px=0.4)
    busy = blurred_s2(_ground(hull=True), 11, 2, blur_px=0.4)
    arrived = detect_aligned(quiet, busy, params=DetectParams(min_score=0.0)).detections
    left = detect_aligned(busy, quiet, params=DetectParams(min_score=0.0)).departed
    for flags in (arrived[arrived["kind"] == "vessel"], left):
        centres = [~quiet.transform * (p.x, p.y) for p in flags.geometry.centroid]
        at_anchor = [70 <= c <= 84 and 97 <= r <= 113 for c, r in centres]
        assert sum(at_anchor) == 1
        assert flags.loc[at_anchor, "length_m"].iloc[0] >= 110  # the hull, not a fragment


def _sea(scene: Raster) -> np.ndarray:
    sea = np.zeros(scene.shape, dtype=bool)
    sea[:, :190] = True
    return sea


def test_pixel_step_scores_against_the_water_and_knows_a_shifted_edge():
    ground = _ground(hull=True)
    ground[:, :, :200] += 0.01  # haze over the water on the after date
    before = blurred_s2(_ground(hull=False), 1, 1, blur_px=0.0)
    after = blurred_s2(np.roll(ground, -1, axis=2) * 0.2 + ground * 0.8, 11, 2, blur_px=0.0)
    pixel = s2_pixel_step(before, after, _sea(before), registration_px=0.3)
    assert np.all(np.abs(pixel.level - 0.01) < 0.002)
    assert abs(float(np.median(pixel.z[:, :150]))) < 0.5
    quay_face = pixel.explained[20:90, 199]  # 0.2 px of shift: its water pixel brightened
    assert quay_face.mean() > 0.9 and np.median(pixel.z[20:90, 199]) > 5
    hull = [(r, 80 - k) for k, r in enumerate(range(101, 109))]
    assert not any(pixel.explained[r, c] for r, c in hull)
    assert s2_pixel_step(before, after, np.zeros(before.shape, dtype=bool)) is None


def test_a_vessel_on_a_misregistered_quay_face_is_not_new():
    # The after date's detector outlines the brightened first pixel of water along the
    # quay as a vessel 300 m long: per pixel, the shift explains it.
    before = blurred_s2(_ground(hull=False), 1, 1, blur_px=0.3)
    moved = _ground(hull=False)
    after = blurred_s2(np.roll(moved, -1, axis=2) * 0.2 + moved * 0.8, 11, 2, blur_px=0.3)
    t = after.transform
    strip = gpd.GeoDataFrame(
        {"score": [0.9], "length_m": [300.0], "width_m": [10.0], "heading_deg": [0.0]},
        geometry=[LineString([t * (199.5, 40.0), t * (199.5, 70.0)]).buffer(6.0, cap_style="flat")],
        crs=after.crs,
    )
    for registration_px, expected in ((0.3, 0), (0.0, 1)):
        flags = _flags(before, after, strip, water_cols=201, registration_px=registration_px)
        assert len(flags) == expected


def test_a_ship_is_scored_against_the_water_around_it_not_the_scenes():
    # Haze lifts the after date's water by 0.012 over most of the scene; in the bay to
    # the south-west the water darkened by 0.006 instead. A dim hull there steps 0.02
    # above its own water, only 0.002 above the scene's (noise: 0.005).
    ground = _ground(hull=False)
    ground[:, :, :200] += 0.012
    ground[:, 60:160, :120] -= 0.018
    hull = tuple(np.array([(r, 80 - k) for k, r in enumerate(range(101, 109))]).T)
    ground[(slice(None), *hull)] += 0.02
    before = blurred_s2(_ground(hull=False), 1, 1, blur_px=0.0)
    after = blurred_s2(ground, 11, 2, blur_px=0.0)
    sea = _sea(before)
    local = s2_pixel_step(before, after, sea)
    whole = s2_pixel_step(before, after, sea, reference_m=None)
    assert isinstance(whole.level, float) and abs(whole.level - 0.012) < 0.002
    assert abs(float(local.level[110, 60]) + 0.006) < 0.002  # the bay's own step
    assert abs(float(local.level[20, 60]) - 0.012) < 0.002
    # Above the pair's vessel_change_z (2) against its bay, under it against the scene.
    assert np.median(local.z[hull]) > 3 > 1 > np.median(whole.z[hull])
    with pytest.raises(ValueError, match="reference_m"):
        s2_pixel_step(before, after, sea, reference_m=-720.0)


def _cut(scene: Raster, rows: slice, cols: slice) -> Raster:
    return scene.replace(
        data=scene.data[:, rows, cols],
        transform=scene.transform * Affine.translation(cols.start, rows.start),
    )


def test_a_window_gets_its_tiles_water_reference():
    before = blurred_s2(_ground(hull=False), 1, 1, blur_px=0.0)
    ground = _ground(hull=True)
    ground[:, :, :200] += np.linspace(0.0, 0.02, SIZE)[None, :, None]  # a haze gradient
    after = blurred_s2(ground, 11, 2, blur_px=0.0)
    sea = _sea(before)
    tile = s2_pixel_step(before, after, sea)
    rows, cols = slice(37, 220), slice(11, 190)
    window = s2_pixel_step(
        _cut(before, rows, cols), _cut(after, rows, cols), sea[rows, cols], origin=(37, 11)
    )
    inner = (slice(72 + 37, 220 - 72), slice(72 + 11, 190 - 72))
    inside = (slice(72, 220 - 72 - 37), slice(72, 190 - 72 - 11))
    np.testing.assert_allclose(tile.level[inner], window.level[inside], rtol=0, atol=1e-7)
