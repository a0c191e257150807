"""Single-scene vessel detection: planted ships found, look-alikes not, sizes on the ground.

Synthetic scenes are small (a few hundred pixels) and built here: a straight quay
with a pier, a ship berthed against the quay and one at anchor, on a Web Mercator grid
for Sentinel-2 (where a 10-unit pixel is 8.19 m on the ground at 35 N) and on UTM for
Sentinel-1. The last test runs on the real Honolulu scene of ../shared/data/sen2ships.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from s1_scenes import speckled_s1
from scipy import ndimage

from imagery import clouds
from imagery.clouds import s2_clouds
from imagery.errors import InputError
from imagery.evaluation import coco_masks, match_points_to_masks
from imagery.grid import ground_pixel_size
from imagery.io import read_raster
from imagery.raster import Raster
from imagery.sensors import prepare_s2
from imagery.vessels import (
    VesselParams,
    detect_vessels,
    detect_vessels_each,
    directional_runs,
    s2_berths,
    s2_surf,
    shore_protrusions,
)
from imagery.vessels.common import opening
from imagery.water import water_mask

SEN2SHIPS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sen2ships"

# -- Sentinel-2 synthetic port ----------------------------------------------------------------

#: Surface reflectance B02 B03 B04 B08.
WATER = (0.05, 0.045, 0.025, 0.012)
QUAY = (0.14, 0.15, 0.16, 0.20)
RED_HULL = (0.06, 0.07, 0.20, 0.26)
GREY_HULL = (0.09, 0.10, 0.10, 0.12)
FOAM = (0.35, 0.36, 0.34, 0.20)
CLOUD = (0.45, 0.45, 0.46, 0.48)
PIXEL_M = 10.0 * np.cos(np.radians(35.0))  # a Web Mercator pixel at 35 N, on the ground
Y_35N = 4_163_881.0  # EPSG:3857 northing of 35 N


def px(metres: float) -> int:
    return round(metres / PIXEL_M)


QUAY_COL = px(600)  # the quay face runs north-south
PIER = (slice(px(500), px(500) + px(40)), slice(QUAY_COL, QUAY_COL + px(300)))
BERTHED = (slice(px(1000), px(1000) + px(200)), slice(QUAY_COL, QUAY_COL + px(30)))
ANCHORED = (slice(px(1500), px(1500) + px(25)), slice(px(1800), px(1800) + px(150)))


def s2_layout(size: int = 400) -> np.ndarray:
    """Reflectance (band, row, col) of the synthetic port before blur and noise."""
    materials = np.zeros((size, size), dtype=np.int8)
    materials[:, :QUAY_COL] = 1
    materials[PIER] = 1
    materials[BERTHED] = 2
    materials[ANCHORED] = 3
    table = np.array([WATER, QUAY, RED_HULL, GREY_HULL], dtype=np.float32)
    return table[materials].transpose(2, 0, 1)


def s2_scene(reflectance: np.ndarray, *, seed: int = 0, scl: np.ndarray | None = None) -> Raster:
    """Blur (the 10 m point spread) and noise a reflectance stack into a prepared scene."""
    rng = np.random.default_rng(seed)
    data = np.stack([ndimage.gaussian_filter(b, 0.6) for b in reflectance])
    data = np.clip(data + rng.normal(0.0, 0.004, data.shape), 0.0, None).astype(np.float32)
    names = ("B02", "B03", "B04", "B08")
    if scl is not None:
        data = np.concatenate([data, scl[None].astype(np.float32)])
        names = (*names, "SCL")
    return Raster(
        data=data,
        transform=from_origin(14_300_000.0, Y_35N, 10.0, 10.0),
        crs="EPSG:3857",
        nodata=float("nan"),
        time=datetime(2024, 5, 1, 2, 0, tzinfo=UTC),
        sensor="s2",
        band_names=names,
    )


def rows_cols(frame, scene: Raster) -> np.ndarray:
    cols, rows = ~scene.transform * (frame["x"].to_numpy(), frame["y"].to_numpy())
    return np.column_stack([rows - 0.5, cols - 0.5])


def inside(found, scene: Raster, where: tuple[slice, slice], margin: int = 2) -> np.ndarray:
    """Which detections are centred in ``where`` (grown by ``margin`` pixels)."""
    rc = rows_cols(found, scene)
    r, c = where
    return (
        (rc[:, 0] >= r.start - margin)
        & (rc[:, 0] < r.stop + margin)
        & (rc[:, 1] >= c.start - margin)
        & (rc[:, 1] < c.stop + margin)
    )


@pytest.fixture(scope="module")
def port() -> tuple[Raster, object]:
    scene = s2_scene(s2_layout())
    return scene, detect_vessels(scene)


def test_s2_ship_at_anchor_and_ship_berthed_against_the_quay_are_found(port):
    scene, found = port
    afloat = found[inside(found, scene, ANCHORED)]
    berthed = found[inside(found, scene, BERTHED)]
    assert len(afloat) == 1 and afloat["setting"].iloc[0] == "afloat"
    assert len(berthed) == 1 and berthed["setting"].iloc[0] == "berthed"
    assert afloat["score"].iloc[0] > berthed["score"].iloc[0] > 0.5


def test_s2_pier_and_straight_bright_quay_are_not_vessels(port):
    scene, found = port
    assert not inside(found, scene, PIER, margin=3).any()
    # Nothing but the two ships: the long straight quay face yields no detection.
    assert len(found) == 2


def test_s2_sizes_are_ground_metres_on_a_web_mercator_grid(port):
    scene, found = port
    assert np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)) == pytest.approx(
        PIXEL_M, rel=1e-3
    )
    ship = found[inside(found, scene, ANCHORED)].iloc[0]
    # 150 m x 25 m, blurred by the point spread; in CRS units it would read 183 m.
    assert 140 < ship["length_m"] < 175
    assert 20 < ship["width_m"] < 50
    assert abs(ship["heading_deg"] - 90.0) < 5.0
    berthed = found[inside(found, scene, BERTHED)].iloc[0]
    assert 180 < berthed["length_m"] < 240
    assert min(berthed["heading_deg"], 180 - berthed["heading_deg"]) < 5  # along the quay


def test_s2_frame_has_the_published_columns(port):
    _, found = port
    for column in (
        "id",
        "score",
        "length_m",
        "width_m",
        "heading_deg",
        "lon",
        "lat",
        "time",
        "area_m2",
        "x",
        "y",
        "geometry",
    ):
        assert column in found.columns
    assert found.crs == "EPSG:3857"
    assert list(found["id"]) == [1, 2]
    assert 34.9 < found["lat"].min() < 35.0


def _cloud_with_fragments(reflectance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A thick cloud over the water, with detached ship-sized puffs along its edge."""
    rows, cols = np.indices(reflectance.shape[1:])
    centre, radius = (px(800), px(2400)), px(250)
    alpha = np.clip((radius - np.hypot(rows - centre[0], cols - centre[1])) / px(100), 0, 1)
    puffs = np.zeros_like(alpha)
    for angle in np.radians([200, 250, 290]):
        r = int(centre[0] + (radius + px(40)) * np.sin(angle))
        c = int(centre[1] + (radius + px(40)) * np.cos(angle))
        puffs[r - px(20) : r + px(20), c - px(60) : c + px(60)] = 0.6
    alpha = np.maximum(alpha, ndimage.gaussian_filter(puffs, 1.0))
    cloud = np.array(CLOUD, dtype=np.float32)[:, None, None]
    return reflectance * (1 - alpha) + cloud * alpha, alpha


