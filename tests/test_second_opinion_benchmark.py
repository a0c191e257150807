"""The independent simulator of ``benchmarks/othersim.py``: its ships and stacks show
the way the physics says, and the second-opinion benchmark scores a pair end to end."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import load_benchmark
from rasterio import features


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("second_opinion")


def _mean_db(raster, band: str, geometries) -> float:
    mask = features.rasterize(
        [(g, 1) for g in geometries], out_shape=raster.shape, transform=raster.transform
    ).astype(bool)
    return float(10 * np.log10(np.nanmean(raster.band(band)[mask])))


def test_other_simulator_draws_ships_brighter_than_the_sea_and_new_ones_in_after_only(bench):
    pair = bench.simulate(3, "s1", 256)
    before, after = pair.before, pair.after
    assert before.shape == after.shape == (256, 256) and before.crs == after.crs
    land = features.rasterize(
        [(pair.land, 1)], out_shape=before.shape, transform=before.transform
    ).astype(bool)
    sea_db = float(10 * np.log10(np.nanmedian(before.band("VV")[~land])))
    ships_db = _mean_db(before, "VV", pair.vessels_before.geometry)
    assert ships_db > sea_db + 6.0
    if len(pair.new_vessels):
        # Truth is on the before grid; the after scene is misregistered by a few pixels,
        # so the new hulls are compared over their footprints grown by that much.
        grown = pair.new_vessels.geometry.buffer(40.0)
        assert _mean_db(after, "VV", grown) > _mean_db(before, "VV", grown) + 1.0


def test_second_opinion_scores_a_pair_end_to_end(bench):
    record = bench.run_pair(4, "s2", 256)
    assert set(record["scores"]) == {"vessel", "cargo", "departed", "single"}
    # At least one of the two new ships, and at least half the after scene's ships.
    assert record["truth"]["vessel"] == 2 and record["scores"]["vessel"]["tp"] >= 1
    assert record["scores"]["single"]["tp"] >= record["truth"]["single"] // 2


def test_other_simulator_berths_a_hull_cut_to_its_quay(bench):
    # Seed 122 cuts a hull to its quay's length, leaving it no play along the quay:
    # rounding put the upper end of its position a hair below the lower.
    other = sys.modules[bench.simulate.__module__]
    world = np.random.default_rng([122, 11])
    layout = other.make_layout(world, 512 * other.PIXEL_M)
    assert other.make_traffic(world, layout) is not None
