"""Every S2 vessel flag of a pair must step between the dates as a hull does, not as
swash or bared sand along a beach does (the berth change search's test, applied to the
flags of each date's candidates as well)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from s2_scenes import blurred_s2
from shapely.geometry import box

from imagery.flags.vessels import s2_not_ships
from imagery.vessels import VesselParams

SIZE = 120
#: Surface reflectance B02 B03 B04 B08 of the sea.
WATER = (0.05, 0.045, 0.025, 0.012)
#: Where a candidate of the after date lies: a hull (B08 steps most), and a strip of
#: beach gone from swash to sand (the visible steps more than B08).
HULL = (slice(30, 45), slice(30, 33))
HULL_STEP = (0.03, 0.05, 0.06, 0.12)
BEACH = (slice(70, 85), slice(30, 33))
BEACH_STEP = (0.045, 0.045, 0.037, 0.022)


def _pair() -> tuple:
    ground = np.empty((4, SIZE, SIZE))
    ground[:] = np.array(WATER)[:, None, None]
    after = ground.copy()
    for where, step in ((HULL, HULL_STEP), (BEACH, BEACH_STEP)):
        after[:, where[0], where[1]] += np.array(step)[:, None, None]
    return blurred_s2(ground, 1, 1, blur_px=0.0), blurred_s2(after, 11, 2, blur_px=0.0)


def _frame(grid) -> gpd.GeoDataFrame:
    t = grid.transform
    boxes = [
        box(
            t.c + w[1].start * 10, t.f - w[0].stop * 10, t.c + w[1].stop * 10, t.f - w[0].start * 10
        )
        for w in (HULL, BEACH)
    ]
    return gpd.GeoDataFrame({"name": ["hull", "beach"]}, geometry=boxes, crs=grid.crs)


def _kept(vessel: VesselParams) -> tuple[list[str], list[str]]:
    before, after = _pair()
    everywhere = np.ones(before.shape, dtype=bool)
    nowhere = np.zeros(before.shape, dtype=bool)
    common = dict(usable=everywhere, vessel=vessel, surf=nowhere, reach=(nowhere, nowhere))
    (arrived,), _ = s2_not_ships([_frame(before)], [], before, after, everywhere, **common)
    # The same objects there on the first date only: departures.
    _, (left,) = s2_not_ships([], [_frame(before)], after, before, everywhere, **common)
    return list(arrived["name"]), list(left["name"])


def test_a_beach_stepping_like_swash_to_sand_is_not_a_ship():
    assert _kept(VesselParams()) == (["hull"], ["hull"])


def test_without_the_foam_test_the_beach_is_kept():
    assert _kept(VesselParams(s2_foam_ratio=0.0)) == (["hull", "beach"], ["hull", "beach"])
