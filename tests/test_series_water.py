"""The water of a pair: smooth pavement as dark as a windy sea stays land; a berth
a ship moored on stays water."""

from __future__ import annotations

import dataclasses

import numpy as np
from s1_scenes import june, speckled_s1
from scipy import ndimage

from imagery.detect import DetectParams, detect_aligned
from imagery.sensors import prepare
from imagery.water import series_water, water_mask

SIZE = 240
SHORE_COL = 60  # sea west of it
YARD_END_COL = 150  # a paved yard, then brighter built-up land
STACK = (slice(100, 107), slice(100, 105))  # 70 m x 50 m on the yard
SHIP = (slice(150, 180), slice(53, 59))  # 300 m x 60 m along the shore, on the sea


def _lin(db):
    return 10.0 ** (np.asarray(db) / 10.0)


def _pair():
    """Before: a windy sea (-15 to -12 dB down the scene) brighter than the yard (-17.5
    dB); after: a calm sea (-23 dB), a stack on the yard and a ship moored on the sea
    along the shore. Built-up land east of the yard, -11 to -3 dB."""
    before = np.zeros((SIZE, SIZE))
    before[:, YARD_END_COL:] = _lin(np.linspace(-11.0, -3.0, SIZE - YARD_END_COL))[None, :]
    before[:, SHORE_COL:YARD_END_COL] = _lin(-17.5)
    after = before.copy()
    before[:, :SHORE_COL] = _lin(np.linspace(-15.0, -12.0, SIZE))[:, None]
    after[:, :SHORE_COL] = _lin(-23.0)
    after[STACK] *= 8.0
    after[SHIP] = _lin(-3.0)
    return [
        prepare(speckled_s1(ndimage.gaussian_filter(m, 0.9), june(day), seed), "s1")
        for m, day, seed in ((before, 1, 11), (after, 13, 12))
    ]


def test_a_yard_as_dark_as_the_windy_sea_is_land_of_the_pair():
    scenes = _pair()
    waters = [water_mask(s, enclosed=False) for s in scenes]
    yard = (slice(20, 220), slice(SHORE_COL + 8, YARD_END_COL - 8))
    # The premise: under the windy date's split the yard is "water".
    assert waters[0][yard].mean() > 0.5
    assert waters[1][yard].mean() < 0.1
    pair = series_water(scenes, waters)
    assert pair[yard].mean() < 0.05
    assert pair[STACK].mean() == 0.0
    # The sea, and the berth the ship moored on, are water of the pair.
    assert pair[20:220, 5 : SHORE_COL - 5].mean() > 0.98
    assert pair[SHIP].mean() > 0.9
    # inf, and enclosed water kept: the plain union of the masks.
    union = series_water(scenes, waters, stable_db=np.inf, enclosed=False)
    assert np.array_equal(union, waters[0] | waters[1])


def test_the_stack_on_the_yard_is_flagged_as_cargo():
    before, after = _pair()

    def cargo_rows_cols(params):
        found = detect_aligned(before, after, params=params).detections
        cargo = found[found["kind"] == "cargo"]
        return [(~before.transform * (p.x, p.y))[::-1] for p in cargo.geometry.centroid]

    def near_stack(cells):
        return any(abs(r - 103.5) <= 3 and abs(c - 102.5) <= 3 for r, c in cells)

    assert near_stack(cargo_rows_cols(DetectParams()))
    # With the union of the masks the yard is water and the stack is never searched.
    assert not near_stack(
        cargo_rows_cols(dataclasses.replace(DetectParams(), water_stable_db=np.inf))
    )


def test_an_overall_calibration_difference_is_not_change():
    before, after = _pair()
    brighter = after.replace(data=after.data * np.float32(10 ** (4.0 / 10)))  # +4 dB
    waters = [water_mask(s, enclosed=False) for s in (before, brighter)]
    yard = (slice(20, 220), slice(SHORE_COL + 8, YARD_END_COL - 8))
    assert waters[0][yard].mean() > 0.5 and waters[1][yard].mean() < 0.1
    assert series_water([before, brighter], waters)[yard].mean() < 0.05


def test_a_date_without_data_gives_no_evidence():
    before, after = _pair()
    third = after.data.copy()
    third[:, : SIZE // 2] = np.nan  # half the scene missing, the yard's west half too
    gap = after.replace(data=third)
    waters = [water_mask(s, enclosed=False) for s in (before, after, gap)]
    yard = (slice(20, 220), slice(SHORE_COL + 8, YARD_END_COL - 8))
    assert series_water([before, after, gap], waters)[yard].mean() < 0.05
