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
    align=st.integers(1, 12),
)
def test_cores_tile_the_grid_once_and_pads_contain_them(height, width, chunk, halo, align):
    cover = np.zeros((height, width), dtype=np.int32)
    for core, padded in plan_windows(height, width, chunk_px=chunk, halo_px=halo, align_px=align):
        # Every window starts on the block grid laid from the raster's origin.
        assert core.row_off % align == 0 and core.col_off % align == 0
        assert padded.row_off % align == 0 and padded.col_off % align == 0
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
    # Six since berthed candidates must return -6 dB (VesselParams.berth_min_vv_db).
    assert len(whole) >= 5
    assert len(whole) == len(tiled)
    a = np.column_stack([whole.geometry.centroid.x, whole.geometry.centroid.y])
    b = np.column_stack([tiled.geometry.centroid.x, tiled.geometry.centroid.y])
    nearest = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]).min(axis=1)
    assert (nearest < 1.0).all()
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


def test_windows_with_vv_but_no_vh_are_searched(tmp_path):
    """A dual-pol file whose VH ends short: the windows beyond it are searched in VV, as
    the scene read whole is (they were skipped as empty)."""
    from s1_scenes import anchorage

    from imagery.io import write_raster
    from imagery.tiled import detect_vessels_file
    from imagery.vessels import detect_vessels

    scene = anchorage()
    data = scene.data.copy()
    data[1, :, 250:] = np.nan
    scene = scene.replace(data=data)
    path = write_raster(scene, tmp_path / "vh_short.tif")
    assert len(detect_vessels(scene)) == 3
    assert len(detect_vessels_file(path, sensor="s1", chunk_px=200, halo_px=60)) == 3


def _clouded_pair(tmp_path, rows: slice, cols: slice) -> dict:
    """A simulated S2 pair, 768 px, under a thick cloud on both dates at ``rows, cols``."""
    import dataclasses

    sim = simulate_pair(get_aoi("nakhodka"), sensor="s2", seed=5, size_px=768)
    scenes = []
    for scene in sim.scenes:
        data = scene.data.copy()
        data[:-1, rows, cols] = 8000
        data[-1, rows, cols] = 9  # SCL: cloud, high probability
        scenes.append(scene.replace(data=data))
    return write_simulation(dataclasses.replace(sim, scenes=tuple(scenes)), tmp_path / "pair")


def test_a_window_under_cloud_is_left_out_and_the_tile_goes_on(tmp_path):
    paths = _clouded_pair(tmp_path, slice(0, 420), slice(0, 420))
    tiled = detect_pair_files(
        paths["before"],
        paths["after"],
        sensor="s2",
        change_path=tmp_path / "change.tif",
        chunk_px=256,
    )
    assert tiled.parameters["windows"] == 9
    assert tiled.parameters["windows_without_comparison"] >= 1
    assert tiled.parameters["windows_without_data"] == 0
    with rasterio.open(tmp_path / "change.tif") as ds:
        z = ds.read(2)
    assert np.isnan(z[:256, :256]).all() and np.isfinite(z[:, 512:]).mean() > 0.5


def test_a_tile_with_nothing_to_compare_says_so(tmp_path, monkeypatch):
    import imagery.coregister as coregister
    from imagery.errors import NothingToCompareError

    clear = _clouded_pair(tmp_path / "clear", slice(0, 0), slice(0, 0))
    registration = coregister.estimate_registration_files(
        clear["before"], clear["after"], sensor="s2"
    )
    paths = _clouded_pair(tmp_path / "cloud", slice(0, 768), slice(0, 768))
    # Co-registration would refuse the clouded pair first; here every window has to.
    monkeypatch.setattr(coregister, "estimate_registration_files", lambda *a, **k: registration)
    out = tmp_path / "out"
    out.mkdir()
    (out / "change.tif").write_bytes(b"an earlier run's change raster")
    with pytest.raises(NothingToCompareError, match="no window"):
        detect_pair_files(
            paths["before"],
            paths["after"],
            sensor="s2",
            chunk_px=256,
            change_path=out / "change.tif",
            display_paths=(out / "before.tif", out / "after.tif"),
        )
    # A refused run writes nothing: no displays beside the earlier run's change raster.
    assert sorted(p.name for p in out.iterdir()) == ["change.tif"]
    assert (out / "change.tif").read_bytes() == b"an earlier run's change raster"


def test_windows_beyond_the_after_file_have_no_data(tmp_path):
    from rasterio.windows import Window

    from imagery.io import write_raster

    sim = simulate_pair(get_aoi("vostochny"), sensor="s1", seed=21, size_px=768)
    paths = write_simulation(sim, tmp_path / "pair")
    # The after file covers the western 300 columns only: the pair overlaps in part, and
    # the windows of the eastern third (cores from column 512, halos from 382) lie beyond it.
    west = read_raster(paths["after"], window=Window(0, 0, 300, 768))
    after = write_raster(west, tmp_path / "after_west.tif")
    whole = detect_pair(read_raster(paths["before"]), read_raster(after), sensor="s1")
    tiled = detect_pair_files(paths["before"], after, sensor="s1", chunk_px=256)
    assert tiled.parameters["windows"] == 9
    assert tiled.parameters["windows_without_data"] == 3
    assert len(tiled.detections) > 0 and len(whole.detections) > 0
    x = tiled.detections.geometry.centroid.x.to_numpy()
    assert (x <= west.bounds[2]).all()


