"""S2 hulls one or two pixels wide: the pair pipeline judges their change per pixel."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from s2_scenes import blurred_s2
from shapely.geometry import LineString

from imagery.change import s2_change, s2_pixel_step
from imagery.detect import DetectParams, detect_aligned, vessel_flags
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


def _flags(before: Raster, after: Raster, *, per_pixel: bool):
    water = np.zeros(before.shape, dtype=bool)
    water[:, :200] = True
    usable = before.valid_mask() & after.valid_mask()
    change = s2_change(before, after, strata=water, usable=usable)
    pixel = s2_pixel_step(before, after, water & usable & change.valid) if per_pixel else None
    none = _footprint(before).iloc[0:0]
    return vessel_flags(
        _footprint(after),
        none,
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


def test_a_hull_one_pixel_wide_at_anchor_is_one_new_vessel_when_judged_per_pixel():
    before = blurred_s2(_ground(hull=False), 1, 1, blur_px=0.4)
    after = blurred_s2(_ground(hull=True), 11, 2, blur_px=0.4)
    flags = _flags(before, after, per_pixel=True)
    assert len(flags) == 1 and 90 <= flags.iloc[0].length_m <= 180
    # On the change test's 3 x 3 means and 2 x 2 pieces it falls apart into fragments
    # where the staircase turns (two flags for one ship, neither its length).
    fragments = _flags(before, after, per_pixel=False)
    assert not (len(fragments) == 1 and fragments.iloc[0].length_m >= 90)


def test_the_pipeline_flags_the_thin_hull_and_its_departure():
    quiet = blurred_s2(_ground(hull=False), 1, 1, blur_px=0.4)
    busy = blurred_s2(_ground(hull=True), 11, 2, blur_px=0.4)
    arrived = detect_aligned(quiet, busy, params=DetectParams(min_score=0.0)).detections
    left = detect_aligned(busy, quiet, params=DetectParams(min_score=0.0)).departed
    for flags in (arrived[arrived["kind"] == "vessel"], left):
        centres = [~quiet.transform * (p.x, p.y) for p in flags.geometry.centroid]
        assert sum(70 <= c <= 84 and 97 <= r <= 113 for c, r in centres) == 1
