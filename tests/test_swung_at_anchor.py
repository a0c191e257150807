"""A ship at anchor that swung about its anchor between two passes is neither a new
vessel nor a departure."""

from __future__ import annotations

import dataclasses

import numpy as np
from rasterio import features
from s1_scenes import june, speckled_s1
from scipy import ndimage
from shapely import affinity
from shapely.geometry import box

from imagery.detect import DetectParams, detect_aligned

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
