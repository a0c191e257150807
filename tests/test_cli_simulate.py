"""``portwatch simulate`` through the click runner: files written, one-line errors."""

from __future__ import annotations

import json

import rasterio
from click.testing import CliRunner

from imagery.aoi import get_aoi
from imagery.cli.main import cli


def _run(*args: str):
    return CliRunner().invoke(cli, ["simulate", *args])


def _one_line_error(result, text: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert result.output.startswith("portwatch: error:")
    assert text in result.output
    assert "Traceback" not in result.output


def test_simulate_pair_writes_scenes_and_truth(tmp_path):
    out = tmp_path / "pair"
    result = _run(
        "--aoi", "vostochny", "--sensor", "s1", "--seed", "4", "--size", "128", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    for name in ("before.tif", "after.tif", "truth.geojson", "departed.geojson", "water.tif"):
        assert (out / name).is_file(), name
    record = json.loads((out / "simulation.json").read_text())
    assert record["aoi"] == "vostochny" and record["sensor"] == "s1" and record["seed"] == 4
    pair = record["pairs"][0]
    assert f"{pair['new_vessels']} vessels, {pair['new_cargo']} cargo" in result.output
    dx, dy = record["scenes"][1]["shift_px"]
    assert f"shift ({dx:+.2f}, {dy:+.2f}) px" in result.output
    with rasterio.open(out / "after.tif") as ds:
        assert ds.descriptions == ("VV", "VH") and ds.crs.to_epsg() == 32653


def test_simulate_series_from_a_geojson_aoi(tmp_path):
    aoi_file = tmp_path / "myport.geojson"
    doc = get_aoi("rajin").to_geojson()
    doc["features"][0]["properties"]["id"] = "myport"
    aoi_file.write_text(json.dumps(doc))
    out = tmp_path / "series"
    result = _run(
        "--aoi", str(aoi_file), "--sensor", "s2", "--seed", "1", "--size", "128",
        "--out", str(out), "--dates", "3", "--start", "2024-09-10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tifs = sorted(p.name for p in out.glob("t*.tif"))
    assert tifs == ["t00_2024-09-10.tif", "t01_2024-09-15.tif", "t02_2024-09-20.tif"]
    assert (out / "truth_t02.geojson").is_file()
    assert "new in scene 2" in result.output
    assert json.loads((out / "simulation.json").read_text())["aoi"] == "myport"


def test_unknown_aoi_is_one_line(tmp_path):
    result = _run("--aoi", "atlantis", "--sensor", "s1", "--out", str(tmp_path))
    _one_line_error(result, "unknown AOI id 'atlantis'")


def test_two_dates_is_not_a_series(tmp_path):
    result = _run("--aoi", "rajin", "--sensor", "s1", "--out", str(tmp_path), "--dates", "2")
    _one_line_error(result, "at least 3 dates")


def test_too_small_a_grid_is_one_line(tmp_path):
    result = _run("--aoi", "rajin", "--sensor", "s2", "--out", str(tmp_path), "--size", "40")
    _one_line_error(result, "too small for a port")


def test_output_that_is_a_file_is_one_line(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    result = _run("--aoi", "rajin", "--sensor", "s1", "--size", "128", "--out", str(target))
    _one_line_error(result, "is not a folder")


def test_bad_sensor_is_a_usage_error(tmp_path):
    result = _run("--aoi", "rajin", "--sensor", "s3", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "s3" in result.output


def test_a_windy_s2_sea_is_a_usage_error(tmp_path):
    result = _run(
        "--aoi", "rajin", "--sensor", "s2", "--windy", "--size", "128", "--out", str(tmp_path)
    )
    assert result.exit_code == 2 and "--windy" in result.output
    assert not any(tmp_path.iterdir())