def test_s2_cloud_and_its_fragments_are_not_vessels(monkeypatch):
    reflectance, alpha = _cloud_with_fragments(s2_layout())
    scene = s2_scene(reflectance)
    found = detect_vessels(scene)
    rc = np.round(rows_cols(found, scene)).astype(int)
    assert (alpha[rc[:, 0], rc[:, 1]] < 0.05).all()
    assert inside(found, scene, ANCHORED).any() and inside(found, scene, BERTHED).any()
    # The fragments are bright, solid-looking and ship-sized: only the cloud test
    # (flat brightening in patches larger than a deck, and its buffer) drops them.
    monkeypatch.setattr(clouds, "S2_HAZE_MIN_AREA_M2", 1e12)
    monkeypatch.setattr(clouds, "S2_CLOUD_BUFFER_M", 1e-9)
    naive = detect_vessels(scene)
    rc = np.round(rows_cols(naive, scene)).astype(int)
    assert (alpha[rc[:, 0], rc[:, 1]] > 0.3).sum() >= 2


def test_s2_scl_cloud_hides_a_ship():
    scl = np.full((400, 400), 6, dtype=np.int16)
    scl[:, :QUAY_COL] = 5
    scl[ANCHORED[0].start - 10 : ANCHORED[0].stop + 10, ANCHORED[1]] = 9  # cloud, high
    scene = s2_scene(s2_layout(), scl=scl)
    assert s2_clouds(scene)[ANCHORED].all()
    found = detect_vessels(scene)
    assert not inside(found, scene, ANCHORED, margin=5).any()
    assert inside(found, scene, BERTHED).any()


def test_s2_scl_cloud_on_a_bright_deck_is_not_cloud():
    """Sen2Cor calls the brightest part of a deck cloud: a small SCL patch on a
    ship-shaped bright object is the ship, not a cloud."""
    reflectance = s2_layout()
    deck = (ANCHORED[0], slice(ANCHORED[1].start + 4, ANCHORED[1].start + 8))
    reflectance[(slice(None), *deck)] = np.array(CLOUD, dtype=np.float32)[:, None, None]
    scl = np.full((400, 400), 6, dtype=np.int16)
    scl[:, :QUAY_COL] = 5
    scl[deck] = 8
    scene = s2_scene(reflectance, scl=scl)
    assert not s2_clouds(scene, water=reflectance[3] < 0.05)[ANCHORED].any()
    found = detect_vessels(scene)
    assert inside(found, scene, ANCHORED).sum() == 1
    # A round patch of SCL cloud of the same extent over open water stays cloud.
    scl[deck] = 6
    puff = (slice(px(2500), px(2500) + 12), slice(px(2000), px(2000) + 12))
    scl[puff] = 8
    reflectance[(slice(None), *puff)] = np.array(CLOUD, dtype=np.float32)[:, None, None]
    scene = s2_scene(reflectance, scl=scl)
    assert s2_clouds(scene, water=reflectance[3] < 0.05)[puff].all()


