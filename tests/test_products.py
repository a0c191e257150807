"""Product folders and archives (imagery.products) read as one raster.

Every product here is written file by file as its producer lays it out: a Sentinel-2
L2A ``.SAFE`` of JPEG 2000 bands at 10, 20 and 60 m with its ``MTD_MSIL2A.xml``, its
zip, a folder of single-band GeoTIFFs, a folder of Sentinel-1 VV/VH GeoTIFFs in dB.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from conftest import SHARED_DATA, load_benchmark
from rasterio.transform import from_origin
from rasterio.windows import Window

from imagery.cli.main import cli
from imagery.errors import BandError, InputError, NoOverlapError
from imagery.io import raster_info, read_raster, read_raster_around
from imagery.products import product_bands
from imagery.sensors import prepare

NAME = "S2B_MSIL2A_20230821T074619_N0509_R135_T36JTL_20230821T104104"
TILE = "T36JTL_20230821T074619"
LEFT, TOP = 399960.0, 6700020.0
ROWS, COLS = 60, 80
BUSAN = SHARED_DATA / "sen2ships" / "busan"


def _write(path: Path, data: np.ndarray, pixel_m: float, *, driver="JP2OpenJPEG", crs="EPSG:32736",
           left=LEFT, top=TOP, nodata=None) -> None:  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"QUALITY": 100, "REVERSIBLE": "YES"} if driver == "JP2OpenJPEG" else {}
    with rasterio.open(
        path, "w", driver=driver, width=data.shape[1], height=data.shape[0], count=1,
        dtype=data.dtype, crs=crs, transform=from_origin(left, top, pixel_m, pixel_m),
        nodata=nodata, **options,
    ) as ds:  # fmt: skip
        ds.write(data, 1)


def _metadata(offset: int | None) -> str:
    offsets = ""
    if offset is not None:
        offsets = "".join(
            f'<BOA_ADD_OFFSET band_id="{i}">{offset}</BOA_ADD_OFFSET>' for i in range(13)
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/'
        'User_Product_Level-2A.xsd"><n1:General_Info><Product_Info>'
        "<PRODUCT_START_TIME>2023-08-21T07:46:19.024Z</PRODUCT_START_TIME>"
        "<PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL></Product_Info>"
        "<Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>"
        '<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>'
        "</QUANTIFICATION_VALUES_LIST>"
        f"<BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST>"
        "</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>"
    )


def write_l2a_safe(folder: Path, dn: dict[str, np.ndarray], *, offset: int | None = -1000) -> Path:
    """An L2A SAFE of ``dn`` (10 m arrays for B02-B08, 20 m for B11 and SCL)."""
    safe = folder / f"{NAME}.SAFE"
    img = safe / "GRANULE" / "L2A_T36JTL_A033713_20230821T080052" / "IMG_DATA"
    for band in ("B02", "B03", "B04", "B08"):
        _write(img / "R10m" / f"{TILE}_{band}_10m.jp2", dn[band], 10.0)
        # The 20 m and 60 m copies every L2A product also carries.
        coarse = dn[band].reshape(ROWS // 2, 2, COLS // 2, 2).mean(axis=(1, 3)).astype(np.uint16)
        _write(img / "R20m" / f"{TILE}_{band}_20m.jp2", coarse, 20.0)
        _write(img / "R60m" / f"{TILE}_{band}_60m.jp2", coarse[::3, ::3].copy(), 60.0)
    _write(img / "R20m" / f"{TILE}_B11_20m.jp2", dn["B11"], 20.0)
    _write(img / "R20m" / f"{TILE}_SCL_20m.jp2", dn["SCL"], 20.0)
    _write(img / "R20m" / f"{TILE}_B8A_20m.jp2", dn["B11"] + 7, 20.0)
    # Quality masks name bands too, and must not be taken for them.
    qi = safe / "GRANULE" / "L2A_T36JTL_A033713_20230821T080052" / "QI_DATA"
    _write(qi / "MSK_DETFOO_B02.jp2", np.ones((ROWS, COLS), np.uint8), 10.0)
    (safe / "MTD_MSIL2A.xml").write_text(_metadata(offset))
    (safe / "manifest.safe").write_text("<xfdu:XFDU/>")
    return safe


@pytest.fixture
def dn() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    bands = {
        b: rng.integers(1000, 4000, (ROWS, COLS)).astype(np.uint16)
        for b in ("B02", "B03", "B04", "B08")
    }
    bands["B02"][:3, :5] = 0  # the fill value
    bands["B08"][-1, -1] = 950  # below the offset of -1000
    bands["B11"] = rng.integers(1000, 3000, (ROWS // 2, COLS // 2)).astype(np.uint16)
    scl = np.full((ROWS // 2, COLS // 2), 6, np.uint8)
    scl[10:20, 5:15] = 9
    bands["SCL"] = scl
    return bands


def test_an_l2a_safe_reads_as_reflectance_on_the_10_m_grid(tmp_path, dn):
    safe = write_l2a_safe(tmp_path, dn)
    raster = read_raster(safe)
    assert raster.band_names == ("B02", "B03", "B04", "B08", "B11", "SCL")
    assert raster.shape == (ROWS, COLS)
    assert raster.transform == from_origin(LEFT, TOP, 10.0, 10.0)
    assert raster.crs.to_epsg() == 32736 and raster.sensor == "s2"
    assert raster.time.isoformat().startswith("2023-08-21T07:46:19")
    # Baseline 04.00: reflectance = (DN - 1000) / 10000; the fill value 0 is no data.
    expected = (dn["B08"].astype(np.float64) - 1000) / 10000
    np.testing.assert_allclose(raster.band("B08"), expected, atol=1e-6)
    assert np.isnan(raster.band("B02")[:3, :5]).all()
    assert np.isfinite(raster.band("B02")[3:, 5:]).all()
    # 20 m bands come to 10 m by nearest neighbour; SCL classes stay classes.
    up = np.repeat(np.repeat(dn["SCL"], 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(raster.band("SCL"), up)
    b11 = np.repeat(np.repeat(dn["B11"], 2, axis=0), 2, axis=1)
    np.testing.assert_allclose(raster.band("B11"), (b11 - 1000.0) / 10000, atol=1e-6)
    prepared = prepare(raster, "s2", source=str(safe), grid="native")
    np.testing.assert_allclose(prepared.band("B08"), np.maximum(expected, 0), atol=1e-6)
    # Dark water's noise below the offset: -0.005 in the product, 0 once prepared.
    assert raster.band("B08")[-1, -1] == pytest.approx(-0.005, abs=1e-6)
    assert prepared.band("B08")[-1, -1] == 0.0
    assert prepared.band_names == ("B02", "B03", "B04", "B08", "B11", "SCL")


def test_a_product_before_baseline_4_has_no_offset(tmp_path, dn):
    raster = read_raster(write_l2a_safe(tmp_path, dn, offset=None))
    np.testing.assert_allclose(raster.band("B04"), dn["B04"] / 10000.0, atol=1e-6)


def test_a_broken_metadata_file_is_named(tmp_path, dn):
    safe = write_l2a_safe(tmp_path, dn)
    (safe / "MTD_MSIL2A.xml").write_text("<n1:Level-2A_User_Product><General_Info>")
    with pytest.raises(InputError, match=r"MTD_MSIL2A\.xml: not readable XML"):
        read_raster(safe)


def test_the_zip_and_the_folder_around_the_safe_read_alike(tmp_path, dn, monkeypatch):
    safe = write_l2a_safe(tmp_path / "unzipped", dn)
    archive = tmp_path / f"{NAME}.SAFE.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(safe.rglob("*")):
            out.write(path, path.relative_to(safe.parent).as_posix())
    expected = read_raster(safe)
    for given in (archive, tmp_path / "unzipped"):
        raster = read_raster(given)
        assert raster.band_names == expected.band_names and raster.time == expected.time
        np.testing.assert_array_equal(raster.data, expected.data)
    monkeypatch.chdir(tmp_path)  # a relative path to the archive
    np.testing.assert_array_equal(read_raster(Path(archive.name)).data, expected.data)
    window = Window(30, 20, 25, 16)
    part = read_raster(archive, window=window)
    np.testing.assert_array_equal(part.data, expected.data[:, 20:36, 30:55])
    assert raster_info(archive).count == 6


def test_a_folder_of_band_geotiffs_is_one_scene(tmp_path, dn):
    for band in ("B02", "B03", "B04", "B08"):
        _write(
            tmp_path / f"2023-08-21_Sentinel-2_L2A_{band}_(Raw).tiff",
            dn[band],
            10.0,
            driver="GTiff",
        )
    _write(tmp_path / "B11.tif", dn["B11"], 20.0, driver="GTiff")
    _write(tmp_path / "true_color.tif", dn["B02"], 10.0, driver="GTiff")  # no band in the name
    raster = read_raster(tmp_path)
    assert raster.band_names == ("B02", "B03", "B04", "B08", "B11")
    assert raster.time is not None and raster.time.date().isoformat() == "2023-08-21"
    # Digital numbers are kept as they are for prepare_s2 to scale.
    np.testing.assert_array_equal(raster.band("B03"), dn["B03"])
    prepared = prepare(raster, "s2", source=str(tmp_path), grid="native")
    np.testing.assert_allclose(prepared.band("B03"), dn["B03"] / 10000.0, atol=1e-6)


def test_a_folder_of_s1_geotiffs_in_db(tmp_path):
    rng = np.random.default_rng(3)
    vv = (10 * np.log10(rng.gamma(4.4, 0.05 / 4.4, (ROWS, COLS)))).astype(np.float32)
    vh = vv - 7.0
    vv[0, :4] = -99.0
    # ASF's RTC naming: flags "g d ..." say gamma0 in dB.
    stem = "S1A_IW_20230821T153012_DVP_RTC10_G_gduned_5E2A"
    _write(tmp_path / f"{stem}_VH.tif", vh, 10.0, driver="GTiff", nodata=-99.0)
    _write(tmp_path / f"{stem}_VV.tif", vv, 10.0, driver="GTiff", nodata=-99.0)
    _write(tmp_path / f"{stem}_ls_map.tif", np.zeros((ROWS, COLS), np.uint8), 10.0, driver="GTiff")
    raster = read_raster(tmp_path, sensor="s1")
    assert [n[:2] for n in raster.band_names] == ["VV", "VH"]
    assert np.isnan(raster.band(raster.band_names[0])[0, :4]).all()
    prepared = prepare(raster, "s1", source=str(tmp_path), grid="native")
    assert prepared.band_names == ("VV", "VH")
    np.testing.assert_allclose(
        10 * np.log10(prepared.band("VV")[1:]), vv[1:], atol=1e-4
    )  # dB recognised from the file names and made linear
    assert raster.time.isoformat().startswith("2023-08-21T15:30:12")
    # Amplitude is refused by name; power ("p") is read as it is.
    for path in tmp_path.glob("*_V?.tif"):
        path.rename(path.with_name(path.name.replace("_gduned_", "_gauned_")))
    with pytest.raises(InputError, match="ASF amplitude backscatter"):
        read_raster(tmp_path, sensor="s1")
    for path in tmp_path.glob("*_V?.tif"):
        path.rename(path.with_name(path.name.replace("_gauned_", "_gpuned_")))
    assert read_raster(tmp_path, sensor="s1").band_names == ("VV", "VH")


def test_a_required_band_missing_is_named(tmp_path, dn):
    for band in ("B02", "B03", "B04"):
        _write(tmp_path / f"{band}.tif", dn[band], 10.0, driver="GTiff")
    with pytest.raises(BandError, match=r"no file for band\(s\) B08") as error:
        read_raster(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_two_files_of_one_band_at_one_resolution_are_refused(tmp_path, dn):
    for band in ("B02", "B03", "B04", "B08"):
        _write(tmp_path / f"{band}.tif", dn[band], 10.0, driver="GTiff")
    _write(tmp_path / "B08_copy.tif", dn["B08"], 10.0, driver="GTiff")
    with pytest.raises(BandError, match="2 files hold band B08"):
        read_raster(tmp_path)


def test_bands_in_different_crss_are_refused(tmp_path, dn):
    for band in ("B02", "B03", "B04"):
        _write(tmp_path / f"{band}.tif", dn[band], 10.0, driver="GTiff")
    _write(tmp_path / "B08.tif", dn["B08"], 10.0, driver="GTiff", crs="EPSG:32735")
    with pytest.raises(InputError, match=r"B08\.tif is in EPSG:32735"):
        read_raster(tmp_path)


def test_an_empty_or_mixed_folder_says_what_it_found(tmp_path, dn):
    with pytest.raises(BandError, match="no Sentinel-1 or Sentinel-2 band names"):
        read_raster(tmp_path)
    for band in ("B02", "B03", "B04", "B08"):
        _write(tmp_path / f"{band}.tif", dn[band], 10.0, driver="GTiff")
    _write(tmp_path / "VV.tif", dn["B02"], 10.0, driver="GTiff")
    with pytest.raises(BandError, match="both Sentinel-1 and Sentinel-2"):
        read_raster(tmp_path)
    sensor, bands = product_bands(tmp_path, "s2")  # the caller's sensor settles it
    assert sensor == "s2" and [b.name for b in bands] == ["B02", "B03", "B04", "B08"]
    assert read_raster(tmp_path, sensor="s2").band_names == ("B02", "B03", "B04", "B08")
    assert read_raster(tmp_path, sensor="s1").band_names == ("VV",)


def test_unsupported_products_are_refused_with_what_to_do(tmp_path, dn):
    grd = tmp_path / "S1A_IW_GRDH_1SDV_20230821T153012_20230821T153037_049959_0602A1_1F2B.SAFE"
    (grd / "measurement").mkdir(parents=True)
    (grd / "manifest.safe").write_text("<xfdu:XFDU/>")
    _write(
        grd / "measurement" / "s1a-iw-grd-vv-20230821t153012-001.tiff",
        dn["B02"],
        10.0,
        driver="GTiff",
    )
    with pytest.raises(InputError, match=r"GRD product.*--sensor s1 --aoi"):
        read_raster(grd)
    slc = tmp_path / "S1A_IW_SLC__1SDV_20230821T153012_20230821T153037_049959_0602A1_3C4D.SAFE"
    (slc / "measurement").mkdir(parents=True)
    (slc / "manifest.safe").write_text("<xfdu:XFDU/>")
    _write(slc / "measurement" / "s1a-iw1-slc-vv-20230821t153012-004.tiff", dn["B02"], 10.0,
           driver="GTiff")  # fmt: skip
    with pytest.raises(InputError, match="not a GRD"):
        read_raster(slc)
    tiles = write_l2a_safe(tmp_path / "tiles", dn)
    shutil.copytree(
        tiles / "GRANULE" / "L2A_T36JTL_A033713_20230821T080052",
        tiles / "GRANULE" / "L2A_T36JTM_A033713_20230821T080052",
    )
    with pytest.raises(InputError, match="2 granules in one product"):
        read_raster(tiles)
    l1c = write_l2a_safe(tmp_path / "l1c", dn)
    (l1c / "MTD_MSIL2A.xml").rename(l1c / "MTD_MSIL1C.xml")
    with pytest.raises(InputError, match=r"L1C.*use the L2A product"):
        read_raster(l1c)
    result = CliRunner().invoke(
        cli, ["vessels", str(grd), "--sensor", "s1", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code != 0 and "radar geometry" in result.output


def test_the_grid_is_the_finest_required_band_s(tmp_path, dn):
    """B02 at 20 m beside 10 m B03, B04, B08: the stack is on the 10 m grid."""
    coarse = dn["B02"].reshape(ROWS // 2, 2, COLS // 2, 2).mean(axis=(1, 3)).astype(np.uint16)
    _write(tmp_path / "B02.tif", coarse, 20.0, driver="GTiff")
    for band in ("B03", "B04", "B08"):
        _write(tmp_path / f"{band}.tif", dn[band], 10.0, driver="GTiff")
    raster = read_raster(tmp_path)
    assert raster.shape == (ROWS, COLS) and raster.transform.a == 10.0
    np.testing.assert_array_equal(raster.band("B08"), dn["B08"])
    np.testing.assert_array_equal(raster.band("B02")[::2, ::2], coarse)


@pytest.mark.skipif(not BUSAN.exists(), reason=f"real S2 sample missing: {BUSAN}")
def test_real_busan_as_an_l2a_safe_finds_what_the_benchmark_finds(tmp_path):
    """Busan's real bands, written as an L2A product would hold them, through the CLI."""
    sen2ships = load_benchmark("sen2ships")
    scene = sen2ships.load_port(BUSAN)
    safe = tmp_path / f"{NAME}.SAFE"
    img = safe / "GRANULE" / "L2A_T52SDE_A000000_20220514T020000" / "IMG_DATA" / "R10m"
    left, top = scene.transform.c, scene.transform.f
    pixel = scene.transform.a
    for band in ("B02", "B03", "B04", "B08", "B11"):
        reflectance = np.nan_to_num(scene.band(band), nan=0.0)
        digital = np.clip(np.round(reflectance * 10000) + 1000, 1, 65535).astype(np.uint16)
        path = img / f"T52SDE_20220514T020000_{band}_10m.jp2"
        _write(path, digital, pixel, crs=scene.crs, left=left, top=top)
    (safe / "MTD_MSIL2A.xml").write_text(_metadata(-1000))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["vessels", str(safe), "--sensor", "s2", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    import geopandas as gpd

    found = gpd.read_file(out / "vessels.gpkg", layer="vessels")
    from imagery.vessels import detect_vessels

    expected = detect_vessels(scene)
    # Reflectance rounded to 1e-4 (the product's own precision) moves a threshold or two.
    assert abs(len(found) - len(expected)) <= 2
    assert len(found) > 40  # Busan's 54 annotated ships, seen through the product
    # The same ships: each expected centre has a found one within 20 m.
    assert np.mean(_nearest_m(expected, found) < 20.0) > 0.95

    # With an AOI only its part of the product is read: a box of 1.2 km x 1 km in the
    # middle of the port, and 2 km of margin for the CFAR's background.
    lon, lat = float(np.median(expected["lon"])), float(np.median(expected["lat"]))
    box = (lon - 0.0065, lat - 0.0045, lon + 0.0065, lat + 0.0045)
    aoi_file = tmp_path / "busan.geojson"
    aoi_file.write_text(json.dumps(_aoi_geojson("busan_core", box)))
    out_aoi = tmp_path / "out_aoi"
    result = CliRunner().invoke(
        cli, ["vessels", str(safe), "--sensor", "s2", "--out", str(out_aoi), "--aoi", str(aoi_file)]
    )
    assert result.exit_code == 0, result.output
    part = gpd.read_file(out_aoi / "vessels.gpkg", layer="vessels")
    read = read_raster_around(safe, box)
    assert read.shape[1] < scene.shape[1] * 0.8  # a window, not the tile
    # The same window of the benchmark's scene gives the same ships.
    col0, row0 = (round(v) for v in ~scene.transform * (read.transform.c, read.transform.f))
    rows, cols = read.shape
    window = scene.replace(
        data=np.ascontiguousarray(scene.data[:, row0 : row0 + rows, col0 : col0 + cols]),
        transform=read.transform,
    )
    expected_part = detect_vessels(window)
    assert abs(len(part) - len(expected_part)) <= 1 and len(part) >= 10
    assert np.mean(_nearest_m(expected_part, part) < 20.0) > 0.95

    # A pair of products: the same pass twice holds nothing new.
    again = tmp_path / safe.name.replace("20230821T074619", "20230826T074621")
    shutil.copytree(safe, again)
    metadata = again / "MTD_MSIL2A.xml"
    metadata.write_text(metadata.read_text().replace("2023-08-21T07:46", "2023-08-26T07:46"))
    pair = tmp_path / "pair"
    result = CliRunner().invoke(
        cli,
        ["detect", str(safe), str(again), "--sensor", "s2", "--out", str(pair), "--no-chips",
         "--aoi", str(aoi_file), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["new_vessels"] == 0 and summary["departed"] == 0
    shutil.rmtree(safe)


def _nearest_m(expected, found) -> np.ndarray:
    """Metres from each expected vessel to the nearest found one (from lon/lat)."""
    metres_lat = 111_320.0
    metres_lon = metres_lat * np.cos(np.radians(expected["lat"].to_numpy()))[:, None]
    dy = (expected["lat"].to_numpy()[:, None] - found["lat"].to_numpy()[None]) * metres_lat
    dx = (expected["lon"].to_numpy()[:, None] - found["lon"].to_numpy()[None]) * metres_lon
    return np.hypot(dx, dy).min(axis=1)


def _aoi_geojson(aoi_id: str, box: tuple[float, float, float, float]) -> dict:
    west, south, east, north = box
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    properties = {"role": "aoi", "id": aoi_id, "name": aoi_id, "country": "Test",
                  "locode": None, "reason": "A test area."}  # fmt: skip
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }


def test_reading_around_an_area_reads_its_window_and_margin(tmp_path, dn):
    from pyproj import Transformer

    safe = write_l2a_safe(tmp_path, dn)
    whole = read_raster(safe)
    to_lonlat = Transformer.from_crs("EPSG:32736", "EPSG:4326", always_xy=True)
    # A 200 m square 300 m from the left and 200 m from the top, with 50 m around it.
    x0, y0 = LEFT + 300, TOP - 200
    west, north = to_lonlat.transform(x0, y0)
    east, south = to_lonlat.transform(x0 + 200, y0 - 200)
    part = read_raster_around(safe, (west, south, east, north), margin_m=50.0)
    rows, cols = part.shape
    assert 29 <= rows <= 33 and 29 <= cols <= 33  # 300 m, and the grid's turn from north
    col0 = round((part.transform.c - LEFT) / 10.0)
    row0 = round((TOP - part.transform.f) / 10.0)
    assert 23 <= col0 <= 25 and 13 <= row0 <= 15
    np.testing.assert_array_equal(part.data, whole.data[:, row0 : row0 + rows, col0 : col0 + cols])
    # With a margin wider than the scene, the whole scene.
    assert read_raster_around(safe, (west, south, east, north)).shape == (ROWS, COLS)
    with pytest.raises(NoOverlapError, match="lies outside the scene"):
        read_raster_around(safe, (west + 1, south, east + 1, north))


@pytest.mark.skipif(not BUSAN.exists(), reason=f"real S2 sample missing: {BUSAN}")
def test_an_eo_browser_export_folder_with_its_scale(tmp_path):
    """Busan as EO Browser exported it: a folder of band GeoTIFFs at reflectance x 65535."""
    import geopandas as gpd

    from imagery.sensors import prepare_s2
    from imagery.vessels import detect_vessels

    expected = detect_vessels(load_benchmark("sen2ships").load_port(BUSAN))
    scale = f"{1 / 65535:.6e}"
    out = tmp_path / "scaled"
    args = ["vessels", str(BUSAN), "--sensor", "s2", "--s2-scale", scale, "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    found = gpd.read_file(out / "vessels.gpkg", layer="vessels")
    assert abs(len(found) - len(expected)) <= 1
    assert np.mean(_nearest_m(expected, found) < 20.0) > 0.95
    # Without --s2-scale the folder's numbers tell their scale: the same vessels.
    out = tmp_path / "unscaled"
    result = CliRunner().invoke(cli, ["vessels", str(BUSAN), "--sensor", "s2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    unscaled = gpd.read_file(out / "vessels.gpkg", layer="vessels")
    assert len(unscaled) == len(found)
    assert np.mean(_nearest_m(found, unscaled) < 1.0) == 1.0
    # Forced onto L2A's scale the same numbers are 6.55 times too bright: other vessels.
    out = tmp_path / "forced"
    args = ["vessels", str(BUSAN), "--sensor", "s2", "--s2-scale", "1e-4", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    forced = gpd.read_file(out / "vessels.gpkg", layer="vessels")
    assert np.mean(_nearest_m(expected, forced) < 20.0) < 0.9 or len(forced) != len(found)
    # Prepared reflectance passes through a second preparation unchanged (detect's path).
    once = prepare_s2(read_raster(BUSAN, sensor="s2"), scale=1 / 65535)
    np.testing.assert_array_equal(prepare_s2(once).data, once.data)
    bad = CliRunner().invoke(
        cli, ["vessels", str(BUSAN), "--sensor", "s1", "--s2-scale", scale, "--out", str(out)]
    )
    assert bad.exit_code == 2 and "--s2-scale is for Sentinel-2" in bad.output


@pytest.mark.skipif(not BUSAN.exists(), reason=f"real S2 sample missing: {BUSAN}")
def test_coregister_takes_band_folders(tmp_path):
    """Busan's bands cut twice, 3 pixels apart, as two folders of band files."""
    for band in ("B02", "B03", "B04", "B08"):
        with rasterio.open(BUSAN / f"{band}.tif") as ds:
            data, profile = ds.read(1), ds.profile
        for name, cut in (("ref", data[:600, :900]), ("mov", data[:600, 3:903])):
            (tmp_path / name).mkdir(exist_ok=True)
            with rasterio.open(
                tmp_path / name / f"{band}.tif", "w", **dict(profile, width=900, height=600)
            ) as out:
                out.write(cut, 1)
    args = [str(tmp_path / "ref"), str(tmp_path / "mov"), "--sensor", "s2"]
    result = CliRunner().invoke(
        cli, ["coregister", *args, "--out", str(tmp_path / "aligned.tif"), "--json"]
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.output[result.output.index("{") :])
    assert found["shift_x_px"] == pytest.approx(-3.0, abs=0.05)
    assert found["shift_y_px"] == pytest.approx(0.0, abs=0.05)
    aligned = read_raster(tmp_path / "aligned.tif")
    assert aligned.band_names[:4] == ("B02", "B03", "B04", "B08")


def test_a_whole_tile_without_an_aoi_goes_by_windows_or_is_refused_before_it_is_read(
    tmp_path, dn, monkeypatch
):
    import imagery.cli.detect as detect_cli

    safe = write_l2a_safe(tmp_path, dn)
    monkeypatch.setattr(detect_cli, "MAX_WHOLE_SCENE_PX", ROWS * COLS - 1)
    # vessels goes window by window (imagery.tiled.detect_vessels_file).
    import imagery.tiled

    calls = []
    original = imagery.tiled.detect_vessels_file

    def counted(*args, **kwargs):
        calls.append(kwargs.get("chunk_px"))
        return original(*args, **{**kwargs, "chunk_px": 32})

    monkeypatch.setattr(imagery.tiled, "detect_vessels_file", counted)
    result = CliRunner().invoke(
        cli, ["vessels", str(safe), "--sensor", "s2", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and (tmp_path / "out" / "vessels.gpkg").exists()
    # A pair or series: every scene is measured before any is read, and together.
    import imagery.io

    def no_read(*args, **kwargs):
        raise AssertionError("a scene was read")

    monkeypatch.setattr(imagery.io, "read_raster", no_read)
    monkeypatch.setattr(detect_cli, "MAX_WHOLE_SCENE_PX", ROWS * COLS)  # each fits alone
    three = [str(safe)] * 3
    result = CliRunner().invoke(
        cli, ["detect", *three, "--sensor", "s2", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2 and "Mpx in all" in result.output, result.output


def test_l2a_tiles_taken_out_of_their_safe_warn_of_the_lost_offset(tmp_path, dn, caplog):
    safe = write_l2a_safe(tmp_path / "unzipped", dn)
    with caplog.at_level("WARNING", logger="imagery.products"):
        read_raster(safe)
    assert "BOA_ADD_OFFSET" not in caplog.text  # the SAFE's MTD_MSIL2A.xml has it
    # The same JPEG 2000 bands copied out of the SAFE: a baseline 04.00 tile of 2023,
    # whose -1000 offset only MTD_MSIL2A.xml records.
    loose = tmp_path / "loose"
    loose.mkdir()
    for jp2 in safe.rglob("*_10m.jp2"):
        shutil.copy(jp2, loose / jp2.name)
    for jp2 in safe.rglob("*_B11_20m.jp2"):
        shutil.copy(jp2, loose / jp2.name)
    with caplog.at_level("WARNING", logger="imagery.products"):
        read_raster(loose)
    assert "BOA_ADD_OFFSET" in caplog.text and "read the .SAFE" in caplog.text
    assert "20230821" in caplog.text
