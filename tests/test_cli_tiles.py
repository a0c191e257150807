"""``portwatch detect BEFORE AFTER`` on whole tiles: window by window, and the full review package."""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner
from test_review_marks import _mark

import imagery.cli.detect as detect_cli
import imagery.tiled
from imagery.aoi import get_aoi
from imagery.cli.main import cli
from imagery.errors import InputError
from imagery.io import read_raster
from imagery.review.package import FLAG_FIELDS
from imagery.review.scenes import from_files
from imagery.sensors import prepare
from imagery.simulate import simulate_pair, write_simulation

SIZE_PX = 512


@pytest.fixture(scope="module")
def s1_pair(tmp_path_factory):
    sim = simulate_pair(get_aoi("nakhodka"), sensor="s1", seed=12, size_px=SIZE_PX)
    return write_simulation(sim, tmp_path_factory.mktemp("pair"))


@pytest.fixture
def small_tiles(monkeypatch):
    """Scenes of SIZE_PX count as whole tiles, cut into four windows."""
    monkeypatch.setattr(detect_cli, "MAX_WHOLE_SCENE_PX", SIZE_PX * SIZE_PX - 1)
    original = imagery.tiled.detect_pair_files
    calls = []

    def windows_of_256(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **{**kwargs, "chunk_px": 256})

    monkeypatch.setattr(imagery.tiled, "detect_pair_files", windows_of_256)
    return calls


def _detect(*args):
    return CliRunner().invoke(cli, ["detect", *map(str, args)], catch_exceptions=False)


def test_a_whole_tile_pair_writes_the_review_package_by_windows(tmp_path, s1_pair, small_tiles):
    run = tmp_path / "run"
    result = _detect(s1_pair["before"], s1_pair["after"], "--sensor", "s1", "--out", run, "--json")
    assert result.exit_code == 0, result.output
    assert len(small_tiles) == 1, "not run window by window"
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["parameters"]["windows"] == 4
    for name in ("detections.gpkg", "before.tif", "after.tif", "change.tif", "project.qgs"):
        assert (run / name).is_file(), name
    assert not list(tmp_path.glob(".portwatch-tile.*")), "scratch rasters left behind"

    # The flags are the tiled run's, in the package's layers and fields.
    direct = imagery.tiled.detect_pair_files(
        s1_pair["before"], s1_pair["after"], sensor="s1", chunk_px=256
    )
    flags = pyogrio.read_dataframe(run / "detections.gpkg", layer="detections")
    assert len(flags) == summary["new_vessels"] + summary["new_cargo"] == len(direct.detections)
    assert len(flags) >= 3
    assert list(flags.columns[: len(FLAG_FIELDS)]) == list(FLAG_FIELDS)
    np.testing.assert_allclose(
        np.sort(flags.geometry.centroid.x), np.sort(direct.detections.geometry.centroid.x)
    )
    departed = pyogrio.read_dataframe(run / "detections.gpkg", layer="departed")
    assert len(departed) == summary["departed"] == len(direct.departed)

    # Display COGs on the before grid, S1 in dB, with the scenes' times; the change COG.
    before = read_raster(s1_pair["before"])
    for name, source in (("before", s1_pair["before"]), ("after", s1_pair["after"])):
        with rasterio.open(run / f"{name}.tif") as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert ds.transform.almost_equals(before.transform) and ds.crs == before.crs
            assert ds.descriptions[0] == "VV"
            db = ds.read(1)
        assert read_raster(run / f"{name}.tif").time == read_raster(source).time
        assert np.isfinite(db).mean() > 0.95 and -40 < np.nanmedian(db) < 5
    with rasterio.open(run / "change.tif") as ds:
        assert ds.descriptions == ("change", "z") and ds.overviews(1)

    # Every flag has its chips, and the report and project point at the package's files.
    for row in flags.itertuples():
        assert (run / row.chip_before).is_file() and (run / row.chip_after).is_file()
    assert "./after.tif" in (run / "project.qgs").read_text()
    assert "data:image/png;base64" in (run / "report.html").read_text()


def test_an_analysts_marks_survive_a_tiled_rerun(tmp_path, s1_pair, small_tiles):
    run = tmp_path / "run"
    args = (s1_pair["before"], s1_pair["after"], "--sensor", "s1", "--out", run, "--no-chips")
    assert _detect(*args).exit_code == 0
    marked = int(pyogrio.read_dataframe(run / "detections.gpkg", layer="detections")["id"].min())
    _mark(run / "detections.gpkg", marked, "confirmed", "Angara?")
    assert _detect(*args).exit_code == 0
    flags = pyogrio.read_dataframe(run / "detections.gpkg", layer="detections")
    kept = flags[flags["id"] == marked]
    assert list(kept["status"]) == ["confirmed"] and list(kept["note"]) == ["Angara?"]
    assert (flags["status"] == "new").sum() == len(flags) - 1