def test_s2_scl_cloud_on_a_quay_edge_stack_does_not_hide_the_ship_beside_it():
    """Sen2Cor calls a white stack or roof cloud. On the quay face it touches the water,
    but it lies on land: a roof, not cloud, and the ship berthed next to it is found."""
    reflectance = s2_layout()
    stack = (
        slice(BERTHED[0].stop + 2, BERTHED[0].stop + 8),
        slice(QUAY_COL - 6, QUAY_COL),
    )
    reflectance[(slice(None), *stack)] = np.array(CLOUD, dtype=np.float32)[:, None, None]
    scl = np.full((400, 400), 6, dtype=np.int16)
    scl[:, :QUAY_COL] = 5
    scl[stack] = 8
    scene = s2_scene(reflectance, scl=scl)
    water = reflectance[3] < 0.05
    assert not s2_clouds(scene, water=water)[stack].any()
    found = detect_vessels(scene)
    assert inside(found, scene, BERTHED).sum() == 1


@pytest.mark.parametrize("scl_class", [3, 10])
def test_s2_ship_in_cloud_shadow_or_under_cirrus_is_found(scl_class):
    reflectance = s2_layout()
    veil = (slice(ANCHORED[0].start - 20, ANCHORED[0].stop + 20), slice(px(1600), px(2200)))
    if scl_class == 3:
        reflectance[(slice(None), *veil)] *= 0.6
    else:
        haze = np.array((0.02, 0.02, 0.02, 0.02), dtype=np.float32)[:, None, None]
        reflectance[(slice(None), *veil)] += haze
    scl = np.full((400, 400), 6, dtype=np.int16)
    scl[:, :QUAY_COL] = 5
    scl[veil] = scl_class
    scene = s2_scene(reflectance, scl=scl)
    assert s2_clouds(scene)[ANCHORED].all()  # the ground's reflectance is not to be trusted
    assert not s2_clouds(scene, opaque=True)[ANCHORED].any()  # but a ship shows
    found = detect_vessels(scene)
    assert inside(found, scene, ANCHORED).sum() == 1


def test_s2_whitecaps_and_surf_are_not_vessels():
    reflectance = s2_layout()
    rng = np.random.default_rng(3)
    water = np.argwhere(reflectance[3] == np.float32(WATER[3]))
    foam = np.array(FOAM, dtype=np.float32)[:, None, None]
    for r, c in water[rng.choice(len(water), 80, replace=False)]:
        reflectance[:, r : r + 2, c : c + 2] = foam  # whitecaps: 15 m specks
    # Breaking waves along a beach in the south: patches of whitewater 30-80 m long,
    # as big as small hulls, in a band along the shore.
    beach = slice(px(2800), px(3200))
    reflectance[:, beach, : QUAY_COL + px(60)] = np.array(QUAY, dtype=np.float32)[:, None, None]
    for k in range(6):
        r = px(2820) + px(60) * k
        c = QUAY_COL + px(80) + (k % 2) * px(20)
        reflectance[:, r : r + px(30), c : c + px(70)] = foam
    scene = s2_scene(reflectance)
    found = detect_vessels(scene)
    whitewater = (slice(beach.start, beach.stop), slice(QUAY_COL, QUAY_COL + px(200)))
    assert not inside(found, scene, whitewater).any()
    assert len(found) == 2  # the two ships, nothing in the foam


def test_s2_surf_zone_covers_whitewater_not_ships():
    reflectance = s2_layout()
    reflectance[:, px(2850) : px(2880), QUAY_COL + px(60) : QUAY_COL + px(130)] = np.array(
        FOAM, dtype=np.float32
    )[:, None, None]
    scene = s2_scene(reflectance)
    water = reflectance[3] < 0.05
    surf = s2_surf(scene, water, ratio=VesselParams().s2_foam_ratio, buffer_m=60.0, pixel_m=PIXEL_M)
    assert surf[px(2850) : px(2880), QUAY_COL + px(60) : QUAY_COL + px(130)].all()
    assert not surf[ANCHORED].any() and not surf[BERTHED].any()


def test_s2_thin_foam_at_a_surf_zone_edge_is_surf():
    # A pixel a tenth under whitewater: B03 0.04 above the water, white, short of near
    # infrared. Such thin foam fringes a surf zone and is part of it; a step of 0.02
    # (a sediment plume's, a haze's) is not foam.
    edge = (slice(px(2850), px(2880)), slice(QUAY_COL + px(60), QUAY_COL + px(130)))
    water_level = np.array(WATER)
    whitewater = np.array((0.35, 0.36, 0.34, 0.15))  # B08 0.45 of B03 above the water
    for tenth, surf_expected in ((0.04, True), (0.02, False)):
        reflectance = s2_layout()
        foam = water_level + tenth / (whitewater[1] - WATER[1]) * (whitewater - water_level)
        reflectance[:, edge[0], edge[1]] = foam.astype(np.float32)[:, None, None]
        scene = s2_scene(reflectance)
        water = reflectance[3] < 0.05
        surf = s2_surf(
            scene, water, ratio=VesselParams().s2_foam_ratio, buffer_m=60.0, pixel_m=PIXEL_M
        )
        assert surf[edge].mean() > 0.9 if surf_expected else not surf[edge].any()


