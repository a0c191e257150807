"""S2 pairs with a cumulus on one date: a detached puff beside it, which SCL leaves
unmarked, is not a ship that came or left; ships beside the cloud, one of them under
a veil of cirrus, still are."""

from __future__ import annotations

import numpy as np
import pytest
from s2_scenes import blurred_s2, with_scl
from s2_scenes import flagged_at as _flagged

import imagery.clouds
from imagery.detect import DetectParams, detect_aligned
from imagery.raster import Raster

SIZE = 240
SHORE_COL = 200  # water west of it, quay east
#: Surface reflectance B02 B03 B04 B08.
WATER = (0.05, 0.045, 0.025, 0.012)
QUAY = (0.10, 0.11, 0.12, 0.15)
SCL_CLOUD_HIGH = 9
SCL_CIRRUS = 10
#: A cumulus 600 m x 500 m (SCL cloud), white.
CLOUD = (slice(20, 80), slice(40, 90))
CLOUD_TOP = (0.55, 0.55, 0.55, 0.57)
#: A detached puff 70 m x 20 m, 120 m off the cloud: thin, it adds about 0.08 to every
#: band (Mie scattering is white), and SCL does not mark it.
PUFF = (slice(92, 99), slice(60, 62))
PUFF_VEIL = 0.08
#: A ship 150 m x 30 m at anchor 200 m off the cloud, and a blue-hulled one 120 m x 20 m
#: 150 m off it under thin cirrus, which adds 0.035 to every band over the ship and the
#: water around it alike (under the haze test's 0.04). Blue paint steps 1.8 times as much
#: in B08 as in B02 over water; with the veil's step on both, 1.45 times: flat, unless
#: the veil's step over the water around the ship is taken off.
SHIP = (slice(100, 115), slice(110, 113))
SHIP_DECK = (0.09, 0.10, 0.11, 0.14)
BLUE = (slice(40, 52), slice(115, 117))
BLUE_HULL = (0.10, 0.09, 0.065, 0.10)
CIRRUS = (slice(25, 70), slice(105, 130))
CIRRUS_VEIL = 0.035


