"""S2 pairs where the date without a ship lies in a cloud's shadow: a barge moored off the
quay on both dates, dimmed on one, is not a new ship; a ship that came to anchor out on
the water under that shadow is."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from s2_scenes import blurred_s2, with_scl
from s2_scenes import flagged_at as _flagged

from imagery.detect import DetectParams, detect_aligned
from imagery.raster import Raster
from imagery.sensors import SCL_CLOUD_SHADOW

SIZE = 240
SHORE_COL = 180  # water west of it, quay east
#: Surface reflectance B02 B03 B04 B08.
WATER = (0.05, 0.045, 0.025, 0.012)
QUAY = (0.10, 0.11, 0.12, 0.15)
#: A barge 120 m x 20 m, 40 m off the quay face, there on both dates. In the shadow its
#: near-infrared step over the water (0.4 x 0.048) is under ``s2_min_contrast``: the
#: shadowed date's own search does not find it.
BARGE = (slice(60, 72), slice(SHORE_COL - 6, SHORE_COL - 4))
BARGE_DECK = (0.07, 0.07, 0.07, 0.06)
#: A ship 150 m x 30 m at anchor 1.2 km out, on the after date only.
SHIP = (slice(110, 125), slice(SHORE_COL - 123, SHORE_COL - 120))
SHIP_DECK = (0.09, 0.10, 0.11, 0.14)
#: Diffuse light only in a cloud's shadow: about 0.4 of the sunlit reflectance.
SHADOW = (slice(20, 160), slice(30, 230))
SHADOW_FACTOR = 0.4
#: The shadow rule off. So is the test of each flag's step between the dates (foam's
#: ratio), which the barge's dimmed grey deck also fails: the rule alone is tested.
WITHOUT_THE_RULE = DetectParams(
    min_score=0.0,
    shadow_shore_m=0.0,
    vessel=dataclasses.replace(DetectParams().vessel, s2_foam_ratio=0.0),
)


def _ground(*, ship: bool) -> np.ndarray:
    ground = np.empty((4, SIZE, SIZE), dtype=np.float64)
    ground[:] = np.array(QUAY)[:, None, None]
    ground[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    ground[:, BARGE[0], BARGE[1]] = np.array(BARGE_DECK)[:, None, None]
    if ship:
        ground[:, SHIP[0], SHIP[1]] = np.array(SHIP_DECK)[:, None, None]
    return ground


def _with_scl(scene: Raster, *, shadow: bool) -> Raster:
    return with_scl(scene, SHORE_COL, {SCL_CLOUD_SHADOW: SHADOW} if shadow else None)


def _pair(seed: int, *, shadow_on: str) -> tuple[Raster, Raster]:
    dates = {}
    for name, day, ship in (("before", 1, False), ("after", 11, True)):
        ground = _ground(ship=ship)
        if name == shadow_on:
            ground[:, SHADOW[0], SHADOW[1]] *= SHADOW_FACTOR
        scene = blurred_s2(ground, day, seed + day)
        dates[name] = _with_scl(scene, shadow=name == shadow_on)
    return dates["before"], dates["after"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_barge_dimmed_by_a_cloud_shadow_on_the_first_date_is_not_a_new_ship(seed):
    before, after = _pair(seed, shadow_on="before")
    result = detect_aligned(before, after, params=DetectParams(min_score=0.0))
    vessels = result.detections[result.detections["kind"] == "vessel"]
    assert _flagged(result.vessels_after, before, BARGE) == 1  # the lit date sees it
    assert _flagged(result.vessels_before, before, BARGE) == 0  # the shadowed one does not
    assert _flagged(vessels, before, BARGE) == 0
    # Out on open water the shadow only dims the water: the ship that came is new.
    assert _flagged(vessels, before, SHIP) == 1
    # Without the rule the barge steps like an arrival.
    anywhere = detect_aligned(before, after, params=WITHOUT_THE_RULE).detections
    assert _flagged(anywhere[anywhere["kind"] == "vessel"], before, BARGE) == 1


def test_a_barge_dimmed_by_a_cloud_shadow_on_the_second_date_has_not_left():
    before, after = _pair(1, shadow_on="after")
    result = detect_aligned(before, after, params=DetectParams(min_score=0.0))
    assert _flagged(result.vessels_before, before, BARGE) == 1
    assert _flagged(result.departed, before, BARGE) == 0
    anywhere = detect_aligned(before, after, params=WITHOUT_THE_RULE).departed
    assert _flagged(anywhere, before, BARGE) == 1


def test_a_window_of_open_sea_has_no_shore_to_dim():
    # All water (a tile's window far out at sea, or a swath edge of nodata beside it):
    # a ship arriving under the shadow is still judged.
    from imagery.flags.masks import pair_masks

    before, after = _pair(1, shadow_on="before")
    water = np.ones(before.shape, dtype=bool)
    masks = pair_masks(before, after, water, DetectParams())
    assert masks.arrivals[SHADOW].all()
    # The swath ends at the shore: nodata is not land.
    water[:, SHORE_COL:] = False
    nodata = before.data.copy()
    nodata[:4, :, SHORE_COL:] = np.nan
    masks = pair_masks(before.replace(data=nodata), after, water, DetectParams())
    assert masks.arrivals[SHADOW][:, : SHORE_COL - SHADOW[1].start].all()


def test_a_series_judges_shadow_as_a_pair_does():
    from test_series_s2 import _textured

    from imagery.series import detect_series

    grounds = [_ground(ship=False), _ground(ship=True), _ground(ship=True)]
    grounds[0][:, SHADOW[0], SHADOW[1]] *= SHADOW_FACTOR
    scenes = [
        _with_scl(blurred_s2(_textured(g, SHORE_COL), day, seed), shadow=i == 0)
        for i, (g, day, seed) in enumerate(zip(grounds, (1, 11, 21), (2, 12, 22), strict=True))
    ]

    def barge_and_ship(params: DetectParams) -> tuple[int, int]:
        found = detect_series(scenes, sensor="s2", params=params).detections
        found = found[found["kind"] == "vessel"]
        return _flagged(found, scenes[0], BARGE), _flagged(found, scenes[0], SHIP)

    assert barge_and_ship(DetectParams(min_score=0.0)) == (0, 1)
    assert barge_and_ship(WITHOUT_THE_RULE)[0] == 1