def test_s2_a_white_hull_is_not_in_the_surf_of_its_own_rim():
    # A white ro-ro afloat, its visible bands a third of a pixel off its near infrared
    # (Sentinel-2's bands are co-registered to a few tenths of a pixel): one side of
    # its rim is bright in the visible and dark in B08, as whitewater is, in a line
    # as long as the ship. The rim is not a surf zone, and the ship is found.
    reflectance = s2_layout()
    reflectance[:, ANCHORED[0], ANCHORED[1]] = np.array((0.6, 0.6, 0.6, 0.62))[:, None, None]
    scene = s2_scene(reflectance)
    visible = ndimage.shift(scene.data[:3], (0, 0.35, 0.35), order=1, mode="nearest")
    scene = scene.replace(data=np.concatenate([visible, scene.data[3:]]))
    water = water_mask(scene)  # a ship-sized hole in the water is water
    assert water[ANCHORED].all()
    surf = s2_surf(scene, water, ratio=VesselParams().s2_foam_ratio, buffer_m=60.0, pixel_m=PIXEL_M)
    assert not surf[ANCHORED].any()
    assert inside(detect_vessels(scene), scene, ANCHORED).sum() == 1


def test_s2_whitewater_whose_near_infrared_varies_is_still_surf():
    # Foam's near infrared varies from pixel to pixel (0.6-0.9 of its visible here:
    # thicker and thinner foam). Pixels near the top of that range step almost as much
    # in B08 as in B03, yet none steps more, as a hull does: the patch stays surf, with
    # the water mask the detector itself uses (foam is water to it).
    reflectance = s2_layout()
    patch = (slice(px(2800), px(2900)), slice(QUAY_COL + px(60), QUAY_COL + px(200)))
    rng = np.random.default_rng(5)
    share = rng.uniform(0.6, 0.9, reflectance[0][patch].shape)
    for band, value in enumerate((0.35, 0.36, 0.34)):
        reflectance[band][patch] = value
    reflectance[3][patch] = 0.35 * share
    scene = s2_scene(reflectance)
    water = water_mask(scene)
    assert water[patch].all()
    surf = s2_surf(scene, water, ratio=VesselParams().s2_foam_ratio, buffer_m=60.0, pixel_m=PIXEL_M)
    assert surf[patch].mean() > 0.9


def test_s2_a_ship_underway_is_found_ahead_of_its_wake():
    # The anchored hull now underway, 300 m of churned whitewater from 10 m astern. The
    # ship's object grew into the wake, and the two together had foam's mean step.
    reflectance = s2_layout()
    wake = (slice(px(1500) - px(5), px(1500) + px(30)), slice(px(1950) + px(10), px(2300)))
    reflectance[:, wake[0], wake[1]] = np.array(FOAM, dtype=np.float32)[:, None, None]
    scene = s2_scene(reflectance)
    found = detect_vessels(scene)
    assert inside(found, scene, ANCHORED).sum() == 1
    ship = found.loc[inside(found, scene, ANCHORED)].iloc[0]
    assert ship.length_m < 220  # the hull's 150 m with the blur, not the wake's 300 m


def test_s2_a_hull_with_a_white_superstructure_is_one_ship():
    # A grey hull with a white block on it, B08 half a pixel along the hull from the
    # visible bands (a ship underway moves between the bands' exposures): the column
    # of mixed pixels where white meets grey passes the foam test. It is not whitewater
    # and does not cut the ship in two.
    for seed in range(3):
        reflectance = s2_layout()
        block = (ANCHORED[0], slice(ANCHORED[1].start + px(60), ANCHORED[1].start + px(90)))
        reflectance[:, block[0], block[1]] = np.array((0.5, 0.5, 0.5, 0.42))[:, None, None]
        scene = s2_scene(reflectance, seed=seed)
        nir = ndimage.shift(scene.data[3], (0, 0.5), order=1, mode="nearest")
        scene = scene.replace(data=np.concatenate([scene.data[:3], nir[None]]))
        found = detect_vessels(scene)
        assert inside(found, scene, ANCHORED).sum() == 1


def test_s2_water_argument_is_honoured():
    """A pair pipeline passes the union of both dates' water: a ship berthed on one
    date lies on water then, and is found afloat."""
    scene = s2_scene(s2_layout())
    water = np.ones(scene.shape, dtype=bool)
    water[:, :QUAY_COL] = False
    water[PIER] = False
    found = detect_vessels(scene, water=water)
    berthed = found[inside(found, scene, BERTHED)]
    assert len(berthed) == 1 and berthed["setting"].iloc[0] == "afloat"
    assert not inside(found, scene, PIER, margin=3).any()


#: A shoal (a sand bar under a metre of turbid water): brighter than the water in every
#: visible band and in B08, as real shoals in the Durban scene are; not in B11.
SHOAL = (0.07, 0.075, 0.06, 0.042)
SHOAL_AT = (slice(px(700), px(700) + px(30)), slice(px(1400), px(1400) + px(120)))
#: B11 reflectance of water, quay and hulls (SWIR: water absorbs it; hulls reflect about
#: as much as in B08).
SWIR = {"water": 0.004, "quay": 0.22, "hull": 0.10}


def with_swir(scene: Raster, b11: np.ndarray) -> Raster:
    """``scene`` with a B11 band after B08 (blurred and noised like the others)."""
    rng = np.random.default_rng(7)
    swir = ndimage.gaussian_filter(b11, 0.6) + rng.normal(0.0, 0.002, b11.shape)
    return scene.replace(
        data=np.concatenate([scene.data, swir[None].astype(np.float32)]),
        band_names=(*scene.band_names, "B11"),
    )


