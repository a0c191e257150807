"""S2 ships beside a cumulus: one at anchor in clear water just outside the cloud's
60 m buffer is whole and found; one that runs under the cloud is half hidden and is not
reported, since its length and its very shape are unknown."""

from __future__ import annotations

import numpy as np
import pytest
from s2_scenes import blurred_s2, flagged_at, with_scl

from imagery.detect import DetectParams, detect_aligned
from imagery.raster import Raster
from imagery.vessels import detect_vessels

SIZE = 240
SHORE_COL = 200  # water west of it, quay east
#: Surface reflectance B02 B03 B04 B08.
WATER = (0.05, 0.045, 0.025, 0.012)
QUAY = (0.10, 0.11, 0.12, 0.15)
SCL_CLOUD_HIGH = 9
#: A cumulus 600 m x 500 m, white, which SCL marks.
CLOUD = (slice(20, 80), slice(40, 90))
CLOUD_TOP = (0.55, 0.55, 0.55, 0.57)
DECK = (0.06, 0.07, 0.08, 0.13)
#: A ship 200 m x 30 m at anchor alongside the cloud, 70 m of clear water off its edge:
#: inside the reach of the cloud's 60 m buffer and the two pixels beyond it that tell a
#: ship cut by the mask, but with nothing bright in the buffer beside it.
BESIDE = (slice(30, 50), slice(97, 100))
#: A ship 300 m x 30 m whose bow lies under the cloud: 100 m hidden, 200 m in the open.
UNDER = (slice(70, 100), slice(55, 58))
#: A white superstructure, 40 m, at that ship's stern: far brighter than the deck that
#: runs under the cloud, and nowhere near the cloud.
BRIDGE = (slice(94, 98), slice(55, 58))
WHITE = (0.40, 0.42, 0.42, 0.45)


def _ground(*, cloud: bool, bridge: bool = False) -> np.ndarray:
    ground = np.empty((4, SIZE, SIZE), dtype=np.float64)
    ground[:] = np.array(QUAY)[:, None, None]
    ground[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    if cloud:
        for ship in (BESIDE, UNDER):
            ground[:, ship[0], ship[1]] = np.array(DECK)[:, None, None]
        if bridge:
            ground[:, BRIDGE[0], BRIDGE[1]] = np.array(WHITE)[:, None, None]
        ground[:, CLOUD[0], CLOUD[1]] = np.array(CLOUD_TOP)[:, None, None]
    return ground


def _scene(day: int, seed: int, *, cloud: bool, bridge: bool = False) -> Raster:
    marks = {SCL_CLOUD_HIGH: CLOUD} if cloud else None
    ground = _ground(cloud=cloud, bridge=bridge)
    return with_scl(blurred_s2(ground, day, seed + day), SHORE_COL, marks)


@pytest.mark.parametrize("bridge", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_scene_finds_the_ship_beside_a_cloud_not_the_one_under_it(seed, bridge):
    scene = _scene(11, seed, cloud=True, bridge=bridge)
    found = detect_vessels(scene)
    assert flagged_at(found, scene, BESIDE) == 1
    # Judged by the deck where it meets the mask, not by the white block at its stern.
    assert flagged_at(found, scene, UNDER) == 0


@pytest.mark.parametrize("bridge", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_pair_flags_the_ship_come_beside_a_cloud(seed, bridge):
    before, after = _scene(1, seed, cloud=False), _scene(11, seed, cloud=True, bridge=bridge)
    result = detect_aligned(before, after, params=DetectParams(min_score=0.0))
    new = result.detections[result.detections["kind"] == "vessel"]
    assert flagged_at(new, before, BESIDE) == 1
    assert flagged_at(new, before, UNDER) == 0