def test_a_tiled_pair_goes_into_a_results_tree(tmp_path, s1_pair, small_tiles):
    root = tmp_path / "results"
    result = _detect(
        s1_pair["before"], s1_pair["after"], "--sensor", "s1", "--root", root, "--aoi", "nakhodka"
    )
    assert result.exit_code == 0, result.output
    after_date = read_raster(s1_pair["after"]).time.date().isoformat()
    folder = root / "nakhodka" / after_date
    stamp = json.loads((folder / "inputs.json").read_text())
    assert stamp["sensor"] == "s1" and stamp["after"] == str(s1_pair["after"])
    assert (root / "nakhodka" / "history.gpkg").is_file()
    assert (folder / "report.html").is_file()


def test_a_tiled_s2_pair_shows_true_colour(tmp_path, small_tiles):
    sim = simulate_pair(get_aoi("nakhodka"), sensor="s2", seed=5, size_px=SIZE_PX)
    paths = write_simulation(sim, tmp_path / "pair")
    run = tmp_path / "run"
    result = _detect(paths["before"], paths["after"], "--sensor", "s2", "--out", run)
    assert result.exit_code == 0, result.output
    with rasterio.open(run / "after.tif") as ds:
        assert ds.descriptions[:3] == ("B04", "B03", "B02") and ds.dtypes[0] == "uint16"
        assert ds.nodata == 0
    assert "<qgis" in (run / "project.qgs").read_text()


def test_package_files_off_one_grid_are_refused(tmp_path, s1_pair):
    result = imagery.tiled.detect_pair_files(
        s1_pair["before"],
        s1_pair["after"],
        sensor="s1",
        chunk_px=256,
        change_path=tmp_path / "change.tif",
        display_paths=(tmp_path / "before.tif", tmp_path / "after.tif"),
    )
    assert result.display_paths == (tmp_path / "before.tif", tmp_path / "after.tif")
    shifted = read_raster(tmp_path / "after.tif")
    from imagery.io import write_raster

    moved = shifted.replace(transform=shifted.transform * shifted.transform.translation(3, 0))
    write_raster(moved, tmp_path / "moved.tif")
    with pytest.raises(InputError, match=r"after \(.*moved.tif\) raster is not on the before"):
        from_files(tmp_path / "before.tif", tmp_path / "moved.tif", tmp_path / "change.tif")


def test_a_tiled_pair_of_eo_browser_exports_reads_their_scale(tmp_path, small_tiles, caplog):
    """16-bit exports (reflectance x 65535), with --s2-scale or without it (their numbers
    tell it), flag what the reflectance does."""
    from imagery.io import write_raster

    sim = simulate_pair(get_aoi("nakhodka"), sensor="s2", seed=5, size_px=SIZE_PX)
    paths = write_simulation(sim, tmp_path / "pair")
    exported = {}
    for name in ("before", "after"):
        scene = prepare(read_raster(paths[name]), "s2", grid="native")  # reflectance
        keep = [i for i, band in enumerate(scene.band_names) if band != "SCL"]
        dn = np.round(np.nan_to_num(scene.data[keep], nan=0.0) * 65535).clip(0, 65535)
        exported[name] = write_raster(
            scene.replace(
                data=dn.astype(np.uint16),
                nodata=0,
                band_names=tuple(scene.band_names[i] for i in keep),
            ),
            tmp_path / f"{name}_dn.tif",
        )
    scenes = {"reflectance": (paths["before"], paths["after"], "--s2-scale", "1e-4")}
    scenes["export"] = (exported["before"], exported["after"], "--s2-scale", "1.5259e-5")
    scenes["export, scale untold"] = (exported["before"], exported["after"])
    flags = {}
    for label, (before, after, *scale) in scenes.items():
        run = tmp_path / label.replace(", ", "_").replace(" ", "_")
        caplog.clear()
        result = _detect(before, after, "--sensor", "s2", "--out", run, *scale)
        assert result.exit_code == 0, result.output
        if scale:
            # Every reader of the files (co-registration, water split, windows) took it.
            assert "give --s2-scale" not in caplog.text
        else:
            # The files' numbers told it, once for each file, and every reader (each
            # window of it too) read it so.
            said = [r.getMessage() for r in caplog.records if "x 65535" in r.getMessage()]
            assert sorted(m.split(":")[0] for m in said) == sorted(map(str, exported.values()))
        flags[label] = pyogrio.read_dataframe(run / "detections.gpkg", layer="detections")
    assert len(flags["reflectance"]) >= 2
    a, *others = (np.sort(f.geometry.centroid.x.to_numpy()) for f in flags.values())
    for b in others:
        assert len(a) == len(b) and np.allclose(a, b, atol=20.0)
    with rasterio.open(tmp_path / "export" / "after.tif") as ds:
        water = np.percentile(ds.read(4)[ds.read(4) > 0], 10)
    assert water < 1500  # B08 reflectance x 10000 of water, not x 65535