def test_s2_shoal_brightening_b08_but_not_b11_is_not_a_vessel():
    reflectance = s2_layout()
    reflectance[:, SHOAL_AT[0], SHOAL_AT[1]] = np.array(SHOAL, dtype=np.float32)[:, None, None]
    b11 = np.full(reflectance.shape[1:], SWIR["water"], dtype=np.float32)
    b11[:, :QUAY_COL] = SWIR["quay"]
    b11[PIER] = SWIR["quay"]
    b11[BERTHED] = b11[ANCHORED] = SWIR["hull"]
    scene = s2_scene(reflectance)
    # Without B11 the shoal passes every other test: it is as bright in B08 as in B03.
    blind = detect_vessels(scene)
    assert inside(blind, scene, SHOAL_AT).sum() == 1
    seeing = detect_vessels(with_swir(scene, b11))
    assert not inside(seeing, scene, SHOAL_AT).any()
    assert inside(seeing, scene, ANCHORED).sum() == 1 and inside(seeing, scene, BERTHED).sum() == 1
    off = detect_vessels(with_swir(scene, b11), params=VesselParams(s2_min_swir_ratio=0.0))
    assert inside(off, scene, SHOAL_AT).sum() == 1


def test_prepare_s2_keeps_a_named_b11_and_reads_scl_after_it():
    data = np.full((6, 8, 8), 1000, dtype=np.uint16)
    data[4] = 1500  # B11
    data[5] = 6  # SCL water
    raster = Raster(
        data=data,
        transform=from_origin(500_000.0, 4_600_000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=0,
        band_names=("B02", "B03", "B04", "B08", "B11", "SCL"),
    )
    prepared = prepare_s2(raster)
    assert prepared.band_names == ("B02", "B03", "B04", "B08", "B11", "SCL")
    assert np.allclose(prepared.band("B11"), 0.15) and (prepared.band("SCL") == 6).all()


def test_s2_berths_can_be_switched_off():
    scene = s2_scene(s2_layout())
    found = detect_vessels(scene, params=VesselParams(berths=False))
    assert (found["setting"] == "afloat").all() and inside(found, scene, ANCHORED).any()
    assert not inside(found, scene, BERTHED).any()


def test_s2_berth_search_is_the_same_in_tiles(monkeypatch):
    scene = s2_scene(s2_layout())
    whole = detect_vessels(scene)
    monkeypatch.setattr(s2_berths, "BERTH_TILE_PX", 96)  # many tiles, halos cut runs
    tiled = detect_vessels(scene)
    assert len(tiled) == len(whole)
    np.testing.assert_allclose(rows_cols(tiled, scene), rows_cols(whole, scene), atol=0.5)


# -- morphology -------------------------------------------------------------------------------

OPENING_ELEMENTS = (
    np.ones((2, 2), dtype=bool),
    np.ones((3, 3), dtype=bool),
    np.ones((1, 3), dtype=bool),
    np.ones((3, 1), dtype=bool),
    np.eye(3, dtype=bool),
    np.fliplr(np.eye(3, dtype=bool)),
    np.eye(4, dtype=bool),
    np.ones((1, 1), dtype=bool),
    np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=bool),  # off-centre: scipy's own
)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.integers(1, 30), cols=st.integers(1, 30))
def test_opening_by_shifts_is_scipys(seed, rows, cols):
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < rng.uniform(0.3, 0.95)
    for structure in OPENING_ELEMENTS:
        np.testing.assert_array_equal(
            opening(mask, structure), ndimage.binary_opening(mask, structure=structure)
        )


# -- directional runs and protrusions -------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    top=st.integers(1, 20),
    left=st.integers(1, 20),
    height=st.integers(1, 15),
    width=st.integers(1, 15),
)
def test_runs_through_a_rectangle_are_its_sides(top, left, height, width):
    land = np.zeros((40, 40), dtype=bool)
    land[top : top + height, left : left + width] = True
    r, c = top + height // 2, left + width // 2
    assert directional_runs(land, 0.0)[r, c] == width
    assert directional_runs(land, 90.0)[r, c] == height
    assert directional_runs(land, 45.0)[r, c] == pytest.approx(
        min(height, width) * np.sqrt(2), abs=2 * np.sqrt(2)
    )
    assert (directional_runs(land, 30.0)[~land] == 0).all()


def test_runs_reaching_the_border_are_unbounded_unless_asked():
    land = np.zeros((10, 10), dtype=bool)
    land[4, :5] = True
    assert np.isinf(directional_runs(land, 0.0)[4, 2])
    assert directional_runs(land, 0.0, bounded=True)[4, 2] == 5


def test_shore_protrusions_fill_a_short_bump_and_thin_moles_not_the_quay():
    water = np.ones((120, 120), dtype=bool)
    water[:, :30] = False  # mainland, straight quay at col 30
    water[40:70, 30:34] = False  # a 30 px bump, 4 px deep: a berthed ship
    water[90:94, 30:110] = False  # an 80 px mole sticking out, 4 px wide
    water[5:25, 80:110] = False  # an island, 20 px north-south
    bumps = shore_protrusions(water, length_px=40)
    assert bumps[40:70, 30:34].all()
    assert not bumps[:, :28].any()  # the quay, two pixels in from its face
    # A mole is short across its width: the caller tells it from a hull by its shape.
    assert bumps[90:94, 35:110].all()
    assert bumps[5:25, 80:110].all()  # 20 px across north-south
    assert not (bumps & water).any()
    # With a shorter line only its corners (cut by oblique lines) are protrusions.
    short = shore_protrusions(water, length_px=15)
    assert not short[9:21, 88:102].any() and short[5, 80]


