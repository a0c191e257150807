"""The local imagery store: layout, sidecars, checks and lookups (no network)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from rasterio.transform import from_origin

from imagery.errors import InputError, StoreError
from imagery.io import read_raster
from imagery.raster import Raster
from imagery.store import (
    check_scene,
    find_scenes,
    list_scenes,
    orbit_label,
    pair_for,
    pair_on,
    read_scene,
    resolve,
    scene_path,
    verify_store,
    write_scene,
)

T0 = datetime(2024, 5, 1, 21, 30, tzinfo=UTC)


def _raster(when: datetime, sensor: str = "s1") -> Raster:
    rng = np.random.default_rng(int(when.timestamp()))
    if sensor == "s1":
        data, names, nodata = (
            rng.gamma(4.0, 0.01, (2, 40, 50)).astype(np.float32),
            ("VV", "VH"),
            float("nan"),
        )
    else:
        data, names, nodata = (
            rng.integers(1, 3000, (5, 40, 50)).astype(np.uint16),
            ("B02", "B03", "B04", "B08", "SCL"),
            0,
        )
    return Raster(
        data, from_origin(607230.0, 4678490.0, 10, 10), "EPSG:32652", nodata, when, sensor, names
    )


def _put(
    store, when, *, sensor="s1", direction="ASCENDING", orbit=127, platform="S1A", aoi="rajin"
):
    label = orbit_label(
        sensor, direction=direction if sensor == "s1" else None, relative_orbit=orbit
    )
    path = scene_path(store, aoi, sensor, when, platform, label)
    return write_scene(
        path,
        _raster(when, sensor),
        aoi_id=aoi,
        platform=platform,
        orbit_direction=direction if sensor == "s1" else None,
        relative_orbit=orbit,
        acquisition={"id": f"{platform}_{when:%Y%m%d}"},
        request={"evalscript": f"{sensor}.js"},
    )


def test_orbit_labels():
    assert orbit_label("s1", direction="ascending", relative_orbit=127) == "ASC127"
    assert orbit_label("s1", direction="DESCENDING", relative_orbit=54) == "DSC054"
    assert orbit_label("s1", direction="asc") == "ASC"
    assert orbit_label("s2", relative_orbit=32) == "R032"
    assert orbit_label("s2", tile="52TGN") == "T52TGN"
    assert orbit_label("s1", relative_orbit=3) == "UNK003"
    assert orbit_label("s1", direction="asc", absolute_orbit=2800) == "ASCA002800"
    assert orbit_label("s1", direction="asc", relative_orbit=7, absolute_orbit=2800) == "ASC007"
    with pytest.raises(InputError):
        orbit_label("s1", direction="sideways", relative_orbit=3)


def test_scene_path_layout_keeps_ids_inside_the_store(tmp_path):
    path = scene_path(tmp_path, "Rajin", "s1", T0, "S1A", "ASC127")
    assert path == tmp_path / "rajin" / "s1" / "2024-05-01_S1A_ASC127.tif"
    sneaky = scene_path(tmp_path, "../../etc", "s2", "2024-05-02", "S2B", "R032")
    assert sneaky.resolve().is_relative_to(tmp_path.resolve())
    with pytest.raises(InputError):
        scene_path(tmp_path, "rajin", "s3", T0, "S1A", "ASC127")


def test_written_scene_is_valid_and_round_trips(tmp_path):
    scene = _put(tmp_path, T0)
    assert check_scene(scene.path) == []
    doc = json.loads(scene.sidecar.read_text())
    assert doc["sha256"] == scene.sha256 and doc["size_bytes"] == scene.path.stat().st_size
    assert doc["request"] == {"evalscript": "s1.js"} and doc["portwatch_version"]
    raster = read_raster(scene.path)
    assert raster.band_names == ("VV", "VH") and raster.time == T0 and raster.sensor == "s1"
    assert read_scene(scene.path) == scene


def test_damage_is_detected(tmp_path):
    scene = _put(tmp_path, T0)
    blob = bytearray(scene.path.read_bytes())
    scene.path.write_bytes(blob[:-100])
    assert "truncated" in check_scene(scene.path)[0]
    blob[-50] ^= 0xFF
    scene.path.write_bytes(bytes(blob))
    assert "SHA-256" in check_scene(scene.path)[0]
    scene.sidecar.unlink()
    assert "no sidecar" in check_scene(scene.path)[0]


def test_unreadable_file_with_matching_sidecar_is_reported(tmp_path):
    scene = _put(tmp_path, T0)
    scene.path.write_bytes(b"not a tiff")
    doc = json.loads(scene.sidecar.read_text())
    import hashlib

    doc.update(size_bytes=10, sha256=hashlib.sha256(b"not a tiff").hexdigest())
    scene.sidecar.write_text(json.dumps(doc))
    assert "GDAL cannot read" in check_scene(scene.path)[0]


def test_verify_store_lists_every_problem(tmp_path):
    good = _put(tmp_path, T0)
    bad = _put(tmp_path, T0 + timedelta(days=12))
    bad.path.write_bytes(bad.path.read_bytes()[:1000])
    orphan = _put(tmp_path, T0 + timedelta(days=24))
    orphan.path.unlink()
    checked, problems = verify_store(tmp_path)
    assert checked == 2
    assert len(problems) == 2
    assert str(bad.path) in problems[0] and "sidecar without its .tif" in problems[1]
    assert all(str(good.path) not in p for p in problems)


def test_find_and_resolve(tmp_path):
    _put(tmp_path, T0)
    _put(tmp_path, T0 - timedelta(hours=10), direction="DESCENDING", orbit=54)
    _put(tmp_path, T0 + timedelta(days=12))
    _put(tmp_path, T0, sensor="s2", orbit=32, platform="S2A")
    assert len(list_scenes(tmp_path)) == 4
    assert [s.orbit for s in find_scenes(tmp_path, "rajin", "s1", date="2024-05-01")] == [
        "DSC054",
        "ASC127",
    ]
    assert len(find_scenes(tmp_path, "rajin", "s1", orbit=127)) == 2
    assert len(find_scenes(tmp_path, "rajin", "s1", direction="dsc")) == 1
    assert resolve(tmp_path, "rajin", "s1", date(2024, 5, 13)).name == "2024-05-13_S1A_ASC127.tif"
    assert (
        resolve(tmp_path, "rajin", "s1", "2024-05-01", orbit="DSC054").name
        == "2024-05-01_S1A_DSC054.tif"
    )
    assert resolve(tmp_path, "rajin", "s2", T0).name == "2024-05-01_S2A_R032.tif"
    with pytest.raises(StoreError, match=r"2 s1 scenes .* choose one"):
        resolve(tmp_path, "rajin", "s1", "2024-05-01")
    with pytest.raises(
        StoreError, match="no s1 scene of rajin on 2024-06-01; the store has: 2024-05-01"
    ):
        resolve(tmp_path, "rajin", "s1", "2024-06-01")


def test_resolve_refuses_a_damaged_scene(tmp_path):
    scene = _put(tmp_path, T0)
    scene.path.write_bytes(scene.path.read_bytes()[:500])
    with pytest.raises(StoreError, match="truncated"):
        resolve(tmp_path, "rajin", "s1", "2024-05-01")


def test_pair_for_keeps_relative_orbit_and_direction(tmp_path):
    first = _put(tmp_path, T0)  # ASC127
    _put(tmp_path, T0 + timedelta(days=5), direction="DESCENDING", orbit=54)
    _put(tmp_path, T0 + timedelta(days=7), orbit=29)  # ASC, other orbit
    after = _put(tmp_path, T0 + timedelta(days=12))  # ASC127
    before, got = pair_for(tmp_path, "rajin", "s1", "2024-05-13")
    assert (before.path, got.path) == (first.path, after.path)
    any_before, _ = pair_for(tmp_path, "rajin", "s1", "2024-05-13", same_orbit=False)
    assert any_before.orbit == "ASC029"
    with pytest.raises(StoreError, match="no s1 scene of rajin of orbit ASC127 before 2024-05-01"):
        pair_for(tmp_path, "rajin", "s1", "2024-05-01")


def test_pair_on_named_dates_keeps_the_orbit_too(tmp_path):
    first = _put(tmp_path, T0)  # ASC127
    _put(tmp_path, T0 + timedelta(days=5), direction="DESCENDING", orbit=54)
    after = _put(tmp_path, T0 + timedelta(days=12))  # ASC127
    before, got = pair_on(tmp_path, "rajin", "s1", "2024-05-01", "2024-05-13")
    assert (before.path, got.path) == (first.path, after.path)
    with pytest.raises(
        StoreError, match=r"no s1 scene of rajin on 2024-05-06 from orbit ASC127 .*DSC054"
    ):
        pair_on(tmp_path, "rajin", "s1", "2024-05-06", "2024-05-13")
    crossed, _ = pair_on(tmp_path, "rajin", "s1", "2024-05-06", "2024-05-13", same_orbit=False)
    assert crossed.orbit == "DSC054"
    with pytest.raises(StoreError, match="not earlier than the after scene"):
        pair_on(tmp_path, "rajin", "s1", "2024-05-13", "2024-05-01")


def test_scenes_of_one_pass_across_midnight_are_never_a_pair(tmp_path):
    # a store written before such a pass was kept whole: one scene on each side of 00:00
    midnight = datetime(2024, 5, 2, tzinfo=UTC)
    earlier = _put(tmp_path, midnight - timedelta(days=12, seconds=20))
    _put(tmp_path, midnight - timedelta(seconds=20))  # 2024-05-01 23:59:40
    after = _put(tmp_path, midnight + timedelta(seconds=5))  # 2024-05-02 00:00:05
    before, got = pair_for(tmp_path, "rajin", "s1", "2024-05-02")
    assert (before.path, got.path) == (earlier.path, after.path)
    with pytest.raises(StoreError, match="same S1A pass as the after scene"):
        pair_on(tmp_path, "rajin", "s1", "2024-05-01", "2024-05-02")


def test_pair_for_s2_takes_the_most_recent_earlier_scene(tmp_path):
    _put(tmp_path, T0, sensor="s2", orbit=32, platform="S2A")
    middle = _put(tmp_path, T0 + timedelta(days=3), sensor="s2", orbit=75, platform="S2B")
    _put(tmp_path, T0 + timedelta(days=5), sensor="s2", orbit=32, platform="S2A")
    before, after = pair_for(tmp_path, "rajin", "s2", "2024-05-06")
    assert before.path == middle.path and after.orbit == "R032"


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no such imagery store"):
        list_scenes(tmp_path / "nope")
