"""A ship at anchor that swung about its anchor between two passes is neither a new
vessel nor a departure."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
from rasterio import features
from s1_scenes import june, speckled_s1
from scipy import ndimage
from shapely import affinity
from shapely.geometry import box

from imagery.detect import DetectParams, detect_aligned
from imagery.flags.vessels import _swung

SIZE = 256
LAND_COL = 220  # land east of it
ANCHOR = (100.0, 100.0)  # col, row of the bow: the ship swings about it
LENGTH_PX, BEAM_PX = 16.0, 3.0  # 160 m x 30 m


def _hull(heading_deg: float):
    """The hull in pixel coordinates, bow at the anchor, stern towards ``heading_deg``
    (counter-clockwise from east)."""
    col, row = ANCHOR
    hull = box(col, row - BEAM_PX / 2, col + LENGTH_PX, row + BEAM_PX / 2)
    return affinity.rotate(hull, heading_deg, origin=(col, row))


def _scene(heading_deg: float, day: int, seed: int):
    mean = np.full((SIZE, SIZE), 0.01)  # -20 dB sea
    mean[:, LAND_COL:] = 0.15
    ship = features.rasterize([(_hull(heading_deg), 1)], out_shape=mean.shape).astype(bool)
    mean[ship] = 1.0
    return speckled_s1(ndimage.gaussian_filter(mean, 0.9), june(day), seed)


def _flags(params: DetectParams):
    result = detect_aligned(_scene(0.0, 1, 21), _scene(-70.0, 13, 22), params=params)
    new = result.detections[result.detections["kind"] == "vessel"]
    return new, result.departed, result


def test_a_ship_swung_at_anchor_is_not_new_nor_departed():
    new, departed, result = _flags(DetectParams())
    # Both dates see the ship.
    assert len(result.vessels_before) == 1 and len(result.vessels_after) == 1
    assert new.empty
    assert departed.empty


def test_without_the_swing_test_the_swept_water_is_flagged():
    new, departed, _ = _flags(dataclasses.replace(DetectParams(), swing_length_tolerance=0.0))
    assert len(new) + len(departed) >= 1


# -- the test itself, on footprints ---------------------------------------------------


def _frame(grid, hulls):
    """Vessels from hulls in pixel coordinates (col, row), on ``grid``'s CRS."""
    world = [affinity.affine_transform(h, grid.transform.to_shapely()) for h in hulls]
    lengths = [max(h.bounds[2] - h.bounds[0], h.bounds[3] - h.bounds[1]) * 10.0 for h in hulls]
    return gpd.GeoDataFrame(
        {"length_m": lengths}, geometry=world, crs=grid.crs, index=[7, 3][: len(hulls)]
    )


def _land(col: int | None = None):
    land = np.zeros((SIZE, SIZE), dtype=bool)
    if col is not None:
        land[:, col:] = True
    return land


def test_the_swing_test_needs_touching_hulls_of_similar_length_afloat():
    grid = _scene(0.0, 1, 21)
    params = DetectParams()
    before = _frame(grid, [_hull(0.0)])
    # Bow at col 100: the stern of the swung ship reaches col 116.
    assert _swung(_frame(grid, [_hull(-70.0)]), before, _land(), grid, params).tolist() == [True]
    # Land 2 px beyond the stern: a berth, not an anchorage.
    assert not _swung(_frame(grid, [_hull(-70.0)]), before, _land(118), grid, params).any()
    # Half the length: another ship.
    short = affinity.scale(_hull(-70.0), 0.5, 0.5, origin=ANCHOR)
    assert not _swung(_frame(grid, [short]), before, _land(), grid, params).any()
    # Apart: another ship.
    apart = affinity.translate(_hull(0.0), 0.0, 40.0)
    assert not _swung(_frame(grid, [apart]), before, _land(), grid, params).any()


def test_a_berthed_ship_touching_two_of_the_other_dates_ships_is_not_swung():
    """Each hull is measured on its own: overlapping hulls must not hide the land."""
    grid = _scene(0.0, 1, 21)
    quay = 118
    ship = box(quay - 6, 80, quay, 96)  # 160 m x 60 m, alongside the quay
    # Two ships rafted outside it, clear of the quay.
    others = _frame(grid, [box(quay - 12, 78, quay - 6, 94), box(quay - 12, 82, quay - 6, 98)])
    found = _swung(_frame(grid, [ship]), others, _land(quay), grid, DetectParams())
    assert not found.any()
