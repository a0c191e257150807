"""Batch jobs from a real imagery store to run folders (serial and on a local dask cluster)."""

from __future__ import annotations

import json
import shutil

import pyogrio
import pytest
from click.testing import CliRunner
from s1_scenes import store_s1_pass
from test_review_marks import _mark

from imagery.aoi import get_aoi
from imagery.batch import plan_jobs, run_batch
from imagery.cli.main import cli
from imagery.simulate import simulate_series


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    sim = simulate_series(get_aoi("dunai"), sensor="s1", seed=8, dates=3, size_px=320)
    for scene in sim.scenes:
        store_s1_pass(root, "dunai", scene, "DESCENDING", 54)
    # A pass from another orbit must not be paired with these.
    store_s1_pass(root, "dunai", sim.scenes[1], "ASCENDING", 127)
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
    # A mark saved in QGIS reaches the history at the next batch, which runs nothing again.
    gpkg = out / "dunai" / sim.times[1].date().isoformat() / "detections.gpkg"
    flags = pyogrio.read_dataframe(gpkg, layer="detections", read_geometry=False)
    assert len(flags)
    _mark(gpkg, int(flags.id[0]), "confirmed")
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "2 up to date" in again.output
    history = pyogrio.read_dataframe(out / "dunai" / "history.gpkg", layer="history")
    assert (history["last_status"] == "confirmed").sum() == 1


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
        store_s1_pass(store, aoi.id, scene, "DESCENDING", 54)
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


def _hold(lock_path, holding, release):
    from imagery.atomic import locked

    with locked(lock_path):
        holding.set()
        release.wait(30)


def _count_up(path, times):
    import json
    import time

    from imagery.atomic import atomic_write_text, locked

    for _ in range(times):
        with locked(path.with_name(path.name + ".lock")):
            value = json.loads(path.read_text())
            time.sleep(0.002)  # another process reads meanwhile, unless it waits
            atomic_write_text(path, json.dumps(value + 1))


def test_a_locked_read_modify_write_loses_no_update(tmp_path):
    import multiprocessing

    counter = tmp_path / "counter.json"
    counter.write_text("0")
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_count_up, args=(counter, 25)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert counter.read_text() == "75"


def _refused_while_held(lock_path, holder, holding, release):
    """``holder`` (a thread or process running :func:`_hold`) takes the lock; meanwhile
    taking it here without waiting is refused, and once it is done it is free."""
    from imagery.atomic import locked

    holder.start()
    try:
        assert holding.wait(30)
        with pytest.raises(BlockingIOError), locked(lock_path, wait=False):
            pass
    finally:
        release.set()
        holder.join(30)
    with locked(lock_path, wait=False):
        pass


def test_a_lock_held_by_one_thread_excludes_another_thread_of_the_process(tmp_path):
    # A dask worker started by hand (``dask worker ADDRESS``) runs one task per core as
    # threads of one process, where POSIX record locks exclude nobody: two passes of
    # one port would fold into its history at once and one fold would be lost.
    import threading

    lock_path = tmp_path / ".history.gpkg.lock"
    holding, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(lock_path, holding, release))
    _refused_while_held(lock_path, holder, holding, release)


def test_a_lock_held_by_another_process_is_not_taken(tmp_path):
    import multiprocessing

    lock_path = tmp_path / ".history.gpkg.lock"
    spawn = multiprocessing.get_context("spawn")
    holding, release = spawn.Event(), spawn.Event()
    holder = spawn.Process(target=_hold, args=(lock_path, holding, release))
    _refused_while_held(lock_path, holder, holding, release)


def test_a_second_batch_on_one_root_is_refused(tmp_path, store):
    import multiprocessing

    from imagery.errors import OutputError

    root, _ = store
    out = tmp_path / "results"
    jobs = plan_jobs(root, ["dunai"], ["s1"])
    spawn = multiprocessing.get_context("spawn")
    holding, release = spawn.Event(), spawn.Event()
    other = spawn.Process(target=_hold, args=(out / ".batch.lock", holding, release))
    other.start()
    try:
        assert holding.wait(30)
        with pytest.raises(OutputError, match="another portwatch batch"):
            run_batch(jobs, out, chips=False)
        assert not (out / "dunai").exists()
    finally:
        release.set()
        other.join(30)
    assert run_batch(jobs[:1], out, chips=False).count("done") == 1


