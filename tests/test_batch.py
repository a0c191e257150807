"""Batch jobs from a real imagery store to run folders (serial and on a local dask cluster)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from imagery.aoi import get_aoi
from imagery.batch import plan_jobs, run_batch
from imagery.cli.main import cli
from imagery.simulate import simulate_series
from imagery.store import scene_path, write_scene


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    sim = simulate_series(get_aoi("dunai"), sensor="s1", seed=8, dates=3, size_px=320)
    for scene in sim.scenes:
        path = scene_path(root, "dunai", "s1", scene.time, "S1A", "DSC054")
        write_scene(
            path,
            scene,
            aoi_id="dunai",
            platform="S1A",
            orbit_direction="DESCENDING",
            relative_orbit=54,
        )
    # A pass from another orbit must not be paired with these.
    other = sim.scenes[1]
    path = scene_path(root, "dunai", "s1", other.time, "S1A", "ASC127")
    write_scene(
        path, other, aoi_id="dunai", platform="S1A", orbit_direction="ASCENDING", relative_orbit=127
    )
    return root, sim


def test_plan_pairs_consecutive_passes_of_one_orbit(store):
    root, sim = store
    jobs = plan_jobs(root, ["dunai"], ["s1"])
    assert [j.after_date for j in jobs] == [t.date() for t in sim.times[1:]]
    assert all("DSC054" in j.before.name and "DSC054" in j.after.name for j in jobs)


def test_batch_runs_then_skips_then_reports_failures(tmp_path, store):
    root, sim = store
    out = tmp_path / "results"
    args = [
        "batch",
        "--store",
        str(root),
        "--root",
        str(out),
        "--aoi",
        "dunai",
        "--sensor",
        "s1",
        "--no-chips",
    ]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "2 done" in first.output
    for t in sim.times[1:]:
        assert (out / "dunai" / t.date().isoformat() / "detections.gpkg").exists()
    assert (out / "dunai" / "history.gpkg").exists()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "2 up to date" in again.output


def test_one_failed_pair_does_not_stop_the_others(tmp_path, store):
    root, _ = store
    jobs = plan_jobs(root, ["dunai"], ["s1"])
    broken = jobs[0].__class__(**{**jobs[0].__dict__, "after": tmp_path / "missing.tif"})
    report = run_batch([broken, jobs[1]], tmp_path / "out", chips=False)
    assert [r.status for r in report.results] == ["failed", "done"]
    assert "missing.tif" in report.failed[0].reason


def test_batch_on_a_local_dask_cluster(tmp_path, store):
    root, _ = store
    jobs = plan_jobs(root, ["dunai"], ["s1"])
    report = run_batch(jobs, tmp_path / "out", workers=2, chips=False)
    assert report.count("done") == 2


def test_a_users_own_aoi_file_works_with_the_store(tmp_path):
    import json

    from imagery.aoi import load_aoi
    from imagery.store import remember_aoi

    ring = [[130.27, 42.22], [130.31, 42.22], [130.31, 42.25], [130.27, 42.25], [130.27, 42.22]]
    doc = {
        "type": "Feature",
        "properties": {"id": "testport", "name": "Test port"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    aoi_file = tmp_path / "testport.geojson"
    aoi_file.write_text(json.dumps(doc))
    aoi = load_aoi(aoi_file)
    store = tmp_path / "store"
    remember_aoi(store, aoi)  # what `portwatch fetch` does
    sim = simulate_series(aoi, sensor="s1", seed=2, dates=3, size_px=320)
    for scene in sim.scenes[:2]:
        path = scene_path(store, aoi.id, "s1", scene.time, "S1A", "DSC054")
        write_scene(
            path,
            scene,
            aoi_id=aoi.id,
            platform="S1A",
            orbit_direction="DESCENDING",
            relative_orbit=54,
        )
    day = sim.times[1].date().isoformat()
    for given in ("testport", str(aoi_file)):
        out = tmp_path / f"out-{len(given)}"
        result = CliRunner().invoke(
            cli,
            [
                "detect",
                "--store",
                str(store),
                "--aoi",
                given,
                "--sensor",
                "s1",
                "--after",
                day,
                "--root",
                str(out),
                "--no-chips",
            ],
        )
        assert result.exit_code == 0, result.output
        assert (out / "testport" / day / "detections.gpkg").exists()
    report = run_batch(plan_jobs(store, ["testport"], ["s1"]), tmp_path / "batch", chips=False)
    assert report.count("done") == 1, report.summary()
