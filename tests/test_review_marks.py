"""Review marks survive reruns; a failed run leaves the previous package untouched."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from test_review_data import CRS, GONE, NEW, run_inputs

from imagery.errors import ReviewError
from imagery.review import chips as chips_mod
from imagery.review import write_run
from imagery.review.marks import match_flags, merge_marks


def _gpkg_geometry(blob):
    """Shapely geometry of a GeoPackage geometry blob (header, then WKB); None if empty."""
    if blob is None:
        return None
    flags = blob[3]
    envelope_bytes = (0, 32, 48, 48, 64)[(flags >> 1) & 7]
    if (flags >> 4) & 1:
        return None
    return shapely.from_wkb(bytes(blob[8 + envelope_bytes :]))


def gpkg_connect(path) -> sqlite3.Connection:
    """sqlite3 with the ST_* functions GeoPackage triggers call, as GDAL (and so QGIS) has."""
    con = sqlite3.connect(path)
    con.create_function("ST_IsEmpty", 1, lambda b: int(_gpkg_geometry(b) is None))
    for name, index in (("ST_MinX", 0), ("ST_MinY", 1), ("ST_MaxX", 2), ("ST_MaxY", 3)):
        con.create_function(name, 1, lambda b, i=index: _gpkg_geometry(b).bounds[i])
    return con


def _mark(gpkg, flag_id: int, status: str, note: str = "", layer: str = "detections") -> None:
    """Edit a flag the way QGIS saves an edit: an UPDATE in the GeoPackage."""
    con = gpkg_connect(gpkg)
    try:
        with con:
            con.execute(
                f"UPDATE {layer} SET status = ?, note = ? WHERE id = ?", (status, note, flag_id)
            )
    finally:
        con.close()


def _frame(rows):
    """(kind, x, y, length_m) -> a minimal flags frame with square-ish polygons."""
    return gpd.GeoDataFrame(
        {
            "id": range(1, len(rows) + 1),
            "kind": [r[0] for r in rows],
            "length_m": [r[3] for r in rows],
        },
        geometry=[shapely.box(x - 5, y - 5, x + 5, y + 5) for _, x, y, _ in rows],
        crs=CRS,
    )


def test_match_is_one_to_one_nearest_first_and_by_kind():
    previous = _frame([("vessel", 0, 0, 100), ("vessel", 30, 0, 100), ("cargo", 500, 0, 10)])
    current = _frame([("vessel", 28, 0, 100), ("vessel", 2, 0, 100), ("vessel", 500, 0, 10)])
    pairs = sorted(match_flags(previous, current))
    # nearest first: prev 1 (x=30) takes cur 0 (x=28), prev 0 takes cur 1; the
    # vessel at x=500 does not take the cargo there.
    assert pairs == [(0, 1), (1, 0)]


def test_match_tolerance_grows_with_length():
    previous = _frame([("vessel", 0, 0, 200)])
    assert match_flags(previous, _frame([("vessel", 90, 0, 200)])) == [(0, 0)]
    assert match_flags(previous, _frame([("vessel", 110, 0, 200)])) == []
    short = _frame([("cargo", 0, 0, 10)])
    assert match_flags(short, _frame([("cargo", 19, 0, 10)])) == [(0, 0)]
    assert match_flags(short, _frame([("cargo", 21, 0, 10)])) == []


def test_match_uses_the_reported_centre_not_the_drawing():
    # An earlier version drew a 45 m vessel as its pixel outline, centred 35 m off the
    # lon/lat it reported; this one draws the hull on lon/lat. Still the same flag.
    from imagery.grid import to_lonlat

    previous = _frame([("vessel", 600035, 4700000, 45)])
    current = _frame([("vessel", 600000, 4700000, 45)])
    assert match_flags(previous, current) == []
    for frame in (previous, current):
        frame["lon"], frame["lat"] = to_lonlat([600000.0], [4700000.0], CRS)
    assert match_flags(previous, current) == [(0, 0)]
    previous["lon"] = float("nan")  # no reported centre: the drawing's
    assert match_flags(previous, current) == []


def test_merge_without_previous_numbers_flags_from_one():
    result = merge_marks(None, _frame([("vessel", 0, 0, 50), ("cargo", 100, 0, 10)]))
    assert result.frame["id"].tolist() == [1, 2]
    assert result.frame["status"].tolist() == ["new", "new"]
    assert result.new == 2 and result.kept_marks == 0


def test_rerun_keeps_marks_ids_and_adds_only_what_is_new(tmp_path):
    run_dir = tmp_path / "testport" / "2024-03-13"
    first = write_run(run_dir, **run_inputs(), chips=False)
    gpkg = first.paths["detections"]
    ids = dict(zip(first.detections["length_m"], first.detections["id"], strict=True))
    _mark(gpkg, ids[180.0], "confirmed", "tanker at the oil pier")
    _mark(gpkg, ids[120.0], "dismissed", "wave crest")
    _mark(gpkg, ids[50.0], "confirmed")
    _mark(gpkg, 1, "confirmed", "left at dawn", layer="departed")
    # Second run: the same flags (slightly moved), minus the 120 m vessel, plus a new one.
    moved = [(k, c + 1, r, length, w) for k, c, r, length, w in NEW if length != 12]
    rerun = write_run(
        run_dir, **run_inputs(new=[*moved, ("vessel", 40, 180, 10, 3)], gone=GONE), chips=False
    )
    det = rerun.detections.set_index("id")
    assert det.index.is_unique and len(det) == 4
    assert det.loc[ids[180.0], ["status", "note"]].tolist() == [
        "confirmed",
        "tanker at the oil pier",
    ]
    assert det.loc[ids[50.0], "status"] == "confirmed"
    # the dismissed vessel is no longer detected but the analyst's mark is kept
    assert det.loc[ids[120.0], ["status", "note", "seen_in_last_run"]].tolist() == [
        "dismissed",
        "wave crest",
        False,
    ]
    new_rows = det[det["status"] == "new"]
    assert len(new_rows) == 1 and new_rows.index[0] == max(ids.values()) + 1
    assert new_rows["length_m"].iloc[0] == 100.0
    assert rerun.new == 1 and rerun.total == 4
    assert rerun.kept_marks == 3 + 1 and rerun.unseen_marks == 1
    assert rerun.departed[["status", "note"]].values.tolist() == [["confirmed", "left at dawn"]]
    # A third, identical run changes nothing.
    again = write_run(
        run_dir, **run_inputs(new=[*moved, ("vessel", 40, 180, 10, 3)], gone=GONE), chips=False
    )
    assert again.new == 0
    assert again.detections.drop(columns="geometry").equals(
        rerun.detections.drop(columns="geometry")
    )


def test_unmarked_flags_that_vanish_are_dropped(tmp_path):
    run_dir = tmp_path / "run"
    write_run(run_dir, **run_inputs(), chips=False)
    rerun = write_run(run_dir, **run_inputs(new=NEW[:1]), chips=False)
    assert rerun.detections["id"].tolist() == [1]


def test_crash_half_way_leaves_previous_package_byte_identical(tmp_path, monkeypatch):
    run_dir = tmp_path / "testport" / "2024-03-13"
    first = write_run(run_dir, **run_inputs())
    gpkg = first.paths["detections"]
    _mark(gpkg, 1, "confirmed", "keep me")
    before = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    calls = []

    def failing_chips(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # after the detections' chips, before the departed ones
            raise OSError("disk full")
        return real(*args, **kwargs)

    real = chips_mod.write_chips
    monkeypatch.setattr(chips_mod, "write_chips", failing_chips)
    with pytest.raises(OSError, match="disk full"):
        write_run(run_dir, **run_inputs(new=NEW[:1]))
    after = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")]


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    run_dir = tmp_path / "testport" / "2024-03-13"
    write_run(run_dir, **run_inputs(), chips=False)
    killed = run_dir.parent / ".2024-03-13.x1y2z3.tmp"  # as tempfile.mkdtemp names them
    (killed / "chips").mkdir(parents=True)
    (killed / "before.tif").write_bytes(b"half a raster")
    hour_ago = time.time() - 2 * 3600
    os.utime(killed, (hour_ago, hour_ago))
    writing = run_dir.parent / ".2024-03-13.a4b5c6.tmp"  # another run, still writing
    writing.mkdir()
    other = run_dir.parent / ".2024-03-25.d7e8f9.tmp"  # another date's folder
    other.mkdir()
    os.utime(other, (hour_ago, hour_ago))
    write_run(run_dir, **run_inputs(), chips=False)
    assert not killed.exists()
    assert writing.is_dir() and other.is_dir()


def test_crash_while_writing_the_geopackage_keeps_the_marks(tmp_path, monkeypatch):
    from imagery.review import package

    run_dir = tmp_path / "run"
    first = write_run(run_dir, **run_inputs(), chips=False)
    _mark(first.paths["detections"], 2, "dismissed", "not a ship")
    marked = first.paths["detections"].read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("styles exploded")

    monkeypatch.setattr(package, "write_layer_styles", broken)
    with pytest.raises(RuntimeError):
        write_run(run_dir, **run_inputs(), chips=False)
    assert first.paths["detections"].read_bytes() == marked
    monkeypatch.undo()
    rerun = write_run(run_dir, **run_inputs(), chips=False)
    assert rerun.detections.set_index("id").loc[2, "note"] == "not a ship"


def test_marks_still_in_the_write_ahead_log_are_kept(tmp_path):
    """QGIS keeps the GeoPackage open in WAL mode: saved edits may sit in the -wal file."""
    run_dir = tmp_path / "run"
    first = write_run(run_dir, **run_inputs(), chips=False)
    gpkg = first.paths["detections"]
    qgis = gpkg_connect(gpkg)  # stays open, like QGIS, while portwatch reruns
    try:
        qgis.execute("PRAGMA journal_mode=WAL")
        with qgis:
            qgis.execute("UPDATE detections SET status = 'confirmed', note = 'in wal' WHERE id = 3")
        assert (run_dir / "detections.gpkg-wal").stat().st_size > 0
        rerun = write_run(run_dir, **run_inputs(), chips=False)
    finally:
        qgis.close()
    assert rerun.detections.set_index("id").loc[3, ["status", "note"]].tolist() == [
        "confirmed",
        "in wal",
    ]


def test_unreadable_previous_file_stops_the_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "detections.gpkg").write_bytes(b"not a geopackage")
    with pytest.raises(ReviewError, match=r"detections\.gpkg"):
        write_run(run_dir, **run_inputs(), chips=False)
    assert (run_dir / "detections.gpkg").read_bytes() == b"not a geopackage"


@pytest.mark.parametrize("keep_times", [False, True], ids=["edit", "edit-keeping-times"])
def test_edits_saved_during_a_run_are_not_overwritten(tmp_path, monkeypatch, keep_times):
    """An analyst's edit saved while the run works stops it, also one that keeps the
    GeoPackage's size and modification time (a page updated in place, by a tool that
    keeps file times)."""
    run_dir = tmp_path / "run"
    first = write_run(run_dir, **run_inputs())
    gpkg = first.paths["detections"]
    real = chips_mod.write_chips

    def analyst_saves_meanwhile(*args, **kwargs):
        kept = os.stat(gpkg)
        if keep_times:
            time.sleep(0.05)  # file times tick at the kernel's clock, a few milliseconds
        _mark(gpkg, 2, "confirmed", "saved during the run")
        if keep_times:
            os.utime(gpkg, ns=(kept.st_atime_ns, kept.st_mtime_ns))
            edited = os.stat(gpkg)
            assert edited.st_size == kept.st_size
            assert not Path(f"{gpkg}-wal").exists()
            if edited.st_ctime_ns == kept.st_ctime_ns:
                pytest.skip("the file system's clock is coarser than the test's pause")
        return real(*args, **kwargs)

    monkeypatch.setattr(chips_mod, "write_chips", analyst_saves_meanwhile)
    with pytest.raises(ReviewError, match="changed while portwatch was running"):
        write_run(run_dir, **run_inputs())
    monkeypatch.undo()
    rerun = write_run(run_dir, **run_inputs())
    assert rerun.detections.set_index("id").loc[2, "note"] == "saved during the run"