def test_a_pair_failing_on_an_os_error_does_not_stop_the_batch(tmp_path, store):
    root, _ = store
    out = tmp_path / "results"
    out.mkdir()
    (out / "dunai").write_text("a file where the AOI's folder goes")
    report = run_batch(plan_jobs(root, ["dunai"], ["s1"]), out, chips=False)
    assert [r.status for r in report.results] == ["failed", "failed"]
    assert all("Error" in r.reason for r in report.results)


def test_jobs_carry_absolute_paths_for_workers_elsewhere(tmp_path, store, monkeypatch):
    root, _ = store
    monkeypatch.chdir(root.parent)
    jobs = plan_jobs(root.name, ["dunai"], ["s1"])
    assert jobs and all(j.before.is_absolute() and j.after.is_absolute() for j in jobs)


def test_two_passes_of_one_day_keep_their_own_run_folders(tmp_path):
    """A descending and an ascending S1 pass on one day: two runs, neither overwritten,
    both in the history, and a rerun finds both up to date."""
    from datetime import timedelta

    root = tmp_path / "store"
    sim = simulate_series(get_aoi("dunai"), sensor="s1", seed=8, dates=3, size_px=256)
    for scene in sim.scenes[:2]:
        for direction, orbit, hours in (("DESCENDING", 54, 0), ("ASCENDING", 127, 8)):
            moved = scene.replace(time=scene.time + timedelta(hours=hours))
            store_s1_pass(root, "dunai", moved, direction, orbit)
    jobs = plan_jobs(root, ["dunai"], ["s1"])
    assert len(jobs) == 2 and jobs[0].after_date == jobs[1].after_date
    out = tmp_path / "results"
    first = run_batch(jobs, out, chips=False)
    assert [r.status for r in first.results] == ["done", "done"]
    folders = {r.run_dir for r in first.results}
    assert len(folders) == 2
    for result in first.results:
        stamp = json.loads((result.run_dir / "inputs.json").read_text())
        assert stamp["after"] == str(result.job.after)
        assert (result.run_dir / "detections.gpkg").exists()
    history = pyogrio.read_dataframe(
        out / "dunai" / "history.gpkg", layer="history", read_geometry=False
    )
    seen = set().union(*(json.loads(v) for v in history["run_folders"]))
    assert seen == {folder.name for folder in folders}
    again = run_batch(jobs, out, chips=False)
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    assert {r.run_dir for r in again.results} == folders
    # The bare date's folder removed (a bad run, to be redone), the other pass stays
    # where it is, up to date, rather than moving into the freed name.
    bare = next(r for r in first.results if r.run_dir.name == sim.times[1].date().isoformat())
    other = next(r for r in first.results if r is not bare)
    shutil.rmtree(bare.run_dir)
    kept = run_batch([other.job], out, chips=False).results[0]
    assert (kept.status, kept.run_dir) == ("skipped", other.run_dir)


def test_a_run_folder_is_claimed_before_it_is_written(tmp_path):
    """Two passes of one day asking for a folder before either has written its run (two
    workers of a cluster) are given two folders; the same pass asking again its own."""
    from datetime import UTC, datetime

    from imagery.outputs import run_folder

    morning = datetime(2024, 6, 13, 9, 5, tzinfo=UTC)
    evening = datetime(2024, 6, 13, 21, 40, tzinfo=UTC)
    first = run_folder(tmp_path, "dunai", morning, "s1", claim=True)
    second = run_folder(tmp_path, "dunai", evening, "s1", claim=True)
    optical = run_folder(tmp_path, "dunai", evening, "s2", claim=True)
    assert len({first, second, optical}) == 3
    assert first.name == "2024-06-13"
    assert run_folder(tmp_path, "dunai", morning, "s1") == first
    assert run_folder(tmp_path, "dunai", evening, "s1", claim=True) == second
    assert run_folder(tmp_path, "dunai", evening, "s2") == optical
