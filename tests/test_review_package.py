"""The run folder written by imagery.review.write_run: files, GeoPackage, styles, project."""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pyogrio
import pytest
import rasterio
from test_review_data import CRS, run_inputs

from imagery.errors import InputError
from imagery.review import write_run
from imagery.review.package import FLAG_FIELDS


@pytest.fixture(scope="module")
def s1_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("out") / "testport" / "2024-03-13"
    return write_run(run_dir, **run_inputs("s1"))


@pytest.fixture(scope="module")
def s2_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("out2") / "run"
    inputs = run_inputs("s2")
    inputs["aoi"] = None
    return write_run(run_dir, **inputs)


def test_run_folder_holds_every_file(s1_run):
    run_dir = s1_run.run_dir
    for name in (
        "detections.gpkg",
        "before.tif",
        "after.tif",
        "change.tif",
        "project.qgs",
        "report.html",
        "before.qml",
        "after.qml",
        "change.qml",
    ):
        assert (run_dir / name).is_file(), name
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")], "staging left"
    assert s1_run.new == 3 and s1_run.total == 3 and s1_run.kept_marks == 0
    assert set(s1_run.paths) >= {"detections", "before", "after", "change", "project", "report"}


def test_geopackage_is_version_1_2_with_the_four_layers(s1_run):
    gpkg = s1_run.paths["detections"]
    con = sqlite3.connect(gpkg)
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        user_version = con.execute("PRAGMA user_version").fetchone()[0]
        contents = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents"))
    finally:
        con.close()
    assert app_id.to_bytes(4, "big") == b"GPKG"
    assert user_version == 10200
    assert {
        k: contents[k] for k in ("detections", "departed", "aoi", "footprints")
    } == dict.fromkeys(("detections", "departed", "aoi", "footprints"), "features")
    assert contents["layer_styles"] == "attributes" and contents["run"] == "attributes"
    layers = dict(pyogrio.list_layers(gpkg))
    assert layers["detections"] == "Polygon"
    info = pyogrio.read_info(gpkg, layer="detections")
    assert info["crs"] == CRS
    assert tuple(info["fields"][: len(FLAG_FIELDS)]) == FLAG_FIELDS
    footprints = pyogrio.read_dataframe(gpkg, layer="footprints")
    assert sorted(footprints["role"]) == ["after", "before"]
    # the before scene's invalid top border is not part of its footprint
    before_fp = footprints[footprints["role"] == "before"].geometry.iloc[0]
    assert before_fp.bounds[3] <= 4680000.0 - 5 * 10.0 + 1e-6


def test_layer_styles_are_the_qgis_table_with_default_styles(s1_run):
    con = sqlite3.connect(s1_run.paths["detections"])
    try:
        columns = [row[1] for row in con.execute("PRAGMA table_info(layer_styles)")]
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML FROM layer_styles"
        ).fetchall()
        counted = con.execute(
            "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'layer_styles'"
        ).fetchone()[0]
    finally:
        con.close()
    assert columns == [
        "id",
        "f_table_catalog",
        "f_table_schema",
        "f_table_name",
        "f_geometry_column",
        "styleName",
        "styleQML",
        "styleSLD",
        "useAsDefault",
        "description",
        "owner",
        "ui",
        "update_time",
    ]
    by_layer = {name: (geom, default, qml) for name, geom, default, qml in rows}
    assert set(by_layer) == {"detections", "departed", "aoi", "footprints"}
    assert counted == 4
    for geom, default, qml in by_layer.values():
        assert geom == "geom" and default == 1
        assert ET.fromstring(qml.split("\n", 1)[1]).tag == "qgis"
    detections = ET.fromstring(by_layer["detections"][2].split("\n", 1)[1])
    assert detections.find("renderer-v2").get("type") == "RuleRenderer"
    widget = detections.find("fieldConfiguration/field[@name='status']/editWidget")
    assert widget.get("type") == "ValueMap"
    values = [o.get("value") for o in widget.iter("Option") if o.get("value")]
    assert values == ["new", "confirmed", "dismissed"]
    editable = {
        f.get("name"): f.get("editable")
        for f in detections.iter("field")
        if f.get("editable") is not None
    }
    assert editable["status"] == "1" and editable["note"] == "1" and editable["score"] == "0"
    assert "score" in detections.find(
        ".//layer[@class='SimpleFill']//Option[@name='expression']"
    ).get("value")
    assert "length_m" in detections.find("labeling/settings/text-style").get("fieldName")


def test_display_rasters_are_cogs_s1_in_db(s1_run):
    with rasterio.open(s1_run.paths["after"]) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.dtypes[0] == "float32" and ds.descriptions[0] == "VV"
        assert ds.overviews(1), "even an AOI-sized display COG carries overviews"
        vv = ds.read(1)
    finite = vv[np.isfinite(vv)]
    assert -40 < np.median(finite) < 0  # dB, not linear power
    with rasterio.open(s1_run.paths["change"]) as ds:
        assert ds.count == 2 and ds.descriptions[0] == "change"
    qml = (s1_run.run_dir / "change.qml").read_text()
    items = re.findall(r'<item value="([^"]+)" color="[^"]+" alpha="(\d+)"', qml)
    zero = [alpha for value, alpha in items if float(value) == 0.0]
    assert zero == ["0"], "no-change must be transparent"
    assert float(items[0][0]) < 0 < float(items[-1][0])


