"""Sentinel Hub sources against fault-injecting answers of the fake Sentinel Hub.

Each test reproduces a defect found in review, against the real sentinelhub-py client
and the fake server on 127.0.0.1 (mocks only at the network edge).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, date, datetime, timedelta

import fake_sentinelhub
import pytest
import test_sources
from fake_sentinelhub import Fault, s1_item, sh_error
from shapely.geometry import box

from imagery.aoi import load_aoi
from imagery.io import read_raster
from imagery.sources import fetch_scenes, search_scenes
from imagery.store import check_scene, pair_for

# The fake server, the small AOI and the client settings are test_sources.py's.
MAY, T0, settings_for = test_sources.MAY, test_sources.T0, test_sources.settings_for
aoi, fake = test_sources.aoi, test_sources.fake  # fixtures


# -- 1. S2 reflectance 0 is valid data, not nodata ------------------------------------


def _needs_node() -> None:
    """Node.js runs the evalscripts here; .ci/run installs it and requires it."""
    if shutil.which("node") or shutil.which("nodejs"):
        return
    message = "Node.js (node) is not on PATH: install Debian's nodejs"
    if os.environ.get("PORTWATCH_REQUIRE_NODE") == "1":
        pytest.fail(message + " (PORTWATCH_REQUIRE_NODE=1)")
    pytest.skip(message)


def test_s2_zero_reflectance_over_dark_water_stays_valid(fake, aoi, tmp_path, monkeypatch):
    _needs_node()
    synth = fake_sentinelhub.synth_pixels

    def dark_water(kind, bounds, width, height, count, day, nodata_x):
        px = synth(kind, bounds, width, height, count, day, nodata_x)
        px[3:5, :, : width // 2] = 0  # B08 and B11 at 0 over the western half; dataMask 1
        return px

    monkeypatch.setattr(fake_sentinelhub, "synth_pixels", dark_water)
    fake.run_evalscripts = True  # Sentinel Hub runs our evaluatePixel on the samples
    fake.items = [fake_sentinelhub.s2_item(T0)]
    fake.nodata_x = aoi.utm_bounds()[0] + 100  # the first 10 columns have no data
    summary = fetch_scenes(aoi, "s2", *MAY, tmp_path / "store", settings=settings_for(fake))
    raster = read_raster(summary.fetched[0].path)
    valid = raster.valid_mask()
    assert not valid[:, :10].any() and (raster.data[:, :, :10] == 0).all()
    assert valid[:, 10:].all()  # dataMask said 1 there
    assert (raster.band("B11")[:, 10 : raster.width // 2] == 1).all()  # 1e-4 reflectance
    assert (raster.band("B02")[:, 10:] >= 500).all()  # other reflectances untouched
    assert (raster.band("SCL")[:, 10:] == 6).all()


# -- 3. one pass across 00:00 UTC ---------------------------------------------------------


def test_pass_across_midnight_is_one_scene_named_by_its_first_slice(fake, aoi, tmp_path):
    midnight = datetime(2024, 5, 2, tzinfo=UTC)
    fake.items = [
        s1_item(midnight - timedelta(seconds=20), relative_orbit=127),  # 23:59:40
        s1_item(midnight + timedelta(seconds=5), relative_orbit=127),  # 00:00:05
        s1_item(midnight - timedelta(days=12, seconds=20), relative_orbit=127),
    ]
    settings = settings_for(fake)
    found = search_scenes(aoi, "s1", date(2024, 4, 19), date(2024, 5, 2), settings=settings)
    assert [(a.date, len(a.item_ids)) for a in found] == [
        (date(2024, 4, 19), 1),
        (date(2024, 5, 1), 2),
    ]
    summary = fetch_scenes(
        aoi, "s1", date(2024, 4, 19), date(2024, 5, 2), tmp_path, settings=settings
    )
    assert [r.path.name for r in summary.fetched] == [
        "2024-04-19_S1A_ASC127.tif",
        "2024-05-01_S1A_ASC127.tif",
    ]
    time_range = fake.requests("process")[-1].body["input"]["data"][0]["dataFilter"]["timeRange"]
    assert time_range["from"] < "2024-05-01T23:59:40" and time_range["to"] > "2024-05-02T00:00:05"
    before, after = pair_for(tmp_path, aoi.id, "s1", "2024-05-01")
    assert (before.date, after.date) == (date(2024, 4, 19), date(2024, 5, 1))


# -- 4. a stored scene is kept only when it matches the request ---------------------------


def test_scene_stored_for_an_older_aoi_polygon_is_fetched_again(fake, aoi, tmp_path, caplog):
    fake.items = [s1_item(T0, relative_orbit=127)]
    settings = settings_for(fake)
    (first,) = fetch_scenes(aoi, "s1", *MAY, tmp_path / "store", settings=settings).fetched
    old_width = read_raster(first.path).width
    doc = json.loads(aoi.path.read_text())  # the same id, a wider polygon
    doc["features"][0]["geometry"] = box(130.30, 42.24, 130.34, 42.26).__geo_interface__
    aoi.path.write_text(json.dumps(doc))
    wider = load_aoi(aoi.path)
    again = fetch_scenes(wider, "s1", *MAY, tmp_path / "store", settings=settings)
    assert [r.status for r in again.results] == ["fetched"]
    assert len(fake.requests("process")) == 2
    raster = read_raster(first.path)
    left, _, right, top = wider.utm_bounds()
    assert raster.width == round((right - left) / 10) > old_width
    assert raster.transform.c == left and raster.transform.f == top
    assert check_scene(first.path) == []
    assert any("bbox, size differ" in r.getMessage() for r in caplog.records)
    third = fetch_scenes(wider, "s1", *MAY, tmp_path / "store", settings=settings)
    assert [r.status for r in third.results] == ["skipped"]


def test_s1_passes_of_unknown_relative_orbit_on_one_day_get_their_own_files(fake, aoi, tmp_path):
    # S1C: no relative orbit offset known; two ascending passes ~100 min apart
    first = datetime(2025, 6, 1, 15, 10, tzinfo=UTC)
    fake.items = [
        s1_item(first, platform="S1C", absolute_orbit=2800),
        s1_item(first + timedelta(minutes=99), platform="S1C", absolute_orbit=2801),
    ]
    day = date(2025, 6, 1)
    summary = fetch_scenes(aoi, "s1", day, day, tmp_path, settings=settings_for(fake))
    assert [(r.status, r.path.name) for r in summary.results] == [
        ("fetched", "2025-06-01_S1C_ASCA002800.tif"),
        ("fetched", "2025-06-01_S1C_ASCA002801.tif"),
    ]
    assert len(fake.requests("process")) == 2


# -- 5. Retry-After on a 5xx is seconds, and a floor under the backoff -------------------


def test_retry_after_on_503_is_seconds_and_never_shortens_the_backoff(fake, aoi, tmp_path):
    fake.items = [s1_item(T0, relative_orbit=127)]
    unavailable = sh_error(503, "Service Unavailable", "maintenance", "UNAVAILABLE")
    fake.faults["process"] += [
        Fault(503, unavailable, headers={"Retry-After": "1"}),  # RFC 9110: one second
        Fault(503, unavailable, headers={"Retry-After": "0"}),  # "now": the backoff holds
    ]
    settings = settings_for(fake, backoff_s=0.4, backoff_max_s=0.4, max_attempts=3)
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings)
    assert [r.status for r in summary.results] == ["fetched"]
    first, second, served = fake.requests("process")
    assert [first.status, second.status, served.status] == [503, 503, 200]
    assert 1.0 <= second.t - first.t < 2.5
    assert 0.4 <= served.t - second.t < 1.5


# -- 6. an inclusive end day ends at its last microsecond --------------------------------


def test_search_ending_on_a_day_finds_a_product_of_its_last_second(fake, aoi):
    late = datetime(2024, 5, 1, 23, 59, 59, 600000, tzinfo=UTC)
    fake.items = [s1_item(late, relative_orbit=127)]
    day = date(2024, 5, 1)
    found = search_scenes(aoi, "s1", day, day, settings=settings_for(fake))
    assert [a.start for a in found] == [late]
    assert fake.requests("catalog")[-1].body["datetime"].endswith("T23:59:59.999999Z")


# -- 7. a 200 holding an error document ----------------------------------------------------


def test_process_200_with_a_json_error_fails_at_once_with_the_server_message(fake, aoi, tmp_path):
    fake.items = [s1_item(T0, relative_orbit=127)]
    fake.process_rule = lambda body: Fault(
        200, sh_error(200, "OK", "Evaluation of evalscript failed", "RENDERER_EXCEPTION")
    )
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings_for(fake))
    (failed,) = summary.failed
    assert "HTTP 200 OK: Evaluation of evalscript failed [RENDERER_EXCEPTION]" in failed.reason
    assert "GDAL" not in failed.reason
    assert len(fake.requests("process")) == 1


# -- 8. the 429 backoff starts over after a request goes through ---------------------------


def test_429_backoff_starts_over_after_a_successful_request(fake, aoi, tmp_path):
    fake.items = [s1_item(T0, relative_orbit=127), s1_item(T0 + timedelta(days=12))]
    limited = Fault(429, sh_error(429, "Too Many Requests", "slow down", "RATE_LIMIT_EXCEEDED"))
    answers = iter([limited, limited, None, limited, None])  # no Retry-After: backoff
    fake.process_rule = lambda body: next(answers)
    settings = settings_for(fake, backoff_s=0.3, backoff_max_s=5.0, rate_limit_attempts=5)
    summary = fetch_scenes(aoi, "s1", *MAY, tmp_path, settings=settings)
    assert [r.status for r in summary.results] == ["fetched", "fetched"]
    log = fake.requests("process")
    assert [r.status for r in log] == [429, 429, 200, 429, 200]
    assert 0.3 <= log[4].t - log[3].t < 0.9  # the first strike again, not the third (1.2 s)
