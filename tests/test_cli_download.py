"""``portwatch scenes|fetch|store`` through the CLI runner, against the fake Sentinel Hub."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from fake_sentinelhub import FakeSentinelHub, Fault, s1_item, s2_item, sh_error, write_small_aoi

from imagery.cli.main import cli

SECRET = "s3cr3t-Do-Not-Leak-7f3a9"
T0 = datetime(2024, 5, 1, 21, 30, 5, tzinfo=UTC)
RANGE = ["--start", "2024-05-01", "--end", "2024-05-31"]


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """The fake server, and an environment pointing portwatch at it (config file + env)."""
    with FakeSentinelHub(client_secret=SECRET) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            "[sentinelhub]\nbackoff_s = 0.01\nbackoff_max_s = 0.05\nmax_attempts = 2\ntimeout_s = 5.0\n"
        )
        for var in ("SH_SERVICE", "SH_PROFILE"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("PORTWATCH_CONFIG", str(config))
        monkeypatch.setenv("SH_CLIENT_ID", server.client_id)
        monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
        monkeypatch.setenv("SH_BASE_URL", server.base_url)
        monkeypatch.setenv("SH_TOKEN_URL", server.token_url)
        monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake has no TLS
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield server


@pytest.fixture
def aoi_file(tmp_path):
    return str(write_small_aoi(tmp_path))


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_scenes_table_and_json(fake, aoi_file):
    fake.items = [
        s1_item(T0, relative_orbit=127),
        s1_item(T0 + timedelta(seconds=25), relative_orbit=127),
        s1_item(T0 + timedelta(days=5, hours=-12), direction="descending", absolute_orbit=53000),
    ]
    table = run("scenes", "--aoi", aoi_file, "--sensor", "s1", *RANGE)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert "direction" in lines[0] and "rel.orbit" in lines[0]
    assert "2024-05-01 21:30:05" in lines[1] and "ASCENDING" in lines[1] and " 127 " in lines[1]
    assert "DESCENDING" in lines[2] and " 78 " in lines[2]  # S1A absolute 53000 -> relative 78
    assert lines[-1] == "2 acquisition(s)"
    as_json = run(
        "scenes", "--aoi", aoi_file, "--sensor", "s1", *RANGE, "--json", "--direction", "asc"
    )
    rows = json.loads(as_json.output)
    assert [(r["platform"], r["orbit"], len(r["items"])) for r in rows] == [("S1A", "ASC127", 2)]
    assert rows[0]["datetime"] == "2024-05-01T21:30:05Z"


def test_scenes_s2_shows_cloud_cover(fake, aoi_file):
    fake.items = [s2_item(T0, cloud_cover=12.5), s2_item(T0 + timedelta(days=3), cloud_cover=80.0)]
    result = run("scenes", "--aoi", aoi_file, "--sensor", "s2", *RANGE, "--max-cloud", "30")
    assert result.exit_code == 0, result.output
    assert "12.5" in result.output and "80.0" not in result.output


def test_max_cloud_is_for_s2_only(fake, aoi_file):
    result = run("scenes", "--aoi", aoi_file, "--sensor", "s1", *RANGE, "--max-cloud", "30")
    assert result.exit_code == 2
    assert "--max-cloud applies to --sensor s2 only" in result.output


def test_catalog_200_with_an_error_body_is_one_line_with_the_server_message(fake, aoi_file):
    fake.items = [s1_item(T0, relative_orbit=127)]
    fake.faults["catalog"].append(
        Fault(200, sh_error(200, "OK", "catalog backend timeout", "BACKEND_TIMEOUT"))
    )
    result = run("scenes", "--aoi", aoi_file, "--sensor", "s1", *RANGE)
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, KeyError)
    (line,) = result.output.strip().splitlines()
    assert line.startswith("portwatch: error: catalog search over testport: HTTP 200 OK")
    assert "catalog backend timeout [BACKEND_TIMEOUT]" in line and "not a STAC page" in line
    assert len(fake.requests("catalog")) == 1  # the server said it failed: not retried


def test_catalog_page_without_the_context_extension_is_the_last_page(fake, aoi_file):
    fake.faults["catalog"].append(
        Fault(200, {"type": "FeatureCollection", "features": [s1_item(T0, relative_orbit=127)]})
    )
    result = run("scenes", "--aoi", aoi_file, "--sensor", "s1", *RANGE)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 acquisition(s)"


def test_one_failed_acquisition_of_three(fake, aoi_file, tmp_path):
    fake.items = [s1_item(T0 + timedelta(days=d), relative_orbit=127) for d in (0, 12, 24)]
    bad_day = (T0 + timedelta(days=12)).strftime("%Y-%m-%d")

    def refuse_one(body):
        if body["input"]["data"][0]["dataFilter"]["timeRange"]["from"].startswith(bad_day):
            return Fault(
                400,
                sh_error(400, "Bad Request", "Failed to evaluate script!", "RENDERER_EXCEPTION"),
            )
        return None

    fake.process_rule = refuse_one
    store = tmp_path / "store"
    result = run("fetch", "--aoi", aoi_file, "--sensor", "s1", *RANGE, "--store", str(store))
    assert result.exit_code == 1, result.output
    assert (
        "3 acquisition(s): 2 fetched, 0 skipped (already stored), 0 empty, 1 failed"
        in result.stdout
    )
    assert (
        "FAILED   2024-05-13 S1A ASC127: Process API: "
        "HTTP 400 Bad Request: Failed to evaluate script! [RENDERER_EXCEPTION]" in result.stdout
    )
    stored = sorted(p.name for p in (store / "testport" / "s1").glob("*.tif"))
    assert stored == ["2024-05-01_S1A_ASC127.tif", "2024-05-25_S1A_ASC127.tif"]
    listing = run("store", "ls", str(store), "--json")
    assert [r["date"] for r in json.loads(listing.output)] == ["2024-05-01", "2024-05-25"]


def test_fetch_then_store_verify_and_ls(fake, aoi_file, tmp_path):
    fake.items = [s1_item(T0, relative_orbit=127), s2_item(T0 + timedelta(days=1))]
    store = tmp_path / "store"
    assert (
        run("fetch", "--aoi", aoi_file, "--sensor", "s1", *RANGE, "--store", str(store)).exit_code
        == 0
    )
    assert (
        run("fetch", "--aoi", aoi_file, "--sensor", "s2", *RANGE, "--store", str(store)).exit_code
        == 0
    )
    listing = run("store", "ls", str(store), "--sensor", "s2")
    assert listing.exit_code == 0
    assert "2024-05-02_S2A_R032.tif" in listing.output and "S1A" not in listing.output
    ok = run("store", "verify", str(store))
    assert ok.exit_code == 0 and "2 file(s) checked, 0 problem(s)" in ok.output
    tif = store / "testport" / "s1" / "2024-05-01_S1A_ASC127.tif"
    tif.write_bytes(tif.read_bytes()[:2000])
    bad = run("store", "verify", str(store))
    assert bad.exit_code == 1
    assert f"BAD {tif}: 2000 bytes but the sidecar says" in bad.output


def test_second_fetch_skips_without_process_requests(fake, aoi_file, tmp_path):
    fake.items = [s1_item(T0, relative_orbit=127)]
    args = ["fetch", "--aoi", aoi_file, "--sensor", "s1", *RANGE, "--store", str(tmp_path / "s")]
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 0 and "0 fetched, 1 skipped" in again.output
    assert len(fake.requests("process")) == 1


def test_wrong_credentials_one_line_without_secret(fake, aoi_file, monkeypatch, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET + "-wrong")
    result = run(
        "-vv", "fetch", "--aoi", aoi_file, "--sensor", "s1", *RANGE, "--store", str(tmp_path)
    )
    assert result.exit_code == 1
    error_lines = [
        line for line in result.output.splitlines() if line.startswith("portwatch: error:")
    ]
    assert len(error_lines) == 1
    assert "refused the credentials" in error_lines[0] and "SH_CLIENT_SECRET" in error_lines[0]
    assert SECRET not in result.output
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_missing_client_id_is_one_line_naming_the_variable(fake, aoi_file, monkeypatch):
    monkeypatch.delenv("SH_CLIENT_ID")
    result = run("scenes", "--aoi", aoi_file, "--sensor", "s1", *RANGE)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "set SH_CLIENT_ID" in result.output
    assert fake.log == []


def test_unknown_service_is_a_config_error(fake, aoi_file, monkeypatch):
    monkeypatch.setenv("SH_SERVICE", "planet-labs")
    result = run("scenes", "--aoi", aoi_file, "--sensor", "s1", *RANGE)
    assert result.exit_code == 1
    assert "unknown Sentinel Hub service 'planet-labs'" in result.output


def test_store_ls_of_missing_store(tmp_path):
    result = run("store", "ls", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "no such imagery store" in result.output
