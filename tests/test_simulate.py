"""The sample-scene simulator: determinism, grid, sensor conventions, physics, truth, files."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import geometry_mask
from scipy.ndimage import binary_dilation, binary_erosion, uniform_filter
from skimage.registration import phase_cross_correlation

from imagery.aoi import get_aoi
from imagery.errors import InputError
from imagery.io import read_raster
from imagery.sensors import prepare_s1, prepare_s2
from imagery.simulate import (
    seed_list,
    seeds_argument,
    simulate_pair,
    simulate_series,
    write_simulation,
)
from imagery.simulate.acquisition import plan_acquisitions
from imagery.simulate.grid import coverage, render_transform
from imagery.simulate.layout import generate_layout
from imagery.simulate.s1 import ENL, S1Renderer, draw_conditions
from imagery.simulate.scene import draw_fixtures, scene_content
from imagery.simulate.traffic import Traffic

SIZE = 192


@pytest.fixture(scope="module")
def rajin():
    return get_aoi("rajin")


@pytest.fixture(scope="module")
def s1_pair(rajin):
    return simulate_pair(rajin, sensor="s1", seed=11, size_px=SIZE)


@pytest.fixture(scope="module")
def s2_pair(rajin):
    return simulate_pair(rajin, sensor="s2", seed=2, size_px=SIZE)


def _mask(geoms, raster, transform=None, *, all_touched=True):
    """Pixels of ``raster`` (or of a (rows, cols) shape) touched by ``geoms``."""
    shape = raster if isinstance(raster, tuple) else raster.shape
    return ~geometry_mask(
        [g for g in geoms if not g.is_empty],
        out_shape=shape,
        transform=transform or raster.transform,
        all_touched=all_touched,
    )


# -- determinism and grid -------------------------------------------------------------


def test_same_seed_same_scenes_different_seed_different(rajin, s1_pair):
    again = simulate_pair(rajin, sensor="s1", seed=11, size_px=SIZE)
    for a, b in zip(s1_pair.scenes, again.scenes, strict=True):
        assert np.array_equal(a.data, b.data)
        assert a.time == b.time
    assert s1_pair.shifts_px == again.shifts_px
    assert s1_pair.truth[0].drop(columns="geometry").equals(again.truth[0].drop(columns="geometry"))
    other = simulate_pair(rajin, sensor="s1", seed=12, size_px=SIZE)
    assert not np.array_equal(s1_pair.scenes[0].data, other.scenes[0].data)
    assert s1_pair.water.tolist() != other.water.tolist()


def test_grid_is_the_aoi_utm_zone_at_10m_centred_on_the_aoi(rajin, s1_pair):
    t = s1_pair.transform
    assert s1_pair.crs.to_epsg() == rajin.utm_epsg == 32652
    assert (t.a, t.e, t.b, t.d) == (10.0, -10.0, 0.0, 0.0)
    assert t.c % 10 == 0 and t.f % 10 == 0
    centre = rajin.geometry_in(rajin.utm_crs).centroid
    assert abs(t.c + SIZE * 5.0 - centre.x) <= 5.0
    assert abs(t.f - SIZE * 5.0 - centre.y) <= 5.0
    for scene in s1_pair.scenes:
        assert scene.transform == t and scene.crs == s1_pair.crs and scene.shape == (SIZE, SIZE)
    assert s1_pair.water.shape == (SIZE, SIZE) and s1_pair.water.dtype == bool
    assert 0.1 < s1_pair.water.mean() < 0.9


def test_layout_varies_with_the_seed():
    bounds = (600000.0, 4670000.0, 602560.0, 4672560.0)
    layouts = [generate_layout(np.random.default_rng(seed), bounds=bounds) for seed in range(8)]
    assert len({round(lay.frame.theta, 3) for lay in layouts}) == 8
    assert len({lay.n_piers for lay in layouts}) >= 2
    assert len({lay.has_basin for lay in layouts}) == 2
    for lay in layouts:
        assert lay.berths and lay.slots and len(lay.edges) and len(lay.cranes)
        assert len({b.name for b in lay.berths}) == len(lay.berths)
        for berth in lay.berths:  # a point just off every berth is water
            x, y = berth.at(berth.length_m / 2, 3.0)
            assert lay.water.contains(shapely.Point(x, y))


# -- sensor conventions -------------------------------------------------------------------


def test_s1_scene_is_linear_sigma0_vv_vh(s1_pair):
    scene = s1_pair.scenes[1]
    assert scene.band_names == ("VV", "VH") and scene.sensor == "s1"
    assert scene.dtype == np.float32 and scene.nodata is None
    assert (scene.data > 0).all() and np.isfinite(scene.data).all()
    assert scene.time == s1_pair.times[1]
    vv, vh = scene.data
    water = binary_erosion(s1_pair.water, iterations=5)
    land = binary_erosion(~s1_pair.water, iterations=5)
    water_db = 10 * np.log10(np.median(vv[water]))
    land_db = 10 * np.log10(np.median(vv[land]))
    assert -24.0 < water_db < -12.0
    assert -14.0 < land_db < -4.0
    assert np.median(vh[land]) < np.median(vv[land]) / 3  # cross-pol several dB below
    assert prepare_s1(scene).band_names == ("VV", "VH")


def test_a_windy_sea_is_as_bright_as_land_in_vv_and_at_the_floor_in_vh(rajin):
    windy = simulate_pair(rajin, sensor="s1", seed=3, size_px=256, windy=True)
    calm_pair = simulate_pair(rajin, sensor="s1", seed=3, size_px=256)
    water = binary_erosion(windy.water, iterations=5)
    land = binary_erosion(~windy.water, iterations=5)
    vv, vh = windy.scenes[1].data
    assert -13.0 < 10 * np.log10(np.median(vv[water])) < -7.0
    assert np.median(vv[water]) > 0.25 * np.median(vv[land])  # within 6 dB of the land
    assert 10 * np.log10(np.median(vh[water])) < 10 * np.log10(np.median(vh[land])) - 3.0
    # Only the sea changes: the traffic, the land and the truth are the calm pair's.
    assert windy.truth[0].geometry.equals(calm_pair.truth[0].geometry)
    cond = windy.conditions[1]
    calm = calm_pair.conditions[1]
    assert {k: v for k, v in cond.items() if k not in ("water_vv_db", "cross_pol_db")} == {
        k: v for k, v in calm.items() if k not in ("water_vv_db", "cross_pol_db")
    }
    with pytest.raises(InputError, match="Sentinel-1 only"):
        simulate_pair(rajin, sensor="s2", seed=3, size_px=256, windy=True)


def test_s2_scene_is_l2a_reflectance_and_scl(s2_pair):
    scene = s2_pair.scenes[0]
    assert scene.band_names == ("B02", "B03", "B04", "B08", "SCL") and scene.sensor == "s2"
    assert scene.dtype == np.uint16 and scene.nodata == 0
    assert (scene.data[:4] > 0).all()  # 0 is nodata in L2A; every simulated pixel is valid
    scl = scene.band("SCL")
    assert set(np.unique(scl)) <= {3, 4, 5, 6, 8, 9, 10}
    clear_water = binary_erosion(s2_pair.water, iterations=3) & (scl == 6)
    assert clear_water.sum() > 0.5 * binary_erosion(s2_pair.water, iterations=3).sum()
    b08 = scene.band("B08")[clear_water] / 10000.0
    assert 0.003 < np.median(b08) < 0.04
    refl = prepare_s2(scene)
    assert refl.band_names == ("B02", "B03", "B04", "B08", "SCL")


def test_s2_series_has_clouds_with_shadows_on_some_dates(rajin):
    sim = simulate_series(rajin, sensor="s2", seed=3, dates=4, size_px=128)
    cloudy = [c for c in sim.conditions if c["cloudy"]]
    assert 0 < len(cloudy) < len(sim.conditions)
    for scene, cond in zip(sim.scenes, sim.conditions, strict=True):
        scl = scene.band("SCL")
        if cond["cloudy"]:
            assert np.isin(scl, (8, 9)).any() and (scl == 3).any()
            cloud = np.isin(scl, (8, 9))
            assert scene.band("B02")[cloud].mean() > 2 * scene.band("B02")[~cloud].mean()


# -- physics -------------------------------------------------------------------------------


def _open_water_windows(values, water, exclude, size=16):
    """ENL (mean^2 / variance) of every size x size window of open water."""
    ok = water & ~exclude
    full = uniform_filter(ok.astype(float), size) > 0.999
    enls = []
    for r in range(size // 2, values.shape[0] - size // 2, size):
        for c in range(size // 2, values.shape[1] - size // 2, size):
            if full[r, c]:
                w = values[r - size // 2 : r + size // 2, c - size // 2 : c + size // 2]
                enls.append(w.mean() ** 2 / w.var())
    return np.array(enls)


def test_speckle_has_enl_4_4_on_texture_free_water():
    size, res = 256, 10.0
    rng = np.random.default_rng(5)
    bounds = (600000.0, 4670000.0, 600000.0 + size * res, 4670000.0 + size * res)
    layout = generate_layout(rng, bounds=bounds)
    transform = rasterio.transform.from_origin(bounds[0], bounds[3], res, res)
    state = Traffic(layout, margin_m=60.0).initial(rng)
    content = scene_content(layout, draw_fixtures(rng, layout), state, rng)
    acq = plan_acquisitions(rng, sensor="s1", lon=130.3, lat=42.2, start=None, count=1)[0]
    cond = {**draw_conditions(rng), "texture_shape": math.inf}
    image = S1Renderer(layout, transform=transform, size_px=size, rng=rng).render(
        content, acq, cond, rng
    )
    water = coverage([layout.land], transform=transform, size_px=size, supersample=4) == 0
    water = binary_erosion(water, iterations=20)
    things = [o.footprint.buffer(150) for o in (*state.vessels, *state.boats)]
    near = _mask(things, (size, size), transform) if things else np.zeros_like(water)
    enl = _open_water_windows(image[0], water, near)
    assert len(enl) >= 20
    assert abs(np.median(enl) - ENL) < 0.45


def test_sea_clutter_is_k_distributed(rajin):
    """Speckle of ENL 4.4 inside small windows; gamma texture on top makes the sea spikier."""
    sim = simulate_pair(rajin, sensor="s1", seed=4, size_px=256)
    scene, cond = sim.scenes[0], sim.conditions[0]
    vv = scene.data[0]
    near = _mask([*sim.objects[0].geometry.buffer(200), sim.layout.sheltered.buffer(200)], scene)
    water = binary_erosion(sim.water, iterations=25) & ~near
    # small craft are clutter too, but not sea: drop anything 13 dB over the sea level
    water &= ~binary_dilation(vv > 20 * np.median(vv[water]), iterations=4)
    local = np.median(_open_water_windows(vv, water, ~water, size=8))
    sea = vv[water]
    measured = sea.mean() ** 2 / sea.var()
    nu = cond["texture_shape"]
    k_enl = 1.0 / ((1 + 1 / ENL) * (1 + 1 / nu) - 1)  # product of unit-mean gammas
    assert abs(local - ENL) < 0.6  # texture is nearly constant over 80 m
    assert measured < 0.8 * local
    # a finite sea resolves only part of a texture correlated over 50-200 m
    assert 0.75 < measured / k_enl < 1.6


def test_recorded_shift_is_the_real_shift(rajin):
    for sensor, seed in (("s1", 3), ("s2", 6)):
        sim = simulate_pair(rajin, sensor=sensor, seed=seed, size_px=256)
        before, after = sim.scenes
        band = 0 if sensor == "s1" else 3
        a = np.log(before.data[band].astype(float))
        b = np.log(after.data[band].astype(float))
        # the land window with most land: ground texture is the same on both dates
        land = uniform_filter((~sim.water).astype(float), 96)
        r, c = np.unravel_index(np.argmax(land), land.shape)
        r, c = np.clip([r, c], 48, 256 - 48)
        win = np.s_[r - 48 : r + 48, c - 48 : c + 48]
        shift, _, _ = phase_cross_correlation(a[win], b[win], upsample_factor=50)
        dy, dx = -shift
        true_dx, true_dy = sim.shifts_px[1]
        assert max(abs(true_dx), abs(true_dy)) >= 0.3 and max(abs(true_dx), abs(true_dy)) <= 3.0
        assert abs(dx - true_dx) < 0.3 and abs(dy - true_dy) < 0.3, (sensor, dx, dy, sim.shifts_px)


def test_calibration_difference_is_recorded(s1_pair, s2_pair):
    assert s1_pair.calibration_db[0] == 0.0
    assert 0.2 <= abs(s1_pair.calibration_db[1]) <= 0.8
    assert s1_pair.gains[1][0] == pytest.approx(10 ** (s1_pair.calibration_db[1] / 10), rel=1e-3)
    assert all(0.95 <= g <= 1.05 for g in s2_pair.gains[1])


# -- truth ---------------------------------------------------------------------------------


def _db_change(sim, frame, *, band=0):
    """after - before (dB) of the mean over each footprint, the after undone of its shift."""
    before, after = sim.scenes
    moved = render_transform(after.transform, sim.shifts_px[1])
    out = []
    for geom in frame.geometry:
        b = before.data[band][_mask([geom], before)].astype(float).mean()
        a = after.data[band][_mask([geom], after, moved)].astype(float).mean()
        out.append(10 * np.log10(a / b))
    return np.array(out)


def test_s1_truth_matches_what_was_drawn(rajin):
    changes = {"vessel": [], "cargo": [], "departed": []}
    for seed in (1, 5, 9):
        sim = simulate_pair(rajin, sensor="s1", seed=seed, size_px=SIZE)
        truth = sim.truth[0][sim.truth[0]["overlap"] < 0.2]
        gone = sim.departed[0][sim.departed[0]["overlap"] < 0.2]
        for kind in ("vessel", "cargo"):
            changes[kind] += list(_db_change(sim, truth[truth["kind"] == kind]))
        changes["departed"] += list(-_db_change(sim, gone))
    for kind, values in changes.items():
        values = np.array(values)
        assert len(values) >= 4, kind
        assert np.median(values) > 6.0, (kind, values)
        assert (values > 3.0).mean() >= 0.8, (kind, values)


def test_s2_truth_is_visible_and_clouded_changes_are_held_back(rajin):
    seen = []
    for seed in (2, 8):
        sim = simulate_pair(rajin, sensor="s2", seed=seed, size_px=SIZE)
        before, after = sim.scenes
        moved = render_transform(after.transform, sim.shifts_px[1])
        truth = sim.truth[0][sim.truth[0]["overlap"] < 0.2]
        for geom in truth.geometry:
            b = before.data[:4, _mask([geom], before)].mean(axis=1) / 1e4
            a = after.data[:4, _mask([geom], after, moved)].mean(axis=1) / 1e4
            seen.append(np.abs(a - b).sum())
            for scene, t in ((before, before.transform), (after, moved)):
                scl = scene.band("SCL")[_mask([geom], scene, t, all_touched=False)]
                assert np.isin(scl, (8, 9)).mean() <= 0.5
        assert not sim.truth[0]["occluded"].any()
        assert sim.occluded[0]["occluded"].all()
    assert len(seen) >= 5
    assert np.median(seen) > 0.05 and (np.array(seen) > 0.02).mean() >= 0.8


def test_truth_tables_have_the_contract_fields(s1_pair):
    fields = [
        "id", "kind", "setting", "length_m", "width_m", "heading_deg", "area_m2",
        "lon", "lat", "before_time", "after_time", "occluded",
    ]  # fmt: skip
    for frame in (*s1_pair.truth, *s1_pair.departed, *s1_pair.objects):
        assert set(fields) <= set(frame.columns)
        assert frame.crs.to_epsg() == 32652
    truth = s1_pair.truth[0]
    assert set(truth["kind"]) <= {"vessel", "cargo"}
    assert set(truth["setting"]) <= {"berth", "anchor", "yard"}
    vessels = s1_pair.objects[1][s1_pair.objects[1]["kind"] == "vessel"]
    assert vessels["length_m"].between(40, 300).all()
    assert (vessels["width_m"] >= 8).all()
    assert (vessels["width_m"] <= vessels["length_m"] / 5.9).all() | (vessels["width_m"] == 8).all()
    assert truth["after_time"].eq(s1_pair.times[1].isoformat().replace("+00:00", "Z")).all()
    before_ids = set(s1_pair.objects[0]["id"])
    assert not set(truth["id"]) & before_ids
    assert set(s1_pair.departed[0]["id"]) <= before_ids - set(s1_pair.objects[1]["id"])


# -- series --------------------------------------------------------------------------------


@pytest.mark.parametrize(("sensor", "days"), [("s1", 12), ("s2", 5)])
def test_series_dates_follow_the_revisit(rajin, sensor, days):
    sim = simulate_series(
        rajin, sensor=sensor, seed=1, dates=3, size_px=128, start=date(2024, 3, 2)
    )
    dates = [t.date() for t in sim.times]
    assert dates == [date(2024, 3, 2) + timedelta(days=days * i) for i in range(3)]
    local_hours = [(t.hour + t.minute / 60 + 130.3 / 15) % 24 for t in sim.times]
    expected = (5.5, 6.5, 17.5, 18.5) if sensor == "s1" else (10.0, 11.0)
    assert all(
        expected[0] < h < expected[1] or expected[-2] < h < expected[-1] for h in local_hours
    )
    assert len(sim.truth) == len(sim.departed) == 2 and len(sim.objects) == 3
    for i, new in enumerate(sim.truth):
        assert not set(new["id"]) & set(sim.objects[i]["id"])
        assert set(new["id"]) <= set(sim.objects[i + 1]["id"])
        assert (new["after_index"] == i + 1).all()
    for (dx0, dy0), (dx1, dy1) in zip(sim.shifts_px, sim.shifts_px[1:], strict=False):
        assert 0.3 <= abs(dx1 - dx0) <= 3.0 and 0.3 <= abs(dy1 - dy0) <= 3.0


def test_a_series_starts_with_the_pair_of_the_same_seed(rajin):
    pair = simulate_pair(rajin, sensor="s2", seed=9, size_px=128)
    series = simulate_series(rajin, sensor="s2", seed=9, dates=3, size_px=128)
    for a, b in zip(pair.scenes, series.scenes[:2], strict=True):
        assert np.array_equal(a.data, b.data) and a.time == b.time
    assert series.shifts_px[:2] == pair.shifts_px
    assert list(series.truth[0]["id"]) == list(pair.truth[0]["id"])


def test_series_needs_three_dates_and_bad_input_is_refused(rajin):
    with pytest.raises(InputError, match="at least 3 dates"):
        simulate_series(rajin, sensor="s1", seed=1, dates=2)
    with pytest.raises(InputError, match="sensor"):
        simulate_pair(rajin, sensor="s3", seed=1)
    with pytest.raises(InputError, match="too small"):
        simulate_pair(rajin, sensor="s1", seed=1, size_px=64)
    with pytest.raises(InputError, match="seed"):
        simulate_pair(rajin, sensor="s1", seed=-1)


# -- files ---------------------------------------------------------------------------------


def test_write_pair_files(s2_pair, tmp_path):
    paths = write_simulation(s2_pair, tmp_path / "out")
    for key in ("before", "after", "truth", "departed", "objects_before", "objects_after"):
        assert paths[key].is_file(), key
    with rasterio.open(paths["after"]) as ds:
        assert ds.count == 5 and ds.dtypes[0] == "uint16" and ds.nodata == 0
        assert ds.descriptions == ("B02", "B03", "B04", "B08", "SCL")
        assert ds.crs.to_epsg() == 32652 and ds.transform == s2_pair.transform
        assert np.array_equal(ds.read(), s2_pair.scenes[1].data)
    back = read_raster(paths["before"])
    assert back.time == s2_pair.times[0] and back.sensor == "s2"
    with rasterio.open(paths["water"]) as ds:
        assert np.array_equal(ds.read(1).astype(bool), s2_pair.water)

    record = json.loads(paths["simulation"].read_text())
    truth = json.loads(paths["truth"].read_text())
    assert truth["type"] == "FeatureCollection" and "crs" not in truth
    kinds = [f["properties"]["kind"] for f in truth["features"]]
    assert kinds.count("vessel") == record["pairs"][0]["new_vessels"]
    assert kinds.count("cargo") == record["pairs"][0]["new_cargo"]
    assert record["counts"]["occluded_new"] == int((s2_pair.occluded[0]["change"] == "new").sum())
    assert record["scenes"][1]["shift_px"] == list(s2_pair.shifts_px[1])
    for feature in truth["features"]:
        ring = np.array(feature["geometry"]["coordinates"][0])
        assert ring[:, 0].min() > 130.2 and ring[:, 0].max() < 130.4  # lon first
        x, y = ring[:, 0], ring[:, 1]
        assert np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) > 0  # counter-clockwise exterior
        assert set(feature["properties"]) >= {"id", "kind", "setting", "lon", "lat", "occluded"}


def test_write_series_files(rajin, tmp_path):
    sim = simulate_series(rajin, sensor="s1", seed=2, dates=3, size_px=128)
    paths = write_simulation(sim, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in names if n.endswith(".tif")] == [
        "t00_2024-06-01.tif",
        "t01_2024-06-13.tif",
        "t02_2024-06-25.tif",
        "water.tif",
    ]
    assert {"truth_t01.geojson", "truth_t02.geojson", "objects_t02.geojson"} <= set(names)
    every = json.loads(paths["truth"].read_text())["features"]
    assert sorted({f["properties"]["after_index"] for f in every}) == [1, 2] or len(every) == len(
        sim.truth[0]
    ) + len(sim.truth[1])
    assert len(every) == sum(len(t) for t in sim.truth)
    record = json.loads(paths["simulation"].read_text())
    assert record["times"][2].startswith("2024-06-25")
    assert [p["new_vessels"] + p["new_cargo"] for p in record["pairs"]] == [
        len(t) for t in sim.truth
    ]


def test_seed_list_reads_ranges_single_seeds_and_lists():
    assert seed_list("100-103") == [100, 101, 102, 103]
    assert seed_list("7") == [7]
    assert seed_list("1,5,9") == [1, 5, 9]
    assert seed_list("1-3,9") == [1, 2, 3, 9]
    for bad in ("a-b", "9-3", "", "1,x", "-2"):
        with pytest.raises(InputError, match="seeds"):
            seed_list(bad)


def test_a_bad_seeds_option_is_a_usage_error_not_a_traceback(capsys):
    import argparse

    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--seeds", default="1-3", type=seeds_argument)
    assert parser.parse_args([]).seeds == "1-3"
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--seeds", "9-3"])
    assert exit_info.value.code == 2
    assert "--seeds: seeds '9-3': expected" in capsys.readouterr().err
