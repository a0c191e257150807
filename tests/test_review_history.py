"""history.gpkg: flags across runs of one AOI, with first/last sighting and departures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyogrio
from geopandas.testing import assert_geodataframe_equal
from test_review_data import GONE, NEW, run_inputs
from test_review_marks import _mark

from imagery.review import write_run
from imagery.review.history import sync_marks

D1 = datetime(2024, 3, 1, 21, 30, tzinfo=UTC)
D2 = datetime(2024, 3, 13, 21, 30, tzinfo=UTC)
D3 = datetime(2024, 3, 25, 21, 30, tzinfo=UTC)
D4 = datetime(2024, 4, 6, 21, 30, tzinfo=UTC)


def _fold(out, folder: str, **inputs):
    """Write the run folder ``out/folder`` of ``run_inputs(**inputs)``, folded into
    ``out/history.gpkg`` (no chips)."""
    return write_run(
        out / folder, **run_inputs(**inputs), history=out / "history.gpkg", chips=False
    )


def _history(path):
    return pyogrio.read_dataframe(path, layer="history").set_index("id")


def test_first_and_last_seen_across_runs_and_departure(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    # run 1 (D1 -> D2): three new flags; run 2 (D2 -> D3): the 180 m vessel stays,
    # the 120 m vessel left, a new one arrived.
    first = _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    _mark(first.paths["detections"], 1, "confirmed", "tanker")
    _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    stays = [f for f in NEW if f[3] != 12]
    left = [f for f in NEW if f[3] == 12]
    _fold(
        out, "2024-03-25", before=D2, after=D3, new=[*stays, ("vessel", 40, 180, 10, 3)], gone=left
    )
    rows = _history(history)
    assert len(rows) == 4
    by_length = rows.set_index("length_m")
    tanker = by_length.loc[180.0]
    assert (tanker.first_seen, tanker.last_seen, tanker.runs) == ("2024-03-13", "2024-03-25", 2)
    assert json.loads(tanker.run_folders) == ["2024-03-13", "2024-03-25"]
    assert tanker.last_status == "confirmed" and tanker.last_note == "tanker"
    gone = by_length.loc[120.0]
    assert (gone.first_seen, gone.last_seen, gone.departed_seen) == (
        "2024-03-13",
        "2024-03-13",
        "2024-03-25",
    )
    assert gone.departed_run == "2024-03-25"
    newcomer = by_length.loc[100.0]
    assert (newcomer.first_seen, newcomer.runs) == ("2024-03-25", 1)
    assert rows.crs == "EPSG:32652"
    styles = pyogrio.read_dataframe(history, layer="layer_styles", read_geometry=False)
    assert styles["f_table_name"].tolist() == ["history"]


def test_rerunning_a_pair_changes_no_count(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    for _ in range(3):
        _fold(out, "2024-03-13")
    rows = _history(history)
    assert len(rows) == len(NEW) + len(GONE)
    assert rows["runs"].tolist() == [0, 1, 1, 1]  # the departed vessel was never flagged new
    departed = rows[rows["departed_seen"].notna()].iloc[0]
    assert (departed.first_seen, departed.departed_seen) == ("2024-03-01", "2024-03-13")


def test_a_ship_mooring_where_another_left_is_a_new_row(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    _fold(out, "2024-03-13", before=D1, after=D2, new=NEW[:1], gone=[])
    _fold(out, "2024-03-25", before=D2, after=D3, new=NEW[:1], gone=NEW[:1])
    rows = _history(history).sort_index()
    assert rows["first_seen"].tolist() == ["2024-03-13", "2024-03-25"]
    assert rows["departed_seen"].iloc[0] == "2024-03-25"
    assert rows["departed_seen"].isna().iloc[1]


def test_last_seen_is_the_last_date_a_vessel_was_there(tmp_path):
    # New on D2, still there (not new, not gone) on D3, gone by D4: last seen on D3.
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    _fold(out, "2024-03-13", before=D1, after=D2, new=NEW[:1], gone=[])
    write_run(
        out / "2024-03-25", **run_inputs(before=D2, after=D3, new=[], gone=[]), history=history
    )
    for _ in range(2):  # idempotent
        _fold(out, "2024-04-06", before=D3, after=D4, new=[], gone=NEW[:1])
    rows = _history(history)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row.first_seen, row.last_seen, row.departed_seen) == (
        "2024-03-13",
        "2024-03-25",
        "2024-04-06",
    )


def test_a_kept_mark_the_run_no_longer_detects_is_no_sighting(tmp_path):
    from test_review_data import flags_frame

    from imagery.review.history import update_history

    history = tmp_path / "testport" / "history.gpkg"
    (tmp_path / "testport" / "2024-03-13").mkdir(parents=True)
    (tmp_path / "testport" / "2024-03-25").mkdir()

    def fold(detections, before, after):
        return update_history(
            history,
            run_dir=history.parent / after.date().isoformat(),
            detections=detections,
            departed=flags_frame([], before, after),
            before_date=before.date().isoformat(),
            after_date=after.date().isoformat(),
        )

    fold(flags_frame(NEW, D1, D2).assign(note="", seen_in_last_run=True), D1, D2)
    # The 2024-03-25 folder's run detects none of them; it keeps, for their marks, the
    # vessel the analyst confirmed there and a stack dismissed there (flags of an
    # earlier processing of that folder, with other settings or another before scene).
    kept = flags_frame([*NEW[:1], ("cargo", 10, 10, 6, 6)], D2, D3).assign(
        status=["confirmed", "dismissed"], note=["tanker", "shadow"], seen_in_last_run=False
    )
    rows = fold(kept, D2, D3).set_index("id")
    assert len(rows) == len(NEW)  # no row for the stack: it was never a sighting here
    first = rows.iloc[0]
    assert (first.runs, first.last_seen) == (1, "2024-03-13")
    assert json.loads(first.run_folders) == ["2024-03-13"]
    assert (first.last_status, first.last_note) == ("confirmed", "tanker")


def test_a_reprocessed_folder_withdraws_the_sightings_it_no_longer_reports(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    newcomer = ("vessel", 40, 180, 10, 3)
    _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    _fold(out, "2024-03-25", before=D2, after=D3, new=[NEW[0], newcomer], gone=[])
    before = _history(history)
    assert sorted(before["length_m"]) == [50.0, 100.0, 120.0, 180.0]
    # Reprocessed (other settings): the 2024-03-25 folder reports only a cargo stack now.
    stack = ("cargo", 60, 40, 5, 5)
    _fold(out, "2024-03-25", before=D2, after=D3, new=[stack], gone=[])
    rows = _history(history)
    by_length = rows.set_index("length_m")
    assert 100.0 not in by_length.index  # only the withdrawn run had seen the newcomer
    assert len(rows) == 4 and (by_length["kind"] == "cargo").sum() == 2
    tanker = by_length.loc[180.0]
    assert (tanker.runs, json.loads(tanker.run_folders)) == (1, ["2024-03-13"])
    survivors = before[before["length_m"] != 100.0]
    assert set(survivors.index) <= set(rows.index)  # ids unchanged
    assert (rows.loc[survivors.index, "length_m"] == survivors["length_m"]).all()
    assert (rows["runs"] == rows["run_folders"].map(lambda v: len(json.loads(v)))).all()


def test_an_id_a_withdrawn_row_held_is_never_given_again(tmp_path):
    """Analysts cite history ids in their reports: the id of a row a reprocess removed
    is not given to a later flag, even when it was the highest."""
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    _fold(out, "2024-03-25", before=D2, after=D3, new=[*NEW, ("vessel", 40, 180, 10, 3)], gone=[])
    withdrawn = int(_history(history).index.max())
    _fold(out, "2024-03-25", before=D2, after=D3, new=NEW, gone=[])
    assert withdrawn not in _history(history).index
    _fold(out, "2024-04-06", before=D3, after=D4, new=[*NEW, ("vessel", 200, 40, 14, 3)], gone=[])
    rows = _history(history)
    assert withdrawn not in rows.index
    assert rows.index.max() == withdrawn + 1
    # Folding the same run again gives no id either.
    _fold(out, "2024-04-06", before=D3, after=D4, new=[*NEW, ("vessel", 200, 40, 14, 3)], gone=[])
    assert_geodataframe_equal(_history(history), rows)


def test_a_marked_flag_a_reprocess_no_longer_reports_keeps_its_mark(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    first = _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    _mark(first.paths["detections"], 1, "confirmed", "tanker")
    _fold(out, "2024-03-13", before=D1, after=D2, new=NEW[1:], gone=[])
    rows = _history(history)
    assert len(rows) == len(NEW)
    tanker = rows.loc[1]
    assert tanker.length_m == 180.0
    assert (tanker.runs, json.loads(tanker.run_folders)) == (0, [])
    assert (tanker.last_status, tanker.last_note) == ("confirmed", "tanker")
    assert rows.loc[[2, 3], "runs"].tolist() == [1, 1]

    # Even a run that carries the mark no more (its folder rebuilt from scratch) does not
    # lose the analyst's mark from the history.
    from test_review_data import flags_frame

    from imagery.review.history import update_history

    rows = update_history(
        history,
        run_dir=out / "2024-03-13",
        detections=flags_frame([], D1, D2).assign(note=""),
        departed=flags_frame([], D1, D2),
        before_date="2024-03-01",
        after_date="2024-03-13",
    ).set_index("id")
    assert rows.index.tolist() == [1]
    assert (rows.loc[1].last_status, rows.loc[1].last_note) == ("confirmed", "tanker")


def test_a_note_alone_is_a_mark_a_reprocess_keeps(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    first = _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    _mark(first.paths["detections"], 1, "new", "looks like the tanker we track")
    _fold(out, "2024-03-13", before=D1, after=D2, new=NEW[1:], gone=[])
    tanker = _history(history).loc[1]
    assert (tanker.runs, tanker.last_status) == (0, "new")
    assert tanker.last_note == "looks like the tanker we track"


def test_a_marked_departure_a_reprocess_reports_as_present_is_folded_twice_alike(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    first = _fold(out, "2024-03-13", before=D1, after=D2, new=[], gone=GONE)
    _mark(first.paths["detections"], 1, "dismissed", "not a departure", layer="departed")
    again = dict(**run_inputs(before=D1, after=D2, new=GONE, gone=[]), history=history)
    write_run(out / "2024-03-13", **again, chips=False)
    once = pyogrio.read_dataframe(history, layer="history")
    write_run(out / "2024-03-13", **again, chips=False)
    twice = pyogrio.read_dataframe(history, layer="history")
    assert_geodataframe_equal(once, twice)
    rows = once.set_index("id")
    # The marked departure is kept for its mark; the ship seen present is its own row.
    assert rows.loc[1].last_status == "dismissed" and rows.loc[1].runs == 0
    assert rows.loc[2].runs == 1


def test_a_departure_a_reprocess_no_longer_reports_is_withdrawn(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    _fold(out, "2024-03-13", before=D1, after=D2, new=NEW[:1], gone=[])
    # 2024-03-25 sees the tanker leave, and a vessel no run had flagged (a new row).
    _fold(out, "2024-03-25", before=D2, after=D3, new=[], gone=[NEW[0], *GONE])
    rows = _history(history)
    assert rows["departed_run"].tolist() == ["2024-03-25", "2024-03-25"]
    _fold(out, "2024-03-25", before=D2, after=D3, new=[], gone=[])
    rows = _history(history)
    assert rows.index.tolist() == [1]  # the departure-only row is gone
    tanker = rows.loc[1]
    assert tanker.departed_seen is None and tanker.departed_run is None
    assert (tanker.runs, json.loads(tanker.run_folders)) == (1, ["2024-03-13"])
    # A later pass still sees it leave: it is open again to be stamped.
    _fold(out, "2024-04-06", before=D3, after=D4, new=[], gone=NEW[:1])
    tanker = _history(history).loc[1]
    assert (tanker.departed_seen, tanker.departed_run) == ("2024-04-06", "2024-04-06")


def test_a_withdrawn_departure_does_not_become_a_sighting(tmp_path):
    # The folder first reported a vessel gone; reprocessed, it reports it new instead:
    # one row, first seen on the after date, never departed.
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    _fold(out, "2024-03-13", new=[], gone=GONE)
    _fold(out, "2024-03-13", new=GONE, gone=[])
    rows = _history(history)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row.first_seen, row.last_seen, row.runs) == ("2024-03-13", "2024-03-13", 1)
    assert row.departed_seen is None and row.departed_run is None


def test_reprocessing_with_the_same_flags_leaves_the_history_as_it_was(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    newcomer = ("vessel", 40, 180, 10, 3)
    runs = [
        ("2024-03-13", run_inputs(before=D1, after=D2, gone=GONE)),
        (
            "2024-03-25",
            run_inputs(before=D2, after=D3, new=[NEW[0], newcomer], gone=[NEW[1], NEW[2]]),
        ),
        ("2024-04-06", run_inputs(before=D3, after=D4, new=[NEW[1]], gone=[newcomer])),
    ]
    for folder, inputs in runs:
        result = write_run(out / folder, **inputs, history=history, chips=False)
    _mark(result.paths["detections"], 1, "dismissed", "wake")
    write_run(out / runs[-1][0], **runs[-1][1], history=history, chips=False)
    expected = _history(history)
    assert len(expected) == 6
    for folder, inputs in [*runs, *reversed(runs)]:
        write_run(out / folder, **inputs, history=history, chips=False)
        assert_geodataframe_equal(_history(history), expected)


def test_marks_saved_in_run_folders_reach_the_history_without_a_rerun(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    first = _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    stays = [f for f in NEW if f[3] != 12]
    left = [f for f in NEW if f[3] == 12]
    second = _fold(
        out, "2024-03-25", before=D2, after=D3, new=[*stays, ("vessel", 40, 180, 10, 3)], gone=left
    )
    folded = _history(history)
    assert set(folded["last_status"]) == {"new"}
    # Marks saved in QGIS: the tanker in the first folder, the departure and a note on
    # the newcomer in the second.
    _mark(first.paths["detections"], 1, "confirmed", "tanker")
    _mark(second.paths["detections"], 3, "new", "ask the harbour master")
    _mark(second.paths["detections"], 1, "new", "")  # unmarked stays unmarked
    _mark(second.paths["detections"], 2, "new", "")
    gpkg = second.paths["detections"]
    from test_review_marks import _mark as mark_layer

    mark_layer(gpkg, 1, "dismissed", "tug, not the ferry", layer="departed")
    assert sync_marks(history).rows == 3
    rows = _history(history)
    by_length = rows.set_index("length_m")
    tanker, gone, newcomer = by_length.loc[180.0], by_length.loc[120.0], by_length.loc[100.0]
    assert (tanker.last_status, tanker.last_note, tanker.reviewed_in) == (
        "confirmed",
        "tanker",
        "2024-03-13",
    )
    assert (gone.last_status, gone.reviewed_in) == ("dismissed", "2024-03-25")
    assert (newcomer.last_status, newcomer.last_note) == ("new", "ask the harbour master")
    # Nothing but the marks moved: ids, counts, dates and outlines are the folds'.
    unchanged = [c for c in rows.columns if c not in ("last_status", "last_note", "reviewed_in")]
    assert_geodataframe_equal(rows[unchanged], folded[unchanged])
    # The later folder's mark wins, as when runs are folded; a second sync changes nothing.
    _mark(second.paths["detections"], 1, "dismissed", "moored hulk")
    assert sync_marks(history).rows == 1
    tanker_id = rows.index[rows["length_m"] == 180.0][0]
    assert _history(history).loc[tanker_id, "last_status"] == "dismissed"
    synced = _history(history)
    assert sync_marks(history).rows == 0
    assert_geodataframe_equal(_history(history), synced)


def test_review_sync_carries_the_marks_of_a_results_tree(tmp_path):
    from click.testing import CliRunner

    from imagery.cli.main import cli

    out = tmp_path / "results" / "testport"
    first = _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    _mark(first.paths["detections"], 1, "confirmed", "tanker")
    result = CliRunner().invoke(cli, ["review", "sync", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    assert "1 row(s) took a mark" in result.output
    assert "confirmed" in set(_history(out / "history.gpkg")["last_status"])
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = CliRunner().invoke(cli, ["review", "sync", str(empty)])
    assert refused.exit_code == 2 and "no history.gpkg" in refused.output


def _row(history, length_m: float):
    rows = _history(history)
    return rows[rows["length_m"] == length_m].iloc[0]


def test_a_status_from_an_earlier_folder_outranks_a_later_note_whenever_synced(tmp_path):
    """The same marks give the same history, synced at once or one at a time."""
    results = []
    for steps in (1, 2):
        out = tmp_path / f"steps{steps}"
        first = _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
        second = _fold(out, "2024-03-25", before=D2, after=D3, gone=[])
        _mark(second.paths["detections"], 1, "new", "ask the harbour master")
        if steps == 2:
            sync_marks(out / "history.gpkg")
        _mark(first.paths["detections"], 1, "confirmed", "tanker")
        sync_marks(out / "history.gpkg")
        tanker = _row(out / "history.gpkg", 180.0)
        results.append((tanker.last_status, tanker.last_note, tanker.reviewed_in))
    assert results[0] == results[1] == ("confirmed", "tanker", "2024-03-13")


def test_sync_gives_a_detection_mark_to_the_sighting_not_to_a_departure_beside_it(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    # One tanker left the berth and another moored there, 5 m along.
    first = _fold(
        out,
        "2024-03-13",
        before=D1,
        after=D2,
        new=[("vessel", 100.5, 100, 12, 3)],
        gone=[("vessel", 100, 100, 12, 3)],
    )
    _mark(first.paths["detections"], 1, "dismissed", "not a departure", layer="departed")
    sync_marks(history)
    # The newcomer seen again 12 m further along; then confirmed in the first folder.
    _fold(out, "2024-03-25", before=D2, after=D3, new=[("vessel", 101.7, 100, 12, 3)], gone=[])
    _mark(first.paths["detections"], 1, "confirmed", "new tanker")
    sync_marks(history)
    rows = _history(history)
    gone = rows[rows["departed_seen"].notna()].iloc[0]
    newcomer = rows[rows["departed_seen"].isna()].iloc[0]
    assert (gone.last_status, gone.last_note) == ("dismissed", "not a departure")
    assert (newcomer.last_status, newcomer.last_note) == ("confirmed", "new tanker")


def test_a_departure_two_passes_of_one_day_saw_takes_a_mark_from_either(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    morning = _fold(out, "2024-03-13", before=D1, after=D2)
    _fold(out, "2024-03-13-s1", before=D1, after=D2)  # restamps the departure
    _mark(morning.paths["detections"], 1, "confirmed", "left for Vladivostok", layer="departed")
    assert sync_marks(history).rows == 1
    rows = _history(history)
    gone = rows[rows["departed_seen"].notna()].iloc[0]
    assert (gone.last_status, gone.last_note) == ("confirmed", "left for Vladivostok")


def test_an_unreadable_run_folder_holds_back_only_its_own_marks(tmp_path):
    from click.testing import CliRunner

    from imagery.cli.main import cli

    root = tmp_path / "results"
    for aoi in ("aaa", "bbb"):
        _fold(root / aoi, "2024-03-13", before=D1, after=D2, gone=[])
        later = _fold(root / aoi, "2024-03-25", before=D2, after=D3, gone=[])
        _mark(later.paths["detections"], 1, "confirmed", "tanker")
    broken = root / "aaa" / "2024-03-13" / "detections.gpkg"
    broken.write_bytes(b"not a geopackage")
    result = CliRunner().invoke(cli, ["review", "sync", str(root)])
    assert result.exit_code == 1
    assert str(broken) in result.output
    for aoi in ("aaa", "bbb"):
        assert _row(root / aoi / "history.gpkg", 180.0).last_status == "confirmed"


def test_the_later_pass_of_a_day_wins_whichever_folder_name_it_was_given(tmp_path):
    """Two passes of one day: the evening's was run first and took the plain date's
    folder, the morning's came second (``<date>-s1``). The evening's mark is the later
    one, whatever the names' order, when synced and when folded."""
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    evening = _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    morning = _fold(out, "2024-03-13-s1", before=D1, after=D2.replace(hour=9), gone=[])
    _mark(evening.paths["detections"], 1, "confirmed", "tanker at the coal pier")
    _mark(morning.paths["detections"], 1, "dismissed", "crane barge")
    sync_marks(history)
    tanker = _row(history, 180.0)
    assert (tanker.last_status, tanker.reviewed_in) == ("confirmed", "2024-03-13")
    # The morning's pass run again carries its mark into the fold: it still ranks below.
    _fold(out, "2024-03-13-s1", before=D1, after=D2.replace(hour=9), gone=[])
    tanker = _row(history, 180.0)
    assert (tanker.last_status, tanker.reviewed_in) == ("confirmed", "2024-03-13")