def _protrusions_by_walking(water: np.ndarray, length_px: int, angles: int) -> np.ndarray:
    """shore_protrusions by its definition: from each land pixel, walk both ways along
    each direction's digital line to the first non-land pixel."""
    rows, cols = water.shape
    out = np.zeros_like(water)
    for angle in np.radians(np.arange(angles) * 180.0 / angles):
        steep = abs(np.sin(angle)) >= abs(np.cos(angle))
        slope = np.cos(angle) / np.sin(angle) if steep else np.sin(angle) / np.cos(angle)
        for r, c in zip(*np.nonzero(~water), strict=True):
            major, minor = (r, c) if steep else (c, r)
            base = minor - round(slope * major)
            ends = []
            for step in (-1, 1):
                k = major + step
                while True:
                    m = base + round(slope * k)
                    rr, cc = (k, m) if steep else (m, k)
                    if not (0 <= rr < rows and 0 <= cc < cols):
                        ends.append(None)  # the image border: unbounded
                        break
                    if water[rr, cc]:
                        ends.append(k)
                        break
                    k += step
            if None not in ends and ends[1] - ends[0] - 1 < length_px / np.hypot(1.0, slope):
                out[r, c] = True
    return out


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), length_px=st.integers(2, 12), angles=st.integers(1, 16))
def test_shore_protrusions_match_walking_each_line(seed, length_px, angles):
    rng = np.random.default_rng(seed)
    water = rng.random((int(rng.integers(2, 24)), int(rng.integers(2, 24)))) < 0.4
    expected = _protrusions_by_walking(water, length_px, angles)
    np.testing.assert_array_equal(
        shore_protrusions(water, length_px=length_px, angles=angles), expected
    )


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    top=st.integers(0, 30),
    left=st.integers(0, 30),
    angles=st.integers(3, 16),
)
def test_a_window_given_its_origin_draws_the_whole_s_lines(seed, top, left, angles):
    rng = np.random.default_rng(seed)
    water = rng.random((70, 70)) < 0.45
    whole = shore_protrusions(water, length_px=6, angles=angles)
    window = water[top:, left:]
    placed = shore_protrusions(window, length_px=6, angles=angles, origin=(top, left))
    # Away from the window's edges (6 px lines reach 6 px), the same protrusions.
    np.testing.assert_array_equal(placed[6:-6, 6:-6], whole[top + 6 : -6, left + 6 : -6])


def test_a_window_without_its_origin_draws_other_lines():
    rng = np.random.default_rng(1)
    water = rng.random((70, 70)) < 0.3
    whole = shore_protrusions(water, length_px=6, angles=16)
    unplaced = shore_protrusions(water[7:, 5:], length_px=6, angles=16)
    assert (unplaced[6:-6, 6:-6] != whole[13:-6, 11:-6]).any()


# -- Sentinel-1 ---------------------------------------------------------------------------------


def s1_scene(seed: int = 0) -> Raster:
    """UTM 10 m: speckled sea east of a straight quay with a bright edge (cranes, fenders);
    a 200 m ship berthed against it and a 150 m ship at anchor."""
    mean = np.full((300, 300), 0.01, dtype=np.float32)
    mean[:, :60] = 0.08
    mean[:, 57:60] = 0.6
    mean[100:120, 60:63] = 2.0
    mean[200:203, 180:195] = 2.0
    return speckled_s1(mean, datetime(2024, 3, 1, 21, 30, tzinfo=UTC), seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_s1_ship_at_anchor_and_ship_berthed_beside_a_bright_quay(seed):
    scene = s1_scene(seed)
    found = detect_vessels(scene)
    rc = rows_cols(found, scene)
    anchored = np.hypot(rc[:, 0] - 201, rc[:, 1] - 187) < 3
    berthed = np.hypot(rc[:, 0] - 110, rc[:, 1] - 62) < 3
    assert anchored.sum() == 1 and berthed.sum() == 1
    assert len(found) == 2  # the bright quay edge is not a ship
    ship = found[anchored].iloc[0]
    assert 140 < ship["length_m"] < 170 and ship["score"] > 0.99


def test_scenes_on_one_water_mask_share_its_geometry_and_find_the_same():
    scenes = [s1_scene(0), s1_scene(1)]
    water = water_mask(scenes[0])
    each = detect_vessels_each(scenes, water=water)
    for scene, frame in zip(scenes, each, strict=True):
        alone = detect_vessels(scene, water=water)
        assert len(alone) == 2
        # detect_vessels draws each hull; the pair's frames keep the echoes' outlines.
        pd.testing.assert_frame_equal(
            frame.drop(columns="geometry"), alone.drop(columns="geometry")
        )
        assert (frame.geometry.intersection(alone.geometry).area > 0.5 * alone.geometry.area).all()


def test_bad_inputs_get_clear_errors():
    scene = s2_scene(s2_layout())
    with pytest.raises(InputError, match="water mask"):
        detect_vessels(scene, water=np.ones((3, 3), dtype=bool))
    with pytest.raises(InputError, match="s1 or s2"):
        detect_vessels(scene.replace(sensor=None))


# -- real Sentinel-2 -----------------------------------------------------------------------------


@pytest.mark.skipif(
    not (SEN2SHIPS / "honolulu").is_dir(), reason=f"sen2ships sample missing: {SEN2SHIPS}"
)
def test_real_honolulu_ships_are_found_with_a_modest_floor():
    folder = SEN2SHIPS / "honolulu"
    bands = [read_raster(folder / f"{b}.tif") for b in ("B02", "B03", "B04", "B08")]
    stack = bands[0].replace(
        data=np.concatenate([b.data for b in bands]), band_names=("B02", "B03", "B04", "B08")
    )
    # EO Browser "raw" exports are reflectance x 65535 (see benchmarks/sen2ships.py).
    scene = prepare_s2(stack, source=str(folder), scale=1 / 65535)
    found = detect_vessels(scene)
    masks = coco_masks(folder / "honolulu_coco.json")
    assert len(masks) == 12 and json.loads((folder / "honolulu_coco.json").read_text())
    pixel_m = float(np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)))
    score = match_points_to_masks(rows_cols(found, scene), masks, tolerance_px=20.0 / pixel_m)
    # Measured 0.83 / 0.36 (benchmarks/sen2ships.md); the floor leaves room for noise.
    assert score.recall >= 0.6
    assert score.precision >= 0.25
    assert dataclasses.asdict(VesselParams())["berth_min_score"] > 0