def _ground(*, cloud: bool) -> np.ndarray:
    ground = np.empty((4, SIZE, SIZE), dtype=np.float64)
    ground[:] = np.array(QUAY)[:, None, None]
    ground[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    if cloud:
        ground[:, SHIP[0], SHIP[1]] = np.array(SHIP_DECK)[:, None, None]
        ground[:, BLUE[0], BLUE[1]] = np.array(BLUE_HULL)[:, None, None]
        ground[:, CIRRUS[0], CIRRUS[1]] += CIRRUS_VEIL
        ground[:, CLOUD[0], CLOUD[1]] = np.array(CLOUD_TOP)[:, None, None]
        ground[:, PUFF[0], PUFF[1]] += PUFF_VEIL
    return ground


def _with_scl(scene: Raster, *, cloud: bool) -> Raster:
    marks = {SCL_CIRRUS: CIRRUS, SCL_CLOUD_HIGH: CLOUD} if cloud else None
    return with_scl(scene, SHORE_COL, marks)


def _scene(day: int, seed: int, *, cloud: bool) -> Raster:
    return _with_scl(blurred_s2(_ground(cloud=cloud), day, seed + day), cloud=cloud)


def _vessels(frame):
    return frame[frame["kind"] == "vessel"] if len(frame) else frame


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_puff_beside_a_cloud_is_not_a_new_ship(seed, monkeypatch):
    before, after = _scene(1, seed, cloud=False), _scene(11, seed, cloud=True)
    params = DetectParams(min_score=0.0)
    found = _vessels(detect_aligned(before, after, params=params).detections)
    assert _flagged(found, before, PUFF) == 0
    assert _flagged(found, before, SHIP) == 1
    # Under the cirrus the deck's own step is a hull's: the veil is the water's too.
    assert _flagged(found, before, BLUE) == 1
    # Without the rule the puff passes every test of a hull.
    monkeypatch.setattr(imagery.clouds, "S2_PUFF_MAX_RATIO", -np.inf)
    found = _vessels(detect_aligned(before, after, params=params).detections)
    assert _flagged(found, before, PUFF) == 1


def test_a_puff_beside_a_cloud_on_the_first_date_has_not_left(monkeypatch):
    before, after = _scene(1, 4, cloud=True), _scene(11, 4, cloud=False)
    params = DetectParams(min_score=0.0)
    departed = detect_aligned(before, after, params=params).departed
    assert _flagged(departed, before, PUFF) == 0
    assert _flagged(departed, before, SHIP) == 1
    monkeypatch.setattr(imagery.clouds, "S2_PUFF_MAX_RATIO", -np.inf)
    departed = detect_aligned(before, after, params=params).departed
    assert _flagged(departed, before, PUFF) == 1


def test_a_white_ship_far_from_the_cloud_is_still_found(monkeypatch):
    # The rule holds within a cloud's reach only: a white deck steps flat as well.
    white_ship = (slice(180, 195), slice(150, 153))  # 1.1 km from the cumulus
    ground_after = _ground(cloud=True)
    ground_after[:, white_ship[0], white_ship[1]] = np.array((0.32, 0.33, 0.33, 0.34))[
        :, None, None
    ]
    before = _scene(1, 5, cloud=False)
    after = _with_scl(blurred_s2(ground_after, 11, 6), cloud=True)
    params = DetectParams(min_score=0.0)
    found = _vessels(detect_aligned(before, after, params=params).detections)
    assert _flagged(found, before, white_ship) == 1
    assert _flagged(found, before, PUFF) == 0
    # Were the whole scene within reach, it would be taken for a puff.
    monkeypatch.setattr(imagery.clouds, "S2_SCL_FRAGMENT_M", 5000.0)
    found = _vessels(detect_aligned(before, after, params=params).detections)
    assert _flagged(found, before, white_ship) == 0


def test_a_series_drops_puffs_as_the_pair_does(monkeypatch):
    from test_series_s2 import _textured

    from imagery.series import detect_series

    grounds = [_ground(cloud=False), _ground(cloud=True), _ground(cloud=False)]
    scenes = [
        _with_scl(blurred_s2(_textured(g, SHORE_COL), day, seed), cloud=i == 1)
        for i, (g, day, seed) in enumerate(zip(grounds, (1, 11, 21), (2, 12, 22), strict=True))
    ]

    def puff_flags() -> tuple[int, int]:
        result = detect_series(scenes, sensor="s2", params=DetectParams(min_score=0.0))
        new = _vessels(result.detections)
        return _flagged(new, scenes[0], PUFF), _flagged(result.departed, scenes[0], PUFF)

    assert puff_flags() == (0, 0)
    monkeypatch.setattr(imagery.clouds, "S2_PUFF_MAX_RATIO", -np.inf)
    assert puff_flags() == (1, 1)


@pytest.mark.parametrize("seed", [1, 2])
def test_one_scene_reports_no_puff_beside_a_cloud(seed, monkeypatch):
    from imagery.vessels import detect_vessels

    scene = _scene(11, seed, cloud=True)
    found = detect_vessels(scene)
    assert _flagged(found, scene, PUFF) == 0
    assert _flagged(found, scene, SHIP) == 1
    assert _flagged(found, scene, BLUE) == 1
    assert list(found["id"]) == list(range(1, len(found) + 1))
    monkeypatch.setattr(imagery.clouds, "S2_PUFF_MAX_RATIO", -np.inf)
    assert _flagged(detect_vessels(scene), scene, PUFF) == 1


def test_a_veil_over_the_water_around_a_hull_is_taken_off():
    import geopandas as gpd
    from shapely.geometry import box

    from imagery.clouds import cloud_fragments

    grid = blurred_s2(_ground(cloud=False), 1, 1, blur_px=0.0)
    water = np.zeros(grid.shape, dtype=bool)
    water[:, :SHORE_COL] = True
    hull = (slice(100, 112), slice(60, 62))
    t = grid.transform
    footprint = box(t.c + 60 * 10, t.f - 112 * 10, t.c + 62 * 10, t.f - 100 * 10)
    frame = gpd.GeoDataFrame(geometry=[footprint], crs=grid.crs)
    reach = np.ones(grid.shape, dtype=bool)

    def is_puff(veil: tuple[slice, slice]) -> bool:
        steps = {}
        for name, hull_value, sea in (("B02", 0.10, WATER[0]), ("B08", 0.10, WATER[3])):
            step = np.zeros(grid.shape, dtype=np.float32)
            step[hull] = hull_value - sea  # blue paint where there was water
            step[veil] += CIRRUS_VEIL
            steps[name] = step
        return bool(cloud_fragments(frame, steps, water, reach, grid)[0])

    # Blue paint alone steps 1.8 times as much in B08 as in B02: a hull.
    assert not is_puff((slice(0, 0), slice(0, 0)))
    # Under cirrus that veils the water around it as well: still a hull.
    assert not is_puff((slice(80, 130), slice(40, 80)))
    # The same step with the water around it clear: flat, a puff.
    assert is_puff(hull)
    # Beyond the cloud's reach nothing is a puff.
    reach[:] = False
    assert not is_puff(hull)
    # With no water around it (a dock filled in, a window's edge) it is undecided.
    reach[:] = True
    water[:] = False
    assert not is_puff(hull)


def test_without_scl_the_cloud_itself_gives_the_reach(monkeypatch):
    # A source without L2A's scene classification: the cumulus is found from the imagery
    # (thick, flat and large), and the puff beside it is still not a ship.
    def no_scl(scene: Raster) -> Raster:
        return scene.select([b for b in scene.band_names if b != "SCL"])

    before, after = no_scl(_scene(1, 9, cloud=False)), no_scl(_scene(11, 9, cloud=True))
    params = DetectParams(min_score=0.0)
    found = _vessels(detect_aligned(before, after, params=params).detections)
    assert _flagged(found, before, PUFF) == 0
    assert _flagged(found, before, SHIP) == 1
    monkeypatch.setattr(imagery.clouds, "S2_PUFF_MAX_RATIO", -np.inf)
    found = _vessels(detect_aligned(before, after, params=params).detections)
    assert _flagged(found, before, PUFF) == 1
