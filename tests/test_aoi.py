from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagery.aoi import catalogue_dir, get_aoi, load_aoi, load_catalogue, safe_id, utm_epsg
from imagery.errors import AOIError

REQUIRED_PORTS = {"rajin", "chongjin", "nampo", "vostochny", "dunai", "nakhodka", "vladivostok"}


def _write(path: Path, geometry: dict, **props) -> Path:
    base = {"role": "aoi", "id": "test-port", "name": "Test", "country": "X", "locode": None}
    base.update(props)
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": base, "geometry": geometry}],
    }
    path.write_text(json.dumps(doc))
    return path


def _box(w, s, e, n) -> dict:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


@pytest.mark.parametrize("path", sorted(catalogue_dir().glob("*.geojson")), ids=lambda p: p.name)
def test_every_catalogue_file_validates(path):
    aoi = load_aoi(path)
    assert aoi.id == path.stem
    assert 0.5 <= aoi.area_km2 <= 400
    assert aoi.reason and aoi.name and aoi.country


def test_catalogue_has_the_watched_ports():
    assert set(load_catalogue()) >= REQUIRED_PORTS


def test_rajin_is_in_utm_52n():
    rajin = get_aoi("rajin")
    assert rajin.utm_epsg == 32652
    assert rajin.locode == "KPNJN"


def test_utm_zone_southern_hemisphere():
    assert utm_epsg(31.0, -29.9) == 32736


def test_user_file(tmp_path):
    path = _write(tmp_path / "mine.geojson", _box(130.27, 42.22, 130.30, 42.25), id="mine")
    assert get_aoi(str(path)).id == "mine"


def test_swapped_coordinates_are_refused(tmp_path):
    path = _write(tmp_path / "swapped.geojson", _box(42.22, 130.27, 42.25, 130.30))
    with pytest.raises(AOIError, match=r"swapped\.geojson: .*(lon|WGS84)"):
        load_aoi(path)


def test_lat_lon_order_within_range_is_refused(tmp_path):
    # Valdivia-like: lat -39.8, lon -73.2 swapped gives x=-39.8, y=-73.2 (a legal latitude).
    path = _write(tmp_path / "swapped2.geojson", _box(10.0, 85.0, 10.1, 85.05))
    with pytest.raises(AOIError, match=r"\(lat, lon\)"):
        load_aoi(path)


def test_projected_coordinates_are_refused(tmp_path):
    path = _write(tmp_path / "utm.geojson", _box(630000, 4680000, 632000, 4682000))
    with pytest.raises(AOIError, match="not WGS84"):
        load_aoi(path)


def test_polygon_across_the_antimeridian_is_refused(tmp_path):
    # Fiji: a quay from 179.99 E to 179.99 W, written as one polygon (RFC 7946 would cut it)
    across = {
        "type": "Polygon",
        "coordinates": [
            [
                [179.99, -16.8],
                [-179.99, -16.8],
                [-179.99, -16.78],
                [179.99, -16.78],
                [179.99, -16.8],
            ]
        ],
    }
    path = _write(tmp_path / "fiji.geojson", across)
    with pytest.raises(AOIError, match=r"fiji\.geojson: .*antimeridian.*split it at 180 degrees"):
        load_aoi(path)


def test_polygon_beside_the_antimeridian_is_accepted(tmp_path):
    path = _write(tmp_path / "taveuni.geojson", _box(179.95, -16.82, 179.99, -16.78))
    assert load_aoi(path).utm_epsg == 32760


def test_tiny_area_is_refused(tmp_path):
    path = _write(tmp_path / "tiny.geojson", _box(130.27, 42.22, 130.271, 42.221))
    with pytest.raises(AOIError, match=r"tiny\.geojson: AOI area 0\.0\d+ km"):
        load_aoi(path)


def test_huge_area_is_refused(tmp_path):
    path = _write(tmp_path / "huge.geojson", _box(129.0, 41.0, 131.0, 43.0))
    with pytest.raises(AOIError, match="outside the sane range"):
        load_aoi(path)


def test_self_intersecting_polygon_is_refused(tmp_path):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[130.27, 42.22], [130.30, 42.25], [130.30, 42.22], [130.27, 42.25], [130.27, 42.22]]
        ],
    }
    with pytest.raises(AOIError, match="invalid"):
        load_aoi(_write(tmp_path / "bowtie.geojson", bowtie))


def test_point_is_refused(tmp_path):
    with pytest.raises(AOIError, match="Polygon"):
        load_aoi(_write(tmp_path / "pt.geojson", {"type": "Point", "coordinates": [130.2, 42.2]}))


def test_path_traversal_id_is_refused(tmp_path):
    path = _write(tmp_path / "evil.geojson", _box(130.27, 42.22, 130.30, 42.25), id="../../etc")
    with pytest.raises(AOIError, match="not path-safe"):
        load_aoi(path)


@pytest.mark.parametrize(
    ("raw", "clean"), [("../../etc", "etc"), ("Rajin Port", "rajin-port"), (".hidden", "hidden")]
)
def test_safe_id(raw, clean):
    assert safe_id(raw) == clean


def test_safe_id_refuses_empty():
    with pytest.raises(AOIError):
        safe_id("../")


def test_not_json(tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(AOIError, match=r"bad\.geojson: not valid JSON"):
        load_aoi(bad)


def test_duplicate_ids_in_catalogue(tmp_path):
    _write(tmp_path / "a.geojson", _box(130.27, 42.22, 130.30, 42.25), id="same")
    _write(tmp_path / "b.geojson", _box(130.27, 42.22, 130.30, 42.25), id="same")
    with pytest.raises(AOIError, match="duplicate AOI id 'same'"):
        load_catalogue(tmp_path)


def test_unknown_id_lists_known():
    with pytest.raises(AOIError, match=r"known: .*rajin"):
        get_aoi("atlantis")


def test_water_polygon_is_clipped_to_aoi(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"role": "aoi", "id": "w", "name": "W"},
                "geometry": _box(130.27, 42.22, 130.30, 42.25),
            },
            {
                "type": "Feature",
                "properties": {"role": "water"},
                "geometry": _box(130.28, 42.20, 130.35, 42.24),
            },
        ],
    }
    path = tmp_path / "w.geojson"
    path.write_text(json.dumps(doc))
    aoi = load_aoi(path)
    assert aoi.water is not None
    assert aoi.geometry.contains(aoi.water.buffer(-1e-9))
    assert aoi.water_in(aoi.utm_crs).area > 0