#: Surface reflectance B02 B03 B04 B08 of a vegetated bank (mangrove, lawn): NDVI ~0.8.
VEGETATION = (0.03, 0.06, 0.035, 0.30)


def _bank_scene(vegetated_from_col: int) -> Raster:
    """The synthetic port with its land vegetated west of ``vegetated_from_col``."""
    reflectance = s2_layout()
    reflectance[:, :, :vegetated_from_col] = np.array(VEGETATION, dtype=np.float32)[:, None, None]
    return s2_scene(reflectance)


def test_s2_hull_shaped_bump_of_a_vegetated_bank_is_not_berthed():
    """Ships moor at built quays: a hull-coloured bump on a bank of vegetation is none,
    and is found as one when the bank test alone is off (the candidate's own NDVI
    passes)."""
    scene = _bank_scene(QUAY_COL)
    assert not inside(detect_vessels(scene), scene, BERTHED).any()
    off = dataclasses.replace(VesselParams(), berth_bank_m=0.0)
    assert inside(detect_vessels(scene, params=off), scene, BERTHED).sum() == 1


def test_s2_ship_at_a_quay_with_a_park_behind_it_is_found():
    """Vegetation more than 50 m behind the quay face does not hide the ship."""
    scene = _bank_scene(QUAY_COL - px(80))
    found = detect_vessels(scene)
    assert inside(found, scene, BERTHED).sum() == 1


#: A hull painted with a blue pigment that reflects the near infrared (copper
#: phthalocyanine): NDVI 0.62 like leaves, but brightest in B02.
BLUE_HULL = (0.14, 0.10, 0.07, 0.30)
#: Blue roofs or containers on a bank: NDVI 0.40, brightest in B02.
BLUE_ROOFS = (0.11, 0.085, 0.081, 0.19)


def test_s2_blue_hulls_bright_in_the_near_infrared_are_not_vegetation():
    reflectance = s2_layout()
    for where in (BERTHED, ANCHORED):
        reflectance[:, where[0], where[1]] = np.array(BLUE_HULL, dtype=np.float32)[:, None, None]
    scene = s2_scene(reflectance)
    found = detect_vessels(scene)
    assert inside(found, scene, ANCHORED).sum() == 1
    assert inside(found, scene, BERTHED).sum() == 1


def test_s2_a_ship_berthed_before_blue_roofs_is_not_on_a_vegetated_bank():
    """The bank behind the quay is blue roofs or containers, NDVI 0.40 but brightest in
    B02 (as beside a ship at Durban in the real ports benchmark): not vegetation, so the
    red hull berthed there is found."""
    reflectance = s2_layout()
    reflectance[:, :, :QUAY_COL] = np.array(BLUE_ROOFS, dtype=np.float32)[:, None, None]
    scene = s2_scene(reflectance)
    assert inside(detect_vessels(scene), scene, BERTHED).sum() == 1


#: A ship moored end-on (stern-to, bow-out) at the quay, 90 m x 20 m, and a short pier
#: of the same size and of the quay's own concrete, both across the quay face.
END_ON = (slice(px(2200), px(2200) + px(20)), slice(QUAY_COL, QUAY_COL + px(90)))
SHORT_PIER = (slice(px(2600), px(2600) + px(20)), slice(QUAY_COL, QUAY_COL + px(90)))


def test_s2_ship_moored_end_on_is_found_and_a_pier_of_its_size_is_not():
    reflectance = s2_layout(size=400)
    reflectance[:, END_ON[0], END_ON[1]] = np.array(RED_HULL, dtype=np.float32)[:, None, None]
    reflectance[:, SHORT_PIER[0], SHORT_PIER[1]] = np.array(QUAY, dtype=np.float32)[:, None, None]
    scene = s2_scene(reflectance)
    found = detect_vessels(scene)
    end_on = found[inside(found, scene, END_ON)]
    assert len(end_on) == 1 and end_on["setting"].iloc[0] == "berthed"
    # Across the quay, along the ship (the quay runs north-south).
    assert abs(end_on["heading_deg"].iloc[0] - 90.0) < 10
    assert 70 < end_on["length_m"].iloc[0] < 130
    assert not inside(found, scene, SHORT_PIER, margin=3).any()
    # Not by its score alone: with every berthed candidate kept, the pier's material
    # (the quay's) still keeps it out.
    every = detect_vessels(scene, params=VesselParams(berth_min_score=0.0))
    assert not inside(every, scene, SHORT_PIER, margin=3).any()
    assert inside(every, scene, END_ON).sum() == 1
    # The ships alongside and at anchor are still found, and nothing else.
    assert inside(found, scene, BERTHED).sum() == 1 and inside(found, scene, ANCHORED).sum() == 1
    assert len(found) == 3


