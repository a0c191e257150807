"""history.gpkg: flags across runs of one AOI, with first/last sighting and departures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyogrio
from test_review_data import GONE, NEW, run_inputs
from test_review_marks import _mark

from imagery.review import write_run

D1 = datetime(2024, 3, 1, 21, 30, tzinfo=UTC)
D2 = datetime(2024, 3, 13, 21, 30, tzinfo=UTC)
D3 = datetime(2024, 3, 25, 21, 30, tzinfo=UTC)
D4 = datetime(2024, 4, 6, 21, 30, tzinfo=UTC)


def _history(path):
    return pyogrio.read_dataframe(path, layer="history").set_index("id")


def test_first_and_last_seen_across_runs_and_departure(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    # run 1 (D1 -> D2): three new flags; run 2 (D2 -> D3): the 180 m vessel stays,
    # the 120 m vessel left, a new one arrived.
    first = write_run(
        out / "2024-03-13", **run_inputs(before=D1, after=D2, gone=[]), history=history, chips=False
    )
    _mark(first.paths["detections"], 1, "confirmed", "tanker")
    write_run(
        out / "2024-03-13", **run_inputs(before=D1, after=D2, gone=[]), history=history, chips=False
    )
    stays = [f for f in NEW if f[3] != 12]
    left = [f for f in NEW if f[3] == 12]
    write_run(
        out / "2024-03-25",
        **run_inputs(before=D2, after=D3, new=[*stays, ("vessel", 40, 180, 10, 3)], gone=left),
        history=history,
        chips=False,
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
        write_run(out / "2024-03-13", **run_inputs(), history=history, chips=False)
    rows = _history(history)
    assert len(rows) == len(NEW) + len(GONE)
    assert rows["runs"].tolist() == [0, 1, 1, 1]  # the departed vessel was never flagged new
    departed = rows[rows["departed_seen"].notna()].iloc[0]
    assert (departed.first_seen, departed.departed_seen) == ("2024-03-01", "2024-03-13")


def test_a_ship_mooring_where_another_left_is_a_new_row(tmp_path):
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    write_run(
        out / "2024-03-13",
        **run_inputs(before=D1, after=D2, new=NEW[:1], gone=[]),
        history=history,
        chips=False,
    )
    write_run(
        out / "2024-03-25",
        **run_inputs(before=D2, after=D3, new=NEW[:1], gone=NEW[:1]),
        history=history,
        chips=False,
    )
    rows = _history(history).sort_index()
    assert rows["first_seen"].tolist() == ["2024-03-13", "2024-03-25"]
    assert rows["departed_seen"].iloc[0] == "2024-03-25"
    assert rows["departed_seen"].isna().iloc[1]


def test_last_seen_is_the_last_date_a_vessel_was_there(tmp_path):
    # New on D2, still there (not new, not gone) on D3, gone by D4: last seen on D3.
    out = tmp_path / "testport"
    history = out / "history.gpkg"
    write_run(
        out / "2024-03-13",
        **run_inputs(before=D1, after=D2, new=NEW[:1], gone=[]),
        history=history,
        chips=False,
    )
    write_run(
        out / "2024-03-25", **run_inputs(before=D2, after=D3, new=[], gone=[]), history=history
    )
    for _ in range(2):  # idempotent
        write_run(
            out / "2024-04-06",
            **run_inputs(before=D3, after=D4, new=[], gone=NEW[:1]),
            history=history,
            chips=False,
        )
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
