"""The detection pipeline end to end on simulated pairs and series (real files, real CLI)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.warp import calculate_default_transform, reproject
from s1_scenes import ANCHORED, anchorage, june, store_s1_pass

from imagery.aoi import get_aoi
from imagery.cli.main import cli
from imagery.detect import DetectParams, detect_pair
from imagery.errors import CoregistrationError
from imagery.evaluation import score_detections
from imagery.grid import to_lonlat
from imagery.io import read_raster, write_raster
from imagery.schema import DETECTION_FIELDS
from imagery.simulate import simulate_pair, simulate_series, write_simulation

SIZE = 384


@pytest.fixture(scope="module")
def s1_pair(tmp_path_factory):
    out = tmp_path_factory.mktemp("s1pair")
    sim = simulate_pair(get_aoi("rajin"), sensor="s1", seed=31, size_px=SIZE)
    return sim, write_simulation(sim, out)


@pytest.fixture(scope="module")
def s2_pair(tmp_path_factory):
    out = tmp_path_factory.mktemp("s2pair")
    sim = simulate_pair(get_aoi("vostochny"), sensor="s2", seed=42, size_px=SIZE)
    return sim, write_simulation(sim, out)


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_detect_s1_writes_the_contract(tmp_path, s1_pair):
    sim, paths = s1_pair
    out = tmp_path / "run"
    result = _run(
        "detect",
        paths["before"],
        paths["after"],
        "--sensor",
        "s1",
        "--out",
        out,
        "--aoi",
        "rajin",
        "--no-chips",
    )
    assert result.exit_code == 0, result.output
    layers = dict(pyogrio.list_layers(out / "detections.gpkg"))
    assert {"detections", "departed"} <= set(layers)
    info = pyogrio.read_info(out / "detections.gpkg", layer="detections")
    assert set(DETECTION_FIELDS) <= set(info["fields"])
    with rasterio.open(out / "change.tif") as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.crs == sim.crs
    frame = pyogrio.read_dataframe(out / "detections.gpkg", layer="detections")
    assert set(frame["kind"]) <= {"vessel", "cargo"}
    assert frame["score"].between(0, 1).all()
    assert (frame["status"] == "new").all()
    assert frame.crs == sim.crs
    # A vessel is drawn as the hull it measures, centred where lon/lat say; cargo as
    # the pixels that changed.
    ships = frame[frame["kind"] == "vessel"]
    assert len(ships)
    lon, lat = to_lonlat(ships.geometry.centroid.x, ships.geometry.centroid.y, frame.crs)
    assert np.allclose(lon, ships["lon"], atol=1e-6) and np.allclose(lat, ships["lat"], atol=1e-6)
    assert np.allclose(ships.geometry.area, ships["length_m"] * ships["width_m"], rtol=2e-3)
    assert (shapely.get_num_coordinates(ships.geometry.to_numpy()) == 5).all()


def test_detect_finds_new_vessels_in_s1_pair(s1_pair):
    sim, paths = s1_pair
    result = detect_pair(read_raster(paths["before"]), read_raster(paths["after"]), sensor="s1")
    score = score_detections(result.detections, sim.truth[0], kind="vessel", tolerance_m=20.0)
    assert score.tp >= 1
    reg = result.registration
    true_dx, true_dy = sim.shifts_px[1]
    assert abs(reg.shift_x_px - true_dx) < 0.3 and abs(reg.shift_y_px - true_dy) < 0.3


def test_detect_s2_pair(tmp_path, s2_pair):
    _, paths = s2_pair
    out = tmp_path / "run"
    result = _run(
        "detect",
        paths["before"],
        paths["after"],
        "--sensor",
        "s2",
        "--out",
        out,
        "--json",
        "--no-chips",
    )
    assert result.exit_code == 0, result.output
    assert (out / "detections.gpkg").exists() and (out / "project.qgs").exists()


def test_mostly_water_pair_is_registered_on_smaller_windows():
    """Nampo's pair 117 at 512 px is mostly water: too few 128 px windows hold land, and
    64 px windows are tried before the pair is refused."""
    sim = simulate_pair(get_aoi("nampo"), sensor="s2", seed=117, size_px=512)
    aoi = get_aoi("nampo")
    with pytest.raises(CoregistrationError, match="valid windows"):
        detect_pair(*sim.scenes, sensor="s2", aoi=aoi, params=DetectParams(coreg_window_px=(128,)))
    result = detect_pair(*sim.scenes, sensor="s2", aoi=aoi)
    assert result.registration.window_px == 64
    dx, dy = sim.shifts_px[1]
    found = result.registration.shift_at(256, 256)
    assert abs(found[0] - dx) < 0.1 and abs(found[1] - dy) < 0.1


def test_a_pair_of_open_sea_is_compared_as_georeferenced(caplog):
    """Open sea holds nothing to register on; an S1 pair of it is compared on its
    georeferencing (Sentinel-1 locates within a pixel or so), with a warning and a
    record, instead of refused. The ship that arrived is flagged; the two that stayed are
    not."""
    before = anchorage(ships=ANCHORED[:2], when=june(1), seed=3)
    after = anchorage(ships=ANCHORED, when=june(13), seed=4)
    with pytest.raises(CoregistrationError, match="valid windows"):
        detect_pair(before, after, sensor="s1", params=DetectParams(open_water_share=None))
    with caplog.at_level("WARNING", logger="imagery.detect"):
        result = detect_pair(before, after, sensor="s1", names=("b.tif", "a.tif"))
    assert "a.tif onto b.tif: 100 % of the scene is water" in caplog.text
    record = result.parameters["registration"]
    assert record["model"] == "none" and record["water_share"] == pytest.approx(1.0)
    assert "valid windows" in record["refused"]
    vessels = result.detections[result.detections["kind"] == "vessel"]
    assert len(vessels) == 1 and len(result.departed) == 0
    row, col = ANCHORED[2]
    x, y = before.transform * (col + 7.5, row + 1.5)
    assert vessels.geometry.iloc[0].centroid.distance(shapely.Point(x, y)) < 30.0


def test_a_pair_of_open_sea_in_s2_is_still_refused():
    """S2's per-pixel evidence needs the registration: unregistered by a pixel or two,
    simulated sea pairs raised false flags hundreds of metres from any ship."""
    rng = np.random.default_rng(5)
    water = np.array([500, 450, 250, 120], dtype=np.float32)[:, None, None]
    scenes = [
        dataclasses.replace(
            anchorage(when=june(day)),
            data=(water + rng.normal(0, 15, (4, 200, 200))).astype(np.uint16),
            band_names=("B02", "B03", "B04", "B08"),
            sensor="s2",
            nodata=0,
        )
        for day in (1, 13)
    ]
    with pytest.raises(CoregistrationError, match="valid windows"):
        detect_pair(*scenes, sensor="s2")


def test_after_in_another_crs_is_brought_onto_the_before_grid(tmp_path, s1_pair):
    sim, paths = s1_pair
    after = read_raster(paths["after"])
    dst_crs = "EPSG:3857"
    transform, width, height = calculate_default_transform(
        after.crs, dst_crs, after.width, after.height, *after.bounds
    )
    data = np.full((after.count, height, width), np.nan, dtype=np.float32)
    for b in range(after.count):
        reproject(
            after.data[b],
            data[b],
            src_transform=after.transform,
            src_crs=after.crs,
            dst_transform=transform,
            dst_crs=dst_crs,
            dst_nodata=np.nan,
        )
    moved = write_raster(
        after.replace(data=data, transform=transform, crs=dst_crs, nodata=float("nan")),
        tmp_path / "after_3857.tif",
    )
    result = detect_pair(read_raster(paths["before"]), read_raster(moved), sensor="s1")
    assert result.after.crs == sim.crs and result.after.shape == (SIZE, SIZE)


def test_single_vv_band_is_accepted(tmp_path, s1_pair):
    _, paths = s1_pair
    before = read_raster(paths["before"], bands=[1])
    after = read_raster(paths["after"], bands=[1])
    result = detect_pair(before, after, sensor="s1")
    assert result.before.band_names == ("VV",)


@pytest.mark.parametrize(
    "problem", ["missing", "not-raster", "all-nodata", "no-overlap", "band-count"]
)
def test_bad_input_is_one_line_naming_the_file(tmp_path, s1_pair, problem):
    _, paths = s1_pair
    before, after = paths["before"], paths["after"]
    bad = tmp_path / f"{problem}.tif"
    if problem == "not-raster":
        bad.write_text("not a raster")
    elif problem == "all-nodata":
        r = read_raster(after)
        write_raster(r.replace(data=np.full_like(r.data, np.nan), nodata=float("nan")), bad)
    elif problem == "no-overlap":
        r = read_raster(after)
        t = r.transform
        write_raster(r.replace(transform=t.__class__(t.a, t.b, t.c + 50_000, t.d, t.e, t.f)), bad)
    elif problem == "band-count":
        r = read_raster(after)
        write_raster(r.replace(data=np.concatenate([r.data, r.data[:1]]), band_names=()), bad)
    result = _run("detect", before, bad, "--sensor", "s1", "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert str(bad) in lines[0] and "Traceback" not in result.output


def test_series_reports_when(tmp_path):
    sim = simulate_series(get_aoi("dunai"), sensor="s1", seed=5, dates=3, size_px=SIZE)
    paths = write_simulation(sim, tmp_path / "series")
    scenes = sorted(
        str(p) for k, p in paths.items() if k.startswith("t") and str(p).endswith(".tif")
    )
    assert len(scenes) == 3
    out = tmp_path / "run"
    result = _run("detect", *scenes, "--sensor", "s1", "--out", out, "--no-chips")
    assert result.exit_code == 0, result.output
    frame = pyogrio.read_dataframe(out / "detections.gpkg", layer="detections")
    assert "change_time" in frame.columns
    if len(frame):
        times = {t.isoformat() for t in sim.times[1:]}
        assert set(frame["change_time"]) <= times


def test_series_with_a_band_missing_on_one_date_runs_on_the_shared_bands(tmp_path):
    """A pass with VV only among VV+VH passes (or an S2 scene stored before B11 was
    downloaded among newer ones): the series runs on the bands every date has."""
    sim = simulate_series(get_aoi("dunai"), sensor="s1", seed=5, dates=3, size_px=SIZE)
    paths = write_simulation(sim, tmp_path / "series")
    scenes = sorted(p for k, p in paths.items() if k.startswith("t") and str(p).endswith(".tif"))
    last = read_raster(scenes[-1])
    write_raster(last.select(["VV"]), scenes[-1])
    out = tmp_path / "run"
    result = _run("detect", *map(str, scenes), "--sensor", "s1", "--out", out, "--no-chips")
    assert result.exit_code == 0, result.output
    assert pyogrio.read_dataframe(out / "detections.gpkg", layer="detections") is not None


def test_detect_from_store(tmp_path, s1_pair):
    sim, paths = s1_pair
    store = tmp_path / "store"
    for raster in (read_raster(paths["before"]), read_raster(paths["after"])):
        store_s1_pass(store, "rajin", raster, "DESCENDING", 54)
    after_day = sim.times[1].date().isoformat()
    root = tmp_path / "results"
    result = _run(
        "detect",
        "--store",
        store,
        "--aoi",
        "rajin",
        "--sensor",
        "s1",
        "--after",
        after_day,
        "--root",
        root,
        "--no-chips",
    )
    assert result.exit_code == 0, result.output
    assert (root / "rajin" / after_day / "detections.gpkg").exists()
    assert (root / "rajin" / "history.gpkg").exists()


def test_detect_from_store_on_named_dates_keeps_one_orbit(tmp_path, s1_pair):
    sim, paths = s1_pair
    store = tmp_path / "store"
    before, after = read_raster(paths["before"]), read_raster(paths["after"])
    for raster, direction, orbit in (
        (before, "ASCENDING", 127),  # the same day seen from another geometry
        (before, "DESCENDING", 54),
        (after, "DESCENDING", 54),
    ):
        store_s1_pass(store, "rajin", raster, direction, orbit)
    days = [t.date().isoformat() for t in sim.times[:2]]
    args = ["detect", "--store", store, "--aoi", "rajin", "--sensor", "s1", "--no-chips"]
    result = _run(*args, "--before", days[0], "--after", days[1], "--root", tmp_path / "run")
    assert result.exit_code == 0, result.output
    inputs = json.loads((tmp_path / "run" / "rajin" / days[1] / "inputs.json").read_text())
    assert "DSC054" in json.dumps(inputs) and "ASC127" not in json.dumps(inputs)
    # An after scene whose orbit the before date lacks is refused, in one line.
    (store / "rajin" / "s1" / f"{days[0]}_S1A_DSC054.tif").unlink()
    result = _run(*args, "--before", days[0], "--after", days[1], "--root", tmp_path / "other")
    assert result.exit_code == 1
    assert "from orbit DSC054" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize(
    ("aoi_id", "seed", "kind", "gained"),
    [("vladivostok", 126, "departed", 2), ("chongjin", 107, "cargo", 1)],
)
def test_s1_lines_thinner_than_the_blur_are_not_ships_as_evidence(aoi_id, seed, kind, gained):
    # Counted as ships, quay lines hid departures from their berths (seed 126) and kept
    # cargo 80 m off (seed 107): development seeds where the flags differ.
    sim = simulate_pair(get_aoi(aoi_id), sensor="s1", seed=seed, size_px=512)
    truth = sim.departed[0] if kind == "departed" else sim.truth[0]
    right = []
    without_floor = dataclasses.replace(DetectParams().vessel, berth_min_vv_db=None)
    for width_m in (DetectParams().evidence_min_width_m, 0.0):
        result = detect_pair(
            sim.scenes[0],
            sim.scenes[1],
            sensor="s1",
            aoi=get_aoi(aoi_id),
            # Without the VV floor, which takes one of seed 126's hiding lines too.
            params=DetectParams(vessel=without_floor, evidence_min_width_m=width_m),
        )
        if kind == "departed":
            flags, truth_kind = result.departed.assign(kind="vessel"), truth.assign(kind="vessel")
        else:
            flags, truth_kind = result.detections, truth
        label = "vessel" if kind == "departed" else "cargo"
        score = score_detections(flags, truth_kind, kind=label)
        right.append(score.tp)
    assert DetectParams().evidence_min_width_m == 12.0
    assert right[0] == right[1] + gained