def test_a_removed_folder_s_mark_is_ranked_by_name(tmp_path):
    """A folder since removed gives no pass time: its mark is ranked against a later
    folder's by name, as before times were read (run folders kept in a subfolder too)."""
    import shutil

    out = tmp_path / "testport"
    history = out / "history.gpkg"
    first = _fold(out, "runs/2024-03-13", before=D1, after=D2, gone=[])
    _mark(first.paths["detections"], 1, "confirmed", "tanker")
    _fold(out, "runs/2024-03-13", before=D1, after=D2, gone=[])  # the fold takes the mark
    shutil.rmtree(out / "runs" / "2024-03-13")
    later = _fold(out, "runs/2024-03-25", before=D2, after=D3, gone=[])
    _mark(later.paths["detections"], 1, "dismissed", "crane barge")
    _fold(out, "runs/2024-03-25", before=D2, after=D3, gone=[])
    tanker = _row(history, 180.0)
    assert (tanker.last_status, tanker.reviewed_in) == ("dismissed", "runs/2024-03-25")


def test_a_pass_time_that_cannot_be_read_is_ranked_by_name(tmp_path):
    """A run table's time out of range (a hand edit) neither stops the sync nor ranks
    its folder: the folders are ranked by name."""
    from test_review_marks import gpkg_connect

    out = tmp_path / "testport"
    history = out / "history.gpkg"
    evening = _fold(out, "2024-03-13", before=D1, after=D2, gone=[])
    morning = _fold(out, "2024-03-13-s1", before=D1, after=D2.replace(hour=9), gone=[])
    con = gpkg_connect(morning.paths["detections"])
    try:
        with con:
            con.execute("UPDATE run SET after_time = '0001-01-01T00:30:00+01:00'")
    finally:
        con.close()
    _mark(evening.paths["detections"], 1, "confirmed", "tanker")
    _mark(morning.paths["detections"], 1, "dismissed", "crane barge")
    sync_marks(history)
    tanker = _row(history, 180.0)
    assert (tanker.last_status, tanker.reviewed_in) == ("dismissed", "2024-03-13-s1")
