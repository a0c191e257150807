"""S1 ships that moored at (or left) a quay, found from the change they brought."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from s1_scenes import june, speckled_s1
from scipy import ndimage
from shapely.geometry import box

from imagery.change import s1_change
from imagery.detect import DetectParams, detect_aligned
from imagery.flags.berths import berth_changes
from imagery.raster import Raster
from imagery.series import detect_series
from imagery.water import water_mask

SIZE = 200
QUAY_COL = 100  # water west of it, quay and yards east


def _scene(mean: np.ndarray, day: int, seed: int) -> Raster:
    return speckled_s1(mean, june(day), seed)


def _port() -> np.ndarray:
    mean = np.full((SIZE, SIZE), 0.01, dtype=np.float32)
    mean[:, QUAY_COL:] = 0.1
    mean[:, QUAY_COL : QUAY_COL + 2] = 0.6  # the bright quay wall
    return mean


def _pair(*, along: bool = True, across: bool = False):
    before = _port()
    after = before.copy()
    if along:  # 160 m x 30 m alongside the wall, merged with it at this resolution
        after[40:56, QUAY_COL : QUAY_COL + 3] *= 8.0
    if across:  # a crane boom or gangway standing across the shore
        after[150:153, QUAY_COL : QUAY_COL + 16] *= 8.0
    return _scene(before, 1, 1), _scene(after, 13, 2)


def _search(before: Raster, after: Raster, sign: float = 1.0) -> gpd.GeoDataFrame:
    water = water_mask(before) | water_mask(after)
    change = s1_change(before, after, stable=~water)
    usable = before.valid_mask() & after.valid_mask()
    none = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=before.crs), crs=before.crs)
    return berth_changes(change, before, water, usable, none, none, DetectParams(), sign=sign)


def test_a_ship_moored_along_the_quay_is_an_arrival():
    before, after = _pair()
    found = _search(before, after)
    assert len(found) == 1
    ship = found.iloc[0]
    assert 120 <= ship.length_m <= 220 and abs(((ship.heading_deg + 90) % 180) - 90) < 20
    col, row = ~before.transform * (ship.x, ship.y)
    assert 40 <= row <= 56 and QUAY_COL - 2 <= col <= QUAY_COL + 4
    assert ship.kind == "vessel" and 0 < ship.score <= 1


def test_change_across_the_shore_is_not_a_ship():
    before, after = _pair(along=False, across=True)
    assert _search(before, after).empty


def test_the_same_ship_leaving_is_a_departure():
    before, after = _pair()
    assert _search(before, after, sign=-1.0).empty  # it arrived, it did not leave
    gone = _search(after, before, sign=-1.0)
    assert len(gone) == 1


def _berth_rows(*ships: tuple[int, int]) -> np.ndarray:
    mean = _port()
    for first, last in ships:
        mean[first:last, QUAY_COL : QUAY_COL + 3] *= 8.0
    return mean


def _arrival_rows(before: Raster, after: Raster, **options) -> list[float]:
    water = water_mask(before) | water_mask(after)
    change = s1_change(before, after, stable=~water)
    usable = before.valid_mask() & after.valid_mask()
    none = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=before.crs), crs=before.crs)
    found = berth_changes(change, before, water, usable, none, none, DetectParams(**options))
    return [(~before.transform * (p.x, p.y))[1] for p in found.geometry.centroid]


def test_another_ship_at_the_berth_is_an_arrival_the_same_ship_shifted_is_not():
    # A 200 m ship leaves and a 90 m one moors just astern of where it lay: two ships,
    # not one that shifted along the quay, since their lengths differ.
    left = _scene(_berth_rows((40, 60)), 1, 1)
    swap = _scene(_berth_rows((61, 70)), 13, 2)
    assert [r for r in _arrival_rows(left, swap) if 60 <= r <= 71]
    assert _arrival_rows(left, swap, moved_length_tolerance=1.0) == []  # any length: moved
    # A 90 m ship warped its own length along the quay: nothing arrived.
    shifted = _scene(_berth_rows((51, 60)), 1, 1)
    assert _arrival_rows(shifted, swap) == []


def _vessel_rows(result, grid) -> list[float]:
    vessels = result.detections[result.detections["kind"] == "vessel"]
    return [(~grid.transform * (p.x, p.y))[1] for p in vessels.geometry.centroid]


def test_the_pair_pipeline_flags_it_once_and_only_through_this_search():
    before, after = _pair(across=True)
    rows = _vessel_rows(detect_aligned(before, after, params=DetectParams(min_score=0.0)), before)
    assert sum(40 <= r <= 56 for r in rows) == 1
    assert not any(148 <= r <= 155 for r in rows)
    off = DetectParams(min_score=0.0, berth_change_reach_m=0.0)
    rows = _vessel_rows(detect_aligned(before, after, params=off), before)
    assert not any(40 <= r <= 56 for r in rows), "merged with the wall, the CFAR misses it"


def test_a_series_dates_the_mooring():
    # 512 px with textured yards, the same on every date: enough land for the series'
    # co-registration windows.
    size, quay = 512, 256
    texture = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=(size, size)), 3.0)
    quiet = np.full((size, size), 0.01, dtype=np.float32)
    quiet[:, quay:] = 0.1 * np.exp(6.0 * texture[:, quay:])
    quiet[:, quay : quay + 2] = 0.6
    moored = quiet.copy()
    moored[240:256, quay : quay + 3] *= 8.0  # 160 m x 30 m alongside the wall
    scenes = [_scene(quiet, 1, 1), _scene(quiet, 13, 2), _scene(moored, 25, 3)]

    def flagged(**options):
        result = detect_series(scenes, sensor="s1", params=DetectParams(min_score=0.0, **options))
        vessels = result.detections[result.detections["kind"] == "vessel"]
        rows = [(~scenes[0].transform * (p.x, p.y))[1] for p in vessels.geometry.centroid]
        return [i for r, i in zip(rows, vessels["change_index"], strict=True) if 236 <= r <= 260]

    assert flagged() == [2]
    assert flagged(berth_change_reach_m=0.0) == [], "merged with the wall, the CFAR misses it"


def test_a_ship_moored_astern_of_one_that_stayed_is_an_arrival():
    # A 170 m ship lies at the quay on both dates; a 90 m one moors 10 m astern of it.
    # The ship that stayed hides only its own footprint from the search.
    stayed = (40, 57)
    before = _scene(_berth_rows(stayed), 1, 1)
    after = _scene(_berth_rows(stayed, (58, 67)), 13, 2)
    x0, y0 = before.transform * (QUAY_COL - 1, stayed[0])
    x1, y1 = before.transform * (QUAY_COL + 3, stayed[1])
    staying = gpd.GeoDataFrame(geometry=[box(x0, y1, x1, y0)], crs=before.crs)
    water = water_mask(before) | water_mask(after)
    change = s1_change(before, after, stable=~water)
    usable = before.valid_mask() & after.valid_mask()
    found = berth_changes(change, before, water, usable, staying, None, DetectParams())
    rows = [(~before.transform * (p.x, p.y))[1] for p in found.geometry.centroid]
    assert [r for r in rows if 56 <= r <= 69]
    assert not [r for r in rows if r < 54], "the ship that stayed is not an arrival"


def _moored(rows: slice, cols: slice, seed: int = 2) -> tuple[Raster, Raster]:
    after = _port()
    after[rows, cols] *= 8.0
    return _scene(_port(), 1, 1), _scene(after, 13, seed)


def test_a_small_ship_is_elongated_once_the_blur_is_off():
    # 50 m x 20 m: through the 20 m resolution and the 3 x 3 means it measures about as
    # wide as long, and was taken for a round blob.
    for seed in (2, 3, 4):
        before, after = _moored(slice(80, 85), slice(QUAY_COL, QUAY_COL + 2), seed)
        found = _search(before, after)
        rows = [(~before.transform * (p.x, p.y))[1] for p in found.geometry.centroid]
        assert [r for r in rows if 78 <= r <= 87], seed
        ship = found.iloc[0]
        assert ship.width_m > 0.5 * ship.length_m  # as measured, blur and all
        # The hull it reports, with the blur off: about 50 m x 20 m.
        assert 30.0 <= ship.hull_length_m <= 80.0 and ship.hull_width_m <= 30.0, seed


def test_a_square_change_at_the_quay_stays_round():
    # 30 and 40 m squares (a crane's portal, a stack at the wall): with the blur off they
    # are still about as wide as long. (A square wider than the 50 m the search reaches
    # inland is cut to a strip by it, and no shape test can tell that strip from a hull.)
    for side in (3, 4):
        for seed in (2, 3, 4):
            before, after = _moored(slice(80, 80 + side), slice(QUAY_COL, QUAY_COL + side), seed)
            assert _search(before, after).empty, (side, seed)
