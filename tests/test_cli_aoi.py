from __future__ import annotations

import json

from click.testing import CliRunner

from imagery.cli.main import cli


def test_aoi_list():
    result = CliRunner().invoke(cli, ["aoi", "list"])
    assert result.exit_code == 0, result.output
    assert "rajin" in result.output and "vladivostok" in result.output


def test_aoi_show_prints_bounds_area_epsg():
    result = CliRunner().invoke(cli, ["aoi", "show", "vostochny", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["utm_epsg"] == 32653
    assert len(info["bounds"]) == 4
    assert info["area_km2"] > 0.5


def test_aoi_show_unknown_is_one_line_error():
    result = CliRunner().invoke(cli, ["aoi", "show", "atlantis"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "unknown AOI id 'atlantis'" in result.output
    assert "Traceback" not in result.output
