"""The single-scene benchmark's scoring: hidden vessels are neither found nor missed."""

from __future__ import annotations

import geopandas as gpd
import pytest
from conftest import load_benchmark
from shapely.geometry import box

CRS = "EPSG:32652"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("vessels")


def test_scores_per_setting_and_leaves_hidden_vessels_out(bench):
    vessels = gpd.GeoDataFrame(
        {
            "setting": ["anchor", "berth", "berth", "anchor"],
            "occluded": [False, False, True, False],
        },
        geometry=[
            box(0, 0, 100, 20),
            box(500, 0, 600, 20),
            box(1000, 0, 1100, 20),
            box(0, 900, 90, 915),
        ],
        crs=CRS,
    )
    found = gpd.GeoDataFrame(
        geometry=[
            box(20, 0, 80, 20),  # the first anchored ship
            box(1010, 0, 1090, 20),  # the ship under cloud: neither right nor wrong
            box(3000, 3000, 3050, 3010),  # nothing there
        ],
        crs=CRS,
    )
    scores = bench.score_scene(found, vessels)
    assert (scores["all"].tp, scores["all"].fp, scores["all"].fn) == (1, 1, 2)
    assert (scores["anchor"].tp, scores["anchor"].fn) == (1, 1)
    assert (scores["berth"].tp, scores["berth"].fn) == (0, 1)


def test_a_detection_is_assigned_once_between_a_hidden_and_a_visible_vessel(bench):
    # Two ships 30 m apart, one under cloud; one detection between them, nearer the
    # visible one: it finds the visible ship, and the hidden one is not a miss.
    vessels = gpd.GeoDataFrame(
        {"setting": ["berth", "berth"], "occluded": [False, True]},
        geometry=[box(0, 0, 100, 20), box(0, 50, 100, 70)],
        crs=CRS,
    )
    found = gpd.GeoDataFrame(geometry=[box(40, 28, 60, 38)], crs=CRS)  # 13 m and 17 m off
    scores = bench.score_scene(found, vessels)
    assert (scores["all"].tp, scores["all"].fp, scores["all"].fn) == (1, 0, 0)
    assert (scores["berth"].tp, scores["berth"].fn) == (1, 0)


def test_coarsened_scenes_average_blocks_and_keep_classes(bench):
    import numpy as np
    from rasterio.transform import from_origin

    from imagery.raster import Raster

    dn = np.array([[[100, 300, 0, 0], [500, 700, 0, 0]]] * 4, dtype=np.uint16)
    scl = np.array([[[6, 8, 0, 0], [4, 4, 0, 0]]], dtype=np.uint16)
    scene = Raster(
        np.concatenate([dn, scl]),
        from_origin(600000, 4700000, 10, 10),
        "EPSG:32652",
        nodata=0,
        sensor="s2",
        band_names=("B02", "B03", "B04", "B08", "SCL"),
    )
    coarse = bench.coarsened(scene, 2)
    assert coarse.shape == (1, 2) and coarse.res == (20.0, 20.0)
    assert coarse.data.dtype == np.uint16
    assert coarse.band("B08").tolist() == [[400, 0]]  # a mean; fill stays fill
    assert coarse.band("SCL").tolist() == [[6, 0]]  # a class, not a mean