def test_overviews_are_built_for_large_rasters(tmp_path):
    inputs = run_inputs("s1")
    big = {
        k: inputs[k].replace(data=np.tile(inputs[k].data, (1, 4, 4)))
        for k in ("before", "after", "change")
    }
    result = write_run(tmp_path / "run", **{**inputs, **big}, chips=False)
    with rasterio.open(result.paths["after"]) as ds:
        assert ds.overviews(1), "display COG needs internal overviews"
    assert "chips" not in result.paths and not (tmp_path / "run" / "chips").exists()


def test_s2_display_is_true_colour_uint16_and_aoi_falls_back_to_scene(s2_run):
    with rasterio.open(s2_run.paths["after"]) as ds:
        assert ds.dtypes[0] == "uint16" and ds.nodata == 0
        assert ds.descriptions[:3] == ("B04", "B03", "B02")
    assert 'type="multibandcolor"' in (s2_run.run_dir / "after.qml").read_text()
    aoi = pyogrio.read_dataframe(s2_run.paths["detections"], layer="aoi")
    assert aoi["role"].tolist() == ["scene"]


def test_chips_exist_per_flag(s1_run):
    chips = s1_run.run_dir / "chips"
    for flag_id in s1_run.detections["id"]:
        for role in ("before", "after"):
            assert (chips / f"{flag_id}_{role}.png").is_file()
    assert s1_run.detections["chip_after"].tolist() == [
        f"chips/{i}_after.png" for i in s1_run.detections["id"]
    ]
    assert (chips / f"departed_{s1_run.departed['id'].iloc[0]}_before.png").is_file()


def test_report_is_self_contained(s1_run):
    text = s1_run.paths["report"].read_text()
    assert not re.search(r'(src|href)\s*=\s*"https?:', text)
    assert "<link" not in text and "<script" not in text
    images = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(images) == 1 + 2 * 3 + 2  # map, 3 pairs of chips, 1 departed pair
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "Contains modified Copernicus Sentinel data 2024" in text
    assert "portwatch 0.1.0" in text and "pfa" in text


def test_project_is_relative_grouped_and_has_the_layout(s1_run):
    root = ET.parse(s1_run.paths["project"]).getroot()
    sources = [e.text for e in root.iter("datasource")]
    assert sources and all(s.startswith("./") for s in sources)
    assert "./detections.gpkg|layername=detections" in sources
    groups = [g.get("name") for g in root.find("layer-tree-group").findall("layer-tree-group")]
    assert groups == ["flags", "change", "after", "before", "AOI"]
    assert root.find("projectCrs/spatialrefsys/authid").text == CRS
    assert root.find("properties/Paths/Absolute").text == "false"
    view = root.find("ProjectViewSettings/DefaultViewExtent")
    aoi_bounds = pyogrio.read_dataframe(s1_run.paths["detections"], layer="aoi").total_bounds
    assert [float(view.get(k)) for k in ("xmin", "ymin", "xmax", "ymax")] == pytest.approx(
        aoi_bounds
    )
    layout = root.find("Layouts/Layout[@name='portwatch brief']")
    labels = [item.get("labelText") for item in layout.iter("LayoutItem") if item.get("labelText")]
    assert any("Contains modified Copernicus Sentinel data 2024" in t for t in labels)
    assert any("2024-03-01" in t and "2024-03-13" in t for t in labels)
    assert layout.find("LayoutMultiFrame").get("vectorLayer") == "detections_portwatch"


def test_rasters_off_grid_are_refused(tmp_path):
    inputs = run_inputs("s1")
    inputs["after"] = inputs["after"].replace(data=inputs["after"].data[:, :-1, :])
    with pytest.raises(InputError, match="grid"):
        write_run(tmp_path / "run", **inputs)
    assert not (tmp_path / "run").exists()


def test_flags_in_another_crs_are_reprojected(tmp_path):
    inputs = run_inputs("s1")
    inputs["detections"] = inputs["detections"].to_crs("EPSG:4326")
    result = write_run(tmp_path / "run", **inputs, chips=False)
    assert result.detections.crs == CRS
    assert result.detections.geometry.centroid.x.min() > 630000


def test_project_declares_the_geometry_type_the_geopackage_holds(tmp_path):
    inputs = run_inputs("s1")
    # A gap across the after scene (a swath's seam): its valid-data footprint is cut in
    # two, a MultiPolygon, and OGR declares the footprints layer so.
    after = inputs["after"]
    data = after.data.copy()
    data[..., :, 40:44] = np.nan
    inputs["after"] = after.replace(data=data)
    run = write_run(tmp_path / "run", **inputs)
    con = sqlite3.connect(run.paths["detections"])
    try:
        declared = dict(
            con.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns")
        )
    finally:
        con.close()
    assert declared["footprints"] == "MULTIPOLYGON"
    root = ET.parse(run.paths["project"]).getroot()
    types = {m.find("layername").text: m.get("wkbType") for m in root.iter("maplayer")}
    assert types["footprints"] == "MultiPolygon"
    assert types["detections"] == "Polygon"