def test_a_failing_window_stops_the_windows_not_started():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from imagery.tiled import _in_order

    started = []
    lock = threading.Lock()

    def run(core, padded):
        with lock:
            started.append(core)
        if core == 0:
            raise ValueError("window 0 cannot be read")
        return core

    windows = [(k, None) for k in range(50)]
    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(ValueError, match="window 0"):
        list(_in_order(pool, run, windows, ahead=4))
    assert len(started) <= 5
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(_in_order(pool, lambda core, padded: core + 1, windows[1:], ahead=4)) == list(
            range(2, 51)
        )


def test_a_window_off_its_grid_stops_the_tile(tmp_path, monkeypatch):
    import imagery.tiled as tiled
    from imagery.errors import DetectionError

    sim = simulate_pair(get_aoi("nakhodka"), sensor="s1", seed=3, size_px=512)
    paths = write_simulation(sim, tmp_path / "pair")
    aligned = tiled._aligned_window

    def shifted(*args, **kwargs):
        window = aligned(*args, **kwargs)
        return window.replace(transform=window.transform * rasterio.Affine.translation(0, 1))

    monkeypatch.setattr(tiled, "_aligned_window", shifted)
    # A programming error, not cloud: it must not pass as a window left out.
    with pytest.raises(DetectionError, match="co-register"):
        detect_pair_files(paths["before"], paths["after"], sensor="s1", chunk_px=256)


def test_every_window_is_split_as_its_files(tmp_path, monkeypatch):
    import imagery.tiled as tiled
    from imagery.water import water_split_file

    sim = simulate_pair(get_aoi("nakhodka"), sensor="s1", seed=3, size_px=512)
    paths = write_simulation(sim, tmp_path / "pair")
    seen = []
    detect = tiled.detect_aligned

    def recording(*args, **kwargs):
        seen.append(kwargs.get("water_splits"))
        return detect(*args, **kwargs)

    monkeypatch.setattr(tiled, "detect_aligned", recording)
    result = detect_pair_files(paths["before"], paths["after"], sensor="s1", chunk_px=256)
    expected = tuple(water_split_file(paths[k], sensor="s1") for k in ("before", "after"))
    assert expected[0] != expected[1]  # the after pass is windier
    assert len(seen) == result.parameters["windows"] and all(s == expected for s in seen)


@pytest.mark.parametrize(
    ("sensor", "port", "seed"),
    [("s1", "nakhodka", 22), ("s1", "vostochny", 21), ("s2", "rajin", 21)],
)
def test_windowed_vessels_are_the_whole_scene_s(tmp_path, sensor, port, seed):
    from imagery.sensors import prepare
    from imagery.tiled import detect_vessels_file
    from imagery.vessels import detect_vessels

    # 512 px cores and 130 px halos, rounded up to the CFAR's 5 px blocks, and the
    # shoreline's lines laid from the file's origin. Nakhodka 22 gave 20 of its 23
    # vessels with windows off the block grid; Vostochny 21 lost a 196 m berthed ship
    # to the lines each window drew from its own first row.
    sim = simulate_pair(get_aoi(port), sensor=sensor, seed=seed, size_px=1024)
    paths = write_simulation(sim, tmp_path / "pair")
    whole = detect_vessels(prepare(read_raster(paths["after"]), sensor, grid="native"))
    tiled = detect_vessels_file(paths["after"], sensor=sensor, chunk_px=512)
    assert len(whole) >= 5 and len(tiled) == len(whole)
    a = np.column_stack([whole["x"], whole["y"]])
    b = np.column_stack([tiled["x"], tiled["y"]])
    nearest = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]).min(axis=1)
    assert (nearest < 1.0).all()


def test_an_object_two_windows_found_is_kept_once():
    import geopandas as gpd
    from shapely.geometry import Point

    from imagery.tiled import _owned, merge_seams

    def flags(xs, kind="vessel"):
        return gpd.GeoDataFrame(
            {"kind": [kind] * len(xs), "score": [0.9] * len(xs)},
            geometry=[Point(x, 5.0).buffer(2.0) for x in xs],
        )

    # Two cores meet at x = 100 (map units; pixels of 10, margin 4 px = 40). Each window
    # measured the ship cut by the seam on its own pixels: at 98 in the left window, at
    # 103 in the right one. The bare centroid rule kept it twice.
    left = _owned(flags([98.0, 20.0]), (0.0, 0.0, 100.0, 10.0), margin=40.0)
    right = _owned(flags([103.0, 180.0]), (100.0, 0.0, 200.0, 10.0), margin=40.0)
    merged = merge_seams([left, right], tolerance=40.0)
    assert sorted(merged.geometry.centroid.x.round(1)) == [20.0, 103.0, 180.0]
    assert "_depth" not in merged and "_window" not in merged
    # The other way round it was kept by neither; now once.
    left = _owned(flags([102.0]), (0.0, 0.0, 100.0, 10.0), margin=40.0)
    right = _owned(flags([97.0]), (100.0, 0.0, 200.0, 10.0), margin=40.0)
    assert len(_owned(flags([102.0]), (0.0, 0.0, 100.0, 10.0))) == 0
    assert len(merge_seams([left, right], tolerance=40.0)) == 1
    # Two ships of one window moored end to end stay two; a stack beside a ship too.
    one = _owned(flags([60.0, 75.0]), (0.0, 0.0, 100.0, 10.0), margin=40.0)
    other = _owned(flags([70.0], kind="cargo"), (100.0, 0.0, 200.0, 10.0), margin=40.0)
    assert len(merge_seams([one, other], tolerance=40.0)) == 3
    assert merge_seams([None, flags([])], tolerance=40.0) is None