def _jetty_scene(*, tanker: bool) -> tuple[Raster, tuple[slice, slice], tuple[slice, slice]]:
    """An oil jetty: a trestle 400 m out from the quay, 12 m wide (thinner than the
    water mask resolves), its 80 m x 25 m loading platform, and a 240 m x 40 m tanker
    moored along the platform when ``tanker``."""
    reflectance = s2_layout(size=400)
    middle, trestle = px(2600), px(12)
    head_col = QUAY_COL + px(400)
    head = (slice(middle - px(40), middle + px(40)), slice(head_col, head_col + px(25)))
    hull = (slice(middle - px(120), middle + px(120)), slice(head[1].stop, head[1].stop + px(40)))
    parts = [((slice(middle, middle + trestle), slice(QUAY_COL, head_col)), QUAY), (head, QUAY)]
    if tanker:
        parts.append((hull, RED_HULL))
    for where, material in parts:
        reflectance[:, where[0], where[1]] = np.array(material, dtype=np.float32)[:, None, None]
    return s2_scene(reflectance), head, hull


def test_s2_tanker_at_a_jetty_head_is_found_and_the_empty_head_is_not():
    """The trestle, bright as a hull and water to the mask, used to join the tanker and
    the platform into one object a kilometre long, which is no ship."""
    scene, head, hull = _jetty_scene(tanker=True)
    found = detect_vessels(scene)
    tanker = found[inside(found, scene, hull)]
    assert len(tanker) == 1 and tanker["setting"].iloc[0] == "afloat"
    assert 180 < tanker["length_m"].iloc[0] < 300
    assert inside(found, scene, ANCHORED).sum() == 1
    # The platform alone, 80 m long, is the jetty's own head, not a ship.
    empty, head, hull = _jetty_scene(tanker=False)
    found = detect_vessels(empty)
    assert not inside(found, empty, head, margin=4).any()
    assert len(found) == 2  # the ships alongside and at anchor


def test_a_strip_of_quay_mixed_with_water_is_on_the_mixing_line_and_a_hull_is_not():
    """A pier narrower than the point spread: quay and water mixed in each pixel."""
    from imagery.spectral import off_mixing_line

    water, quay = np.array(WATER), np.array(QUAY)
    strip = 0.45 * quay + 0.55 * water
    spectra = np.column_stack([strip, quay, 0.6 * np.array(RED_HULL) + 0.4 * water])
    distance = off_mixing_line(spectra, np.column_stack([quay] * 3), water)
    assert distance[0] < 1e-9 and distance[1] < 1e-9
    assert distance[2] > 0.3
    # Measured against the quay alone, the strip differs by more than half.
    assert np.max(np.abs(strip - quay) / quay) > 0.5
    # Nothing measured behind a candidate: no distance, so it passes no floor.
    unknown = np.column_stack([quay, np.full(4, np.nan)])
    assert np.isnan(off_mixing_line(spectra[:, :2], unknown, water)[1])


def test_s2_a_rim_of_quay_mixed_with_water_is_not_a_ship_alongside():
    """Where the ship lay, a strip of the quay's rim: each pixel part quay, part water
    (darker than the quay by half, so its contrast with the quay scores like a hull's).
    It lies on the quay-water mixing line and is no ship; without that test it is
    found as one. The red hull in the same place is another material and is found."""
    reflectance = s2_layout()
    rim = 0.45 * np.array(QUAY) + 0.55 * np.array(WATER)
    reflectance[:, BERTHED[0], BERTHED[1]] = rim.astype(np.float32)[:, None, None]
    scene = s2_scene(reflectance)
    assert not inside(detect_vessels(scene), scene, BERTHED).any()
    off = dataclasses.replace(VesselParams(), berth_min_unmixed=0.0)
    # Found (on some noise seeds in two pieces).
    assert inside(detect_vessels(scene, params=off), scene, BERTHED).sum() >= 1
    hull = s2_scene(s2_layout())
    assert inside(detect_vessels(hull), hull, BERTHED).sum() == 1


def test_s2_a_hooked_pier_afloat_is_not_a_ship(monkeypatch):
    """A floating structure bent in an L (a curved pier, a jetty with its arm) fills
    half the rectangle of its moments; a hull, convex, fills all of it. Out on the
    water, away from the ships, an L of 160 m and 110 m arms, 15 m wide."""
    reflectance = s2_layout()
    top, left, arm = px(2200), px(1700), px(15)
    hook = [
        (slice(top, top + arm), slice(left, left + px(160))),
        (slice(top, top + px(110)), slice(left, left + arm)),
    ]
    for where in hook:
        reflectance[:, where[0], where[1]] = np.array(RED_HULL, dtype=np.float32)[:, None, None]
    scene = s2_scene(reflectance)
    box = (slice(top, top + px(110)), slice(left, left + px(160)))
    found = detect_vessels(scene)
    assert not inside(found, scene, box).any()
    assert inside(found, scene, ANCHORED).sum() == 1 and inside(found, scene, BERTHED).sum() == 1
    monkeypatch.setattr("imagery.vessels.s2.S2_HULL_MIN_FILL", 0.0)
    assert inside(detect_vessels(scene), scene, box).sum() == 1