def test_tiled_displays_are_the_scenes_display_and_scratch_lies_beside_the_run(
    tmp_path, s1_pair, small_tiles
):
    from imagery.review.display import display_raster

    run = tmp_path / "out" / "run"
    args = (s1_pair["before"], s1_pair["after"], "--sensor", "s1", "--no-chips")
    assert _detect(*args, "--out", run).exit_code == 0
    # The scratch rasters were written beside the run folder, as its staging is.
    scratch = small_tiles[-1]["change_path"].parent
    assert scratch.parent == run.parent and scratch.name.startswith(".run.")
    assert not scratch.exists()
    expected = display_raster(prepare(read_raster(s1_pair["before"]), "s1", grid="native"))
    np.testing.assert_array_equal(read_raster(run / "before.tif").data, expected.data)
    # The after scene as the whole-scene pipeline shows it, but for resampling.
    from imagery.detect import detect_pair

    pair = detect_pair(read_raster(s1_pair["before"]), read_raster(s1_pair["after"]), sensor="s1")
    after_whole = display_raster(pair.after).data[0]
    after_tiled = read_raster(run / "after.tif").data[0]
    both = np.isfinite(after_whole) & np.isfinite(after_tiled)
    assert both.mean() > 0.95
    assert np.median(np.abs(after_whole[both] - after_tiled[both])) < 0.5  # dB

    root = tmp_path / "results"
    assert _detect(*args, "--root", root).exit_code == 0
    scratch = small_tiles[-1]["change_path"].parent
    assert scratch.parent == root / "scene" and not scratch.exists()
    # No scratch left; the lock files of the history and of the folders' claims stay
    # (imagery.atomic.locked).
    hidden = sorted(p.name for p in (root / "scene").iterdir() if p.name.startswith("."))
    assert hidden == [".folders.lock", ".history.gpkg.lock"]


def test_the_after_scene_shows_where_the_before_scene_has_no_data(tmp_path, small_tiles):
    from imagery.io import write_raster

    sim = simulate_pair(get_aoi("nakhodka"), sensor="s2", seed=5, size_px=SIZE_PX)
    paths = write_simulation(sim, tmp_path / "pair")
    before = read_raster(paths["before"])
    data = before.data.copy()
    # L2A's fill value: two of the four windows, with their halos, hold no data before.
    data[:, :, :400] = 0
    write_raster(before.replace(data=data, nodata=0), tmp_path / "before.tif")
    run = tmp_path / "run"
    result = _detect(tmp_path / "before.tif", paths["after"], "--sensor", "s2", "--out", run)
    assert result.exit_code == 0, result.output
    shown = read_raster(run / "after.tif").valid_mask()
    assert shown[:, :256].mean() > 0.95 and shown.mean() > 0.95
    assert not read_raster(run / "before.tif", require_valid=False).valid_mask()[:, :256].any()
    footprints = pyogrio.read_dataframe(run / "detections.gpkg", layer="footprints")
    areas = dict(zip(footprints["role"], footprints.geometry.area, strict=True))
    assert areas["after"] > 1.6 * areas["before"]


def test_stretch_and_change_limits_from_files_match_the_scenes_in_memory(tmp_path, monkeypatch):
    import imagery.review.scenes as scenes
    from imagery.review.display import change_limits, stretch_for

    sim = simulate_pair(get_aoi("nakhodka"), sensor="s2", seed=5, size_px=SIZE_PX)
    paths = write_simulation(sim, tmp_path / "pair")
    result = imagery.tiled.detect_pair_files(
        paths["before"],
        paths["after"],
        sensor="s2",
        chunk_px=256,
        change_path=tmp_path / "change.tif",
        display_paths=(tmp_path / "before.tif", tmp_path / "after.tif"),
    )
    # What write_run computes from the same rasters held in memory.
    stretch = stretch_for(read_raster(tmp_path / "after.tif"))
    clear, top = change_limits(read_raster(result.change_path).data[0])
    whole = scenes.from_files(*result.display_paths, result.change_path)
    assert whole.stretch == stretch
    assert (whole.change_clear, whole.change_max) == pytest.approx((clear, top), rel=0.02)
    monkeypatch.setattr(scenes, "SAMPLE_PX", 100_000)  # a lattice of 16 windows of 64 px
    lattice = scenes.from_files(*result.display_paths, result.change_path)
    assert lattice.stretch.vmax == pytest.approx(stretch.vmax, rel=0.1)
    assert (lattice.change_clear, lattice.change_max) == pytest.approx((clear, top), rel=0.15)
