"""Sentinel Hub sources: the real sentinelhub-py client against a fake Sentinel Hub on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import rasterio
from fake_sentinelhub import (
    FakeSentinelHub,
    Fault,
    rate_limited,
    s1_item,
    s2_item,
    sh_error,
    write_small_aoi,
)
from hypothesis import given
from hypothesis import strategies as st

from imagery.aoi import load_aoi
from imagery.errors import ConfigError
from imagery.io import read_raster
from imagery.sensors import prepare
from imagery.sources import fetch_scenes, load_settings, search_scenes
from imagery.sources.catalog import group_items, relative_orbit
from imagery.sources.client import collection, open_session
from imagery.sources.config import SERVICES, Settings
from imagery.sources.process import tile_windows
from imagery.sources.retry import retry_after_s
from imagery.store import check_scene, pair_for, read_scene, resolve

SECRET = "s3cr3t-Do-Not-Leak-7f3a9"
T0 = datetime(2024, 5, 1, 21, 30, 5, tzinfo=UTC)
MAY = (date(2024, 5, 1), date(2024, 5, 31))


@pytest.fixture
def aoi(tmp_path):
    return load_aoi(write_small_aoi(tmp_path))


@pytest.fixture
def fake(monkeypatch):
    # oauthlib refuses plain http unless told; the fake runs without TLS on 127.0.0.1
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeSentinelHub(client_secret=SECRET) as server:
        yield server


def settings_for(fake: FakeSentinelHub, **overrides) -> Settings:
    values = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "base_url": fake.base_url,
        "token_url": fake.token_url,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "max_attempts": 3,
        "timeout_s": 5.0,
        "retry_after_max_s": 5.0,
        **overrides,
    }
    return Settings(**values)


def s1_pass(
    day: int, *, orbit: int = 127, direction: str = "ascending", platform: str = "S1A"
) -> dict:
    return s1_item(
        T0 + timedelta(days=day), relative_orbit=orbit, direction=direction, platform=platform
    )


# -- configuration -------------------------------------------------------------------


def test_defaults_are_cdse_and_commercial_is_one_setting_away(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}  # no config file there
    cdse = load_settings(env)
    assert (cdse.base_url, cdse.token_url) == SERVICES["cdse"]
    assert cdse.base_url == "https://sh.dataspace.copernicus.eu"
    commercial = load_settings({**env, "SH_SERVICE": "commercial"})
    assert commercial.base_url == "https://services.sentinel-hub.com"
    assert commercial.token_url.endswith("/auth/realms/main/protocol/openid-connect/token")


def test_environment_wins_over_config_file(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[sentinelhub]\nclient_id = "from-file"\nclient_secret = "file-secret"\nmax_attempts = 7\n'
    )
    cfg.chmod(0o600)
    s = load_settings({"SH_CLIENT_ID": "from-env", "PORTWATCH_CONFIG": str(cfg)})
    assert s.client_id == "from-env"
    assert s.client_secret == "file-secret"
    assert s.max_attempts == 7
    assert s.source == cfg


def test_config_file_typo_is_named(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[sentinelhub]\nmax_atempts = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key.*max_atempts"):
        load_settings({}, path=cfg)


def test_repr_and_redact_hide_the_secret():
    s = Settings(client_id="id", client_secret=SECRET)
    assert SECRET not in repr(s) and SECRET not in str(s)
    assert s.redact(f"body client_secret={SECRET}&x") == "body client_secret=***&x"
    assert SECRET not in json.dumps(s.public_dict())


def test_missing_client_id_names_the_variable():
    with pytest.raises(ConfigError) as info:
        Settings(client_secret=SECRET).require_credentials()
    message = str(info.value)
    assert "SH_CLIENT_ID" in message and "\n" not in message


def test_retry_after_is_milliseconds_by_default_and_capped():
    s = Settings(retry_after_max_s=30.0)
    assert retry_after_s("1500", s) == pytest.approx(1.5)
    assert retry_after_s("2", Settings(retry_after_unit="s")) == 2.0
    assert retry_after_s("3600000", s) == 30.0
    assert retry_after_s(None, s) is None
    assert retry_after_s("soon", s) is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", s) == 0.0  # a date in the past


# -- catalog metadata -------------------------------------------------------------------


def test_relative_orbit_from_absolute_orbit():
    # ESA STEP forum worked examples: both products are on relative orbit 30
    assert relative_orbit("S1A", 18302) == 30
    assert relative_orbit("S1B", 7231) == 30
    assert relative_orbit("S1C", 1000) is None


def test_slices_of_one_pass_are_one_acquisition():
    items = [
        s1_item(T0, relative_orbit=127),
        s1_item(T0 + timedelta(seconds=25), relative_orbit=127),
        s1_item(T0 + timedelta(hours=12), relative_orbit=54, direction="descending"),
        {"id": "garbage", "properties": {}},
    ]
    found = group_items(items, "s1")
    assert [(a.orbit, len(a.item_ids)) for a in found] == [("ASC127", 2), ("DSC054", 1)]
    assert found[0].end - found[0].start == timedelta(seconds=25)


def test_s2_orbit_and_tile_come_from_the_product_id():
    (acq,) = group_items([s2_item(T0, platform="S2B", relative_orbit=32, tile="52TGN")], "s2")
    assert (acq.platform, acq.relative_orbit, acq.tile, acq.orbit) == ("S2B", 32, "52TGN", "R032")


@given(
    width=st.integers(1, 400),
    height=st.integers(1, 400),
    max_px=st.integers(7, 120),
)
def test_tile_windows_cover_the_grid_once(width, height, max_px):
    windows = tile_windows(width, height, max_px=max_px)
    cover = np.zeros((height, width), dtype=int)
    for w in windows:
        assert 1 <= w.width <= max_px and 1 <= w.height <= max_px
        cover[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (cover == 1).all()


def test_collections_are_repointed_at_the_configured_base_url():
    s = Settings(base_url="https://sh.example.test")
    c1 = collection("s1", s)
    assert c1.service_url == "https://sh.example.test"
    assert c1.api_id == "sentinel-1-grd" and c1.swath_mode == "IW" and c1.polarization == "DV"
    assert collection("s1", s) is c1
    assert collection("s2", s).api_id == "sentinel-2-l2a"


# -- against the fake -------------------------------------------------------------------


def test_search_follows_catalog_pages(fake, aoi):
    fake.items = [s1_pass(d) for d in range(0, 60, 12)] + [
        s1_item(T0 + timedelta(days=3), polarization="SV", relative_orbit=127)
    ]
    found = search_scenes(aoi, "s1", *MAY, settings=settings_for(fake), page_size=2)
    assert len(fake.requests("token")) == 1
    assert len(fake.requests("catalog")) == 2  # 3 May items in pages of 2; SV filtered out
    assert [a.date for a in found] == [date(2024, 5, 1), date(2024, 5, 13), date(2024, 5, 25)]
    assert all(
        a.platform == "S1A" and a.orbit_direction == "ASCENDING" and a.relative_orbit == 127
        for a in found
    )
    body = fake.requests("catalog")[0].body
    assert "sar:instrument_mode='IW'" in body["filter"] and body["collections"] == [
        "sentinel-1-grd"
    ]


def test_s2_search_filters_cloud_cover(fake, aoi):
    fake.items = [s2_item(T0, cloud_cover=5.0), s2_item(T0 + timedelta(days=5), cloud_cover=60.0)]
    found = search_scenes(aoi, "s2", *MAY, settings=settings_for(fake), max_cloud_pct=20)
    assert [(a.date, a.cloud_cover) for a in found] == [(date(2024, 5, 1), 5.0)]


def test_fetch_s1_lands_on_the_utm_grid_with_named_bands(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.nodata_x = aoi.utm_bounds()[0] + 200  # the first 20 columns have no data
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path / "store", settings=settings_for(fake))
    assert summary.ok and len(summary.fetched) == 1
    path = summary.fetched[0].path
    assert path == tmp_path / "store" / "testport" / "s1" / "2024-05-01_S1A_ASC127.tif"
    raster = read_raster(path)
    left, bottom, right, top = aoi.utm_bounds()
    assert raster.crs.to_epsg() == aoi.utm_epsg == 32652
    assert raster.transform == rasterio.transform.from_origin(left, top, 10, 10)
    assert raster.shape == (round((top - bottom) / 10), round((right - left) / 10))
    assert raster.band_names == ("VV", "VH") and raster.dtype == np.float32
    assert raster.sensor == "s1" and raster.time == T0
    # An ascending pass looks east-north-east (imagery.layover); its incidence is not known.
    assert 70.0 < raster.look_azimuth_deg < 85.0 and raster.incidence_deg is None
    assert np.isnan(raster.data[:, :, :20]).all() and np.isfinite(raster.data[:, :, 20:]).all()
    body = fake.requests("process")[0].body
    data = body["input"]["data"][0]
    assert data["processing"] == {
        "backCoeff": "SIGMA0_ELLIPSOID",
        "orthorectify": True,
        "demInstance": "COPERNICUS_30",
        "speckleFilter": {"type": "NONE"},
    }
    assert data["dataFilter"]["orbitDirection"] == "ASCENDING"
    assert (
        data["dataFilter"]["acquisitionMode"] == "IW" and data["dataFilter"]["polarization"] == "DV"
    )
    assert body["input"]["bounds"]["properties"]["crs"].endswith("/32652")
    assert (body["output"]["width"], body["output"]["height"]) == (raster.width, raster.height)
    sidecar = path.with_suffix(".json").read_text()
    assert SECRET not in sidecar and fake.client_id not in sidecar
    scene = read_scene(path)
    assert (scene.orbit_direction, scene.relative_orbit) == ("ASCENDING", 127)
    assert scene.metadata["request"]["evalscript"] == "s1_grd.js"


def test_fetch_s2_writes_uint16_bands_and_scl_with_nodata_zero(fake, aoi, tmp_path):
    fake.items = [s2_item(T0, platform="S2B", relative_orbit=32)]
    fake.nodata_x = aoi.utm_bounds()[0] + 100
    summary = fetch_scenes(aoi, "s2", *MAY, tmp_path / "store", settings=settings_for(fake))
    (result,) = summary.fetched
    assert result.path.name == "2024-05-01_S2B_R032.tif"
    raster = read_raster(result.path)
    assert raster.band_names == ("B02", "B03", "B04", "B08", "B11", "SCL")
    assert raster.dtype == np.uint16 and raster.nodata == 0
    assert (raster.data[:, :, :10] == 0).all() and (raster.data[:, :, 10:] > 0).all()
    assert (raster.band("SCL")[:, 10:] == 6).all()


def test_scene_without_valid_pixels_is_reported_empty_and_not_stored(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.nodata_x = aoi.utm_bounds()[2] + 10  # the pass misses the AOI
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    assert summary.ok and [r.status for r in summary.results] == ["empty"]
    assert not list(tmp_path.rglob("*.tif"))


def test_valid_scene_in_store_is_not_fetched_again(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    settings = settings_for(fake)
    fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings)
    before = len(fake.requests("process"))
    again = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings)
    assert [r.status for r in again.results] == ["skipped"]
    assert len(fake.requests("process")) == before == 1


def test_corrupt_scene_in_store_is_fetched_again(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    settings = settings_for(fake)
    (first,) = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings).fetched
    blob = first.path.read_bytes()
    first.path.write_bytes(blob[: len(blob) // 2])
    assert check_scene(first.path)
    again = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings)
    assert [r.status for r in again.results] == ["fetched"]
    assert len(fake.requests("process")) == 2
    assert check_scene(first.path) == []


def test_429_waits_for_retry_after(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.faults["process"].append(rate_limited(1000))  # Sentinel Hub's unit: milliseconds
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    assert summary.ok
    limited, served = fake.requests("process")
    assert (limited.status, served.status) == (429, 200)
    assert 1.0 <= served.t - limited.t < 3.0


def test_retry_after_wait_is_capped(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.faults["process"].append(rate_limited(600_000))  # ten minutes
    settings = settings_for(fake, retry_after_max_s=0.2)
    assert fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings).ok
    limited, served = fake.requests("process")
    assert 0.2 <= served.t - limited.t < 1.5


def test_500_then_success(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.faults["process"].append(
        Fault(500, sh_error(500, "Internal Server Error", "boom", "INTERNAL"))
    )
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    assert [r.status for r in summary.results] == ["fetched"]
    assert [r.status for r in fake.requests("process")] == [500, 200]


def test_server_errors_are_retried_a_bounded_number_of_times(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.process_rule = lambda body: Fault(
        503, sh_error(503, "Service Unavailable", "down", "UNAVAILABLE")
    )
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake, max_attempts=3))
    (failed,) = summary.failed
    assert len(fake.requests("process")) == 3
    assert "HTTP 503" in failed.reason and "after 3 attempts" in failed.reason


def test_endless_429_gives_up(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.process_rule = lambda body: rate_limited(10)
    summary = fetch_scenes(
        aoi, "s1", *MAY, tmp_path, settings=settings_for(fake, rate_limit_attempts=3)
    )
    (failed,) = summary.failed
    assert "rate limited" in failed.reason
    assert len(fake.requests("process")) == 3


def test_truncated_tiff_from_the_server_is_fetched_again(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.faults["process"].append(Fault(truncate=True))
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    assert [r.status for r in summary.results] == ["fetched"]
    assert len(fake.requests("process")) == 2
    assert check_scene(summary.fetched[0].path) == []


def test_timeout_is_retried(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.faults["process"].append(Fault(status=200, body={}, delay_s=1.0))
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake, timeout_s=0.3))
    assert [r.status for r in summary.results] == ["fetched"]
    assert len(fake.requests("process")) == 2


def test_client_error_fails_at_once_with_the_server_message(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.process_rule = lambda body: Fault(
        400, sh_error(400, "Bad Request", "Failed to evaluate script!", "RENDERER_EXCEPTION")
    )
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    (failed,) = summary.failed
    assert failed.reason.endswith(
        "HTTP 400 Bad Request: Failed to evaluate script! [RENDERER_EXCEPTION]"
    )
    assert len(fake.requests("process")) == 1


def test_large_request_is_tiled_and_mosaicked_exactly(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    single = fetch_scenes(aoi, "s1", *MAY, tmp_path / "one", settings=settings_for(fake))
    fake.max_px = 64
    tiled = fetch_scenes(
        aoi, "s1", *MAY, tmp_path / "tiled", settings=settings_for(fake, max_tile_px=64)
    )
    tile_requests = fake.requests("process")[1:]
    assert len(tile_requests) == 6  # 152 x 125 px in tiles of <= 64: 3 columns x 2 rows
    assert all(
        r.body["output"]["width"] <= 64 and r.body["output"]["height"] <= 64 for r in tile_requests
    )
    a, b = read_raster(single.fetched[0].path), read_raster(tiled.fetched[0].path)
    assert a.transform == b.transform and a.crs == b.crs
    np.testing.assert_array_equal(a.data, b.data)
    assert read_scene(tiled.fetched[0].path).metadata["request"]["tiles"][1] == [50, 0, 51, 62]


def test_oversized_request_is_refused_by_the_server_with_its_message(fake, aoi, tmp_path):
    fake.items = [s1_pass(0)]
    fake.max_px = 64
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    assert "exceeds the limit of 64 pixels" in summary.failed[0].reason


def test_wrong_credentials_are_one_line_without_the_secret(fake, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = settings_for(fake, client_secret="wrong-" + SECRET)
    with pytest.raises(ConfigError) as info:
        open_session(wrong)
    message = str(info.value)
    assert "refused the credentials" in message and "unauthorized_client" in message
    assert "\n" not in message and SECRET not in message
    assert len(fake.requests("token")) == 1  # a 401 is not retried
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_secret_never_reaches_log_records_on_success(fake, aoi, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake.items = [s1_pass(0)]
    fake.faults["process"].append(
        Fault(500, sh_error(500, "Internal Server Error", "boom", "INTERNAL"))
    )
    fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    assert caplog.records
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_fetched_store_feeds_detection_by_aoi_and_date(fake, aoi, tmp_path):
    fake.items = [
        s1_pass(0),
        s1_pass(6, orbit=54, direction="descending"),
        s1_pass(12),
        s2_item(T0),
    ]
    fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    fetch_scenes(aoi, "s2", *MAY, tmp_path, settings=settings_for(fake))
    before, after = pair_for(tmp_path, aoi.id, "s1", "2024-05-13")
    assert (before.date, after.date) == (date(2024, 5, 1), date(2024, 5, 13))
    assert before.orbit == after.orbit == "ASC127"
    s1 = prepare(read_raster(after.path), "s1", source=str(after.path))
    assert s1.band_names == ("VV", "VH") and np.isfinite(s1.data).all()
    s2 = prepare(read_raster(resolve(tmp_path, aoi.id, "s2", "2024-05-01")), "s2")
    assert s2.band_names[:4] == ("B02", "B03", "B04", "B08")
    assert 0 < np.nanmax(s2.band("B02")) < 1  # reflectance, from DN / 10000
