"""``portwatch review export``: reviewed flags of an output tree as CSV or GeoJSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from test_review_data import run_inputs
from test_review_marks import _mark

from imagery.cli.main import cli
from imagery.errors import ReviewError
from imagery.review import write_run
from imagery.review.export import export_flags, find_runs


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """OUT/testport/<two dates>/ with marks, plus a plain run folder OUT/plain."""
    root = tmp_path_factory.mktemp("out")
    first = write_run(root / "testport" / "2024-03-13", **run_inputs(), chips=False)
    _mark(first.paths["detections"], 1, "confirmed", "tanker, draft deep")
    _mark(first.paths["detections"], 2, "dismissed")
    later = datetime(2024, 3, 25, 21, 30, tzinfo=UTC)
    second = write_run(
        root / "testport" / "2024-03-25",
        **run_inputs(before=datetime(2024, 3, 13, 21, 30, tzinfo=UTC), after=later),
        chips=False,
    )
    _mark(second.paths["detections"], 3, "confirmed")
    plain = {**run_inputs(), "aoi": None}
    write_run(root / "plain", **plain, chips=False)
    return root


def test_find_runs_walks_aoi_date_folders_and_plain_runs(out):
    runs = {(r.aoi, r.run_date, r.path.name) for r in find_runs(out)}
    assert runs == {
        ("testport", "2024-03-13", "2024-03-13"),
        ("testport", "2024-03-25", "2024-03-25"),
        ("", "2024-03-13", "plain"),
    }
    single = find_runs(out / "testport" / "2024-03-13")
    assert [r.aoi for r in single] == ["testport"]


def test_export_csv_filters_by_status(out):
    text, count = export_flags(out, statuses=["confirmed"], fmt="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert count == len(rows) == 2
    assert {(r["run_date"], r["id"]) for r in rows} == {("2024-03-13", "1"), ("2024-03-25", "3")}
    assert {"aoi", "run_date", "run_folder", "layer", "kind", "score", "lon", "lat", "note"} <= set(
        rows[0]
    )
    assert "tanker, draft deep" in {r["note"] for r in rows}
    _, everything = export_flags(out, fmt="csv")
    assert everything == 3 * 4  # three runs, three detections and one departed each


def test_export_geojson_is_wgs84(out):
    text, count = export_flags(out, statuses=["dismissed"], fmt="geojson")
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection" and count == len(doc["features"]) == 1
    feature = doc["features"][0]
    assert feature["properties"]["status"] == "dismissed"
    lon, lat = feature["geometry"]["coordinates"][0][0]
    assert 120 < lon < 140 and 35 < lat < 50


def test_cli_export_to_stdout_and_file(out, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["review", "export", str(out), "--status", "confirmed"])
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(io.StringIO(result.output)))) == 2
    target = tmp_path / "flags.geojson"
    result = runner.invoke(
        cli, ["review", "export", str(out), "--format", "geojson", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(target.read_text())["features"]) == 12


def test_cli_export_without_runs_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["review", "export", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "no run folder" in result.output and "Traceback" not in result.output


def test_cli_export_rejects_unknown_status(out):
    result = CliRunner().invoke(cli, ["review", "export", str(out), "--status", "maybe"])
    assert result.exit_code == 2


def test_export_of_an_unreadable_geopackage_names_it_and_leaves_it(tmp_path):
    gpkg = tmp_path / "run" / "detections.gpkg"
    gpkg.parent.mkdir()
    gpkg.write_bytes(b"not a geopackage")
    with pytest.raises(ReviewError, match=r"cannot read the flags of layer") as err:
        export_flags(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{gpkg}: ") and message.endswith("the file is left untouched")
    assert "carry" not in message and "afresh" not in message
    assert gpkg.read_bytes() == b"not a geopackage"
