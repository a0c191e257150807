"""Tiled detection agrees with whole-scene detection, and windows tile the grid exactly."""

from __future__ import annotations

import platform
import sys

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st

from imagery.aoi import get_aoi
from imagery.detect import detect_pair
from imagery.io import read_raster
from imagery.simulate import simulate_pair, write_simulation
from imagery.tiled import detect_pair_files, plan_windows, retain_freed_memory


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 900),
    width=st.integers(1, 900),
    chunk=st.integers(16, 400),
    halo=st.integers(0, 100),
)
def test_cores_tile_the_grid_once_and_pads_contain_them(height, width, chunk, halo):
    cover = np.zeros((height, width), dtype=np.int32)
    for core, padded in plan_windows(height, width, chunk_px=chunk, halo_px=halo):
        r, c, h, w = int(core.row_off), int(core.col_off), int(core.height), int(core.width)
        cover[r : r + h, c : c + w] += 1
        assert padded.row_off <= r and padded.col_off <= c
        assert padded.row_off + padded.height >= r + h and padded.col_off + padded.width >= c + w
        assert padded.row_off >= 0 and padded.col_off >= 0
        assert padded.row_off + padded.height <= height and padded.col_off + padded.width <= width
    assert (cover == 1).all()


def test_tiled_matches_whole_scene(tmp_path):
    sim = simulate_pair(get_aoi("nakhodka"), sensor="s1", seed=12, size_px=640)
    paths = write_simulation(sim, tmp_path / "pair")
    whole = detect_pair(read_raster(paths["before"]), read_raster(paths["after"]), sensor="s1")
    tiled = detect_pair_files(
        paths["before"],
        paths["after"],
        sensor="s1",
        change_path=tmp_path / "change.tif",
        chunk_px=320,
        workers=2,
    )
    assert tiled.parameters["windows"] == 4
    for kind in ("vessel", "cargo"):
        a = whole.detections[whole.detections["kind"] == kind]
        b = tiled.detections[tiled.detections["kind"] == kind]
        # Per-window estimates (enclosed water, looks) differ slightly from the whole scene's.
        assert abs(len(a) - len(b)) <= max(2, 0.3 * len(a)), (kind, len(a), len(b))
        if len(a) and len(b):
            ca = np.column_stack([a.geometry.centroid.x, a.geometry.centroid.y])
            cb = np.column_stack([b.geometry.centroid.x, b.geometry.centroid.y])
            nearest = np.min(
                np.hypot(ca[:, None, 0] - cb[None, :, 0], ca[:, None, 1] - cb[None, :, 1]), axis=1
            )
            assert np.mean(nearest < 30) >= 0.7
    ids = tiled.detections["id"].to_numpy()
    assert len(set(ids)) == len(ids)
    with rasterio.open(tmp_path / "change.tif") as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.overviews(1)
        assert ds.descriptions == ("change", "z")
        z = ds.read(2)
    assert np.isfinite(z).mean() > 0.9


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or sys.maxsize <= 2**32,
    reason="glibc's mallopt, 64-bit limits",
)
def test_freed_buffers_are_retained_on_glibc():
    assert retain_freed_memory() is True


def test_windows_run_with_a_block_cache_of_megabytes(tmp_path, monkeypatch):
    # rasterio hands GDAL_CACHEMAX to GDAL in bytes: a bare 128 was a 128-byte cache,
    # with which every rasterize of a window ran three times slower.
    import imagery.tiled as tiled

    seen = []
    detect = tiled.detect_aligned

    def recording(*args, **kwargs):
        seen.append(rasterio.env.get_gdal_config("GDAL_CACHEMAX"))
        return detect(*args, **kwargs)

    monkeypatch.setattr(tiled, "detect_aligned", recording)
    sim = simulate_pair(get_aoi("nakhodka"), sensor="s1", seed=3, size_px=256)
    paths = write_simulation(sim, tmp_path / "pair")
    detect_pair_files(paths["before"], paths["after"], sensor="s1", chunk_px=256, workers=1)
    assert seen and all(int(v) == tiled.GDAL_CACHE_MB * 2**20 for v in seen)


def test_tiled_vessels_match_the_whole_scene_and_count_each_once(tmp_path):
    from imagery.sensors import prepare
    from imagery.tiled import detect_vessels_file
    from imagery.vessels import detect_vessels

    sim = simulate_pair(get_aoi("vostochny"), sensor="s1", seed=21, size_px=1024)
    paths = write_simulation(sim, tmp_path / "pair")
    whole = detect_vessels(prepare(read_raster(paths["after"]), "s1", grid="native"))
    tiled = detect_vessels_file(paths["after"], sensor="s1", chunk_px=512, workers=2)
    assert len(whole) >= 8
    # Each window's background is its own: a borderline ship may move.
    assert abs(len(whole) - len(tiled)) <= max(2, 0.3 * len(whole)), (len(whole), len(tiled))
    a = np.column_stack([whole.geometry.centroid.x, whole.geometry.centroid.y])
    b = np.column_stack([tiled.geometry.centroid.x, tiled.geometry.centroid.y])
    nearest = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]).min(axis=1)
    assert np.mean(nearest < 20.0) >= 0.7
    # A ship across a window's edge is kept once: no two tiled vessels share a place.
    pairwise = np.hypot(b[:, None, 0] - b[None, :, 0], b[:, None, 1] - b[None, :, 1])
    assert (pairwise[np.triu_indices(len(b), 1)] > 20.0).all()
    assert list(tiled["id"]) == list(range(1, len(tiled) + 1))
    assert tiled["score"].is_monotonic_decreasing


def test_windows_of_land_split_water_as_their_tile(tmp_path):
    from imagery.io import write_raster
    from imagery.raster import Raster
    from imagery.tiled import detect_vessels_file
    from imagery.vessels import detect_vessels

    # Built-up land (-7 dB) with fields as dark as a windy sea (-15 dB) and sheds in
    # them in the west, the sea (-22 dB) and one ship in the east. A window of land
    # alone would split its own histogram between the two kinds of land.
    mean = np.full((512, 1024), 10**-2.2, dtype=np.float32)
    mean[:, :700] = 10**-0.7
    mean[:, 60:400] = 10**-1.5
    for row in range(60, 460, 80):
        mean[row : row + 2, 150:156] = 10**0.5
    mean[250:253, 850:862] = 10**0.3
    vv = mean * np.random.default_rng(3).gamma(4.4, 1 / 4.4, mean.shape)
    scene = Raster(
        data=vv[None].astype(np.float32),
        transform=rasterio.transform.from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        sensor="s1",
        band_names=("VV",),
    )
    path = write_raster(scene, tmp_path / "scene.tif")
    assert len(detect_vessels(scene)) == 1
    tiled = detect_vessels_file(path, sensor="s1", chunk_px=256)
    assert len(tiled) == 1
    col, row = ~scene.transform * (tiled["x"].iloc[0], tiled["y"].iloc[0])
    assert abs(row - 251.5) < 3 and abs(col - 856) < 5


def test_a_window_under_cloud_is_left_out_and_the_tile_goes_on(tmp_path):
    import dataclasses

    sim = simulate_pair(get_aoi("nakhodka"), sensor="s2", seed=5, size_px=768)
    scenes = []
    for scene in sim.scenes:
        data = scene.data.copy()
        data[:-1, :420, :420] = 8000  # a thick cloud over the north-west corner
        data[-1, :420, :420] = 9  # SCL: cloud, high probability
        scenes.append(scene.replace(data=data))
    paths = write_simulation(dataclasses.replace(sim, scenes=tuple(scenes)), tmp_path / "pair")
    tiled = detect_pair_files(
        paths["before"],
        paths["after"],
        sensor="s2",
        change_path=tmp_path / "change.tif",
        chunk_px=256,
    )
    assert tiled.parameters["windows"] == 9
    assert tiled.parameters["windows_without_comparison"] >= 1
    with rasterio.open(tmp_path / "change.tif") as ds:
        z = ds.read(2)
    assert np.isnan(z[:256, :256]).all() and np.isfinite(z[:, 512:]).mean() > 0.5
