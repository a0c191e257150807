from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.windows import Window

from imagery.errors import EmptyRasterError, InputError, NoOverlapError, RasterIOError
from imagery.io import parse_time, raster_info, read_raster, write_raster
from imagery.raster import Raster


def test_raster_is_frozen_and_shaped(utm_raster):
    assert utm_raster.shape == (120, 150)
    assert utm_raster.count == 2
    assert utm_raster.res == (10.0, 10.0)
    assert utm_raster.bounds == (630000.0, 4678800.0, 631500.0, 4680000.0)
    with pytest.raises(AttributeError):
        utm_raster.nodata = 0  # type: ignore[misc]


def test_two_dimensional_data_gets_a_band_axis(utm_raster):
    r = Raster(utm_raster.data[0], utm_raster.transform, utm_raster.crs)
    assert r.data.shape == (1, 120, 150)


def test_band_names_must_match_count(utm_raster):
    with pytest.raises(InputError, match="band names"):
        utm_raster.replace(band_names=("VV",))


def test_band_access_by_name(utm_raster):
    np.testing.assert_array_equal(utm_raster.band("vh"), utm_raster.data[1])
    assert utm_raster.select(["VH"]).band_names == ("VH",)


def test_valid_mask_honours_nodata_and_nan(utm_raster):
    data = utm_raster.data.copy()
    data[0, 0, 0] = np.nan
    data[1, 5, 5] = -1
    mask = utm_raster.replace(data=data, nodata=-1).valid_mask()
    assert not mask[0, 0] and not mask[5, 5]
    assert mask.sum() == 120 * 150 - 2


@pytest.mark.parametrize("cog", [True, False])
def test_geotiff_round_trip(tmp_path, utm_raster, cog):
    path = write_raster(utm_raster, tmp_path / "scene.tif", cog=cog)
    back = read_raster(path)
    np.testing.assert_array_equal(back.data, utm_raster.data)
    assert back.transform == utm_raster.transform
    assert back.crs == utm_raster.crs
    assert back.time == utm_raster.time
    assert back.sensor == "s1"
    assert back.band_names == ("VV", "VH")
    with rasterio.open(path) as ds:
        assert ds.profile["tiled"]


def test_cog_layout_is_valid(tmp_path, utm_raster):
    big = utm_raster.replace(data=np.tile(utm_raster.data, (1, 5, 5)))
    path = write_raster(big, tmp_path / "cog.tif")
    with rasterio.open(path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.overviews(1), "a COG larger than one tile carries internal overviews"


def test_an_aoi_sized_cog_has_overviews_too(tmp_path, utm_raster):
    # 480 x 600 px fits in one or two 512 px blocks, where GDAL's AUTO builds none.
    aoi_sized = utm_raster.replace(data=np.tile(utm_raster.data, (1, 4, 4)))
    with rasterio.open(write_raster(aoi_sized, tmp_path / "cog.tif")) as ds:
        assert ds.overviews(1) == [2, 4]
    with rasterio.open(write_raster(aoi_sized, tmp_path / "bare.tif", overviews=False)) as ds:
        assert ds.overviews(1) == []


def test_windowed_read_has_window_transform(tmp_path, utm_raster):
    path = write_raster(utm_raster, tmp_path / "scene.tif")
    part = read_raster(path, window=Window(30, 20, 50, 40))
    np.testing.assert_array_equal(part.data, utm_raster.data[:, 20:60, 30:80])
    assert part.transform.c == 630000.0 + 300.0
    assert part.transform.f == 4680000.0 - 200.0


def test_read_by_bounds(tmp_path, utm_raster):
    path = write_raster(utm_raster, tmp_path / "scene.tif")
    part = read_raster(path, bounds=(630105.0, 4679500.0, 630400.0, 4679800.0))
    assert part.bounds[0] <= 630105.0 and part.bounds[2] >= 630400.0
    assert part.shape == (30, 30)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    col=st.integers(0, 149),
    row=st.integers(0, 119),
    width=st.integers(1, 80),
    height=st.integers(1, 80),
)
def test_any_window_matches_array_slice(tmp_path_factory, utm_raster, col, row, width, height):
    path = tmp_path_factory.getbasetemp() / "window-prop.tif"
    if not path.exists():
        write_raster(utm_raster, path)
    part = read_raster(path, window=Window(col, row, width, height))
    expected = utm_raster.data[:, row : row + height, col : col + width]
    np.testing.assert_array_equal(part.data, expected)
    x0, y0 = part.transform * (0, 0)
    assert (x0, y0) == utm_raster.transform * (col, row)


def test_window_outside_raster(tmp_path, utm_raster):
    path = write_raster(utm_raster, tmp_path / "scene.tif")
    with pytest.raises(NoOverlapError, match="outside"):
        read_raster(path, window=Window(500, 500, 10, 10))


def test_missing_file_names_it(tmp_path):
    with pytest.raises(RasterIOError, match=r"nope\.tif: no such file"):
        read_raster(tmp_path / "nope.tif")


def test_not_a_raster(tmp_path):
    bad = tmp_path / "notes.tif"
    bad.write_text("hello, not a tiff")
    with pytest.raises(RasterIOError, match="not a raster"):
        read_raster(bad)


def test_empty_file(tmp_path):
    bad = tmp_path / "empty.tif"
    bad.touch()
    with pytest.raises(EmptyRasterError, match="empty"):
        read_raster(bad)


def test_all_nodata(tmp_path, utm_raster):
    blank = utm_raster.replace(data=np.full_like(utm_raster.data, -9999.0), nodata=-9999.0)
    path = write_raster(blank, tmp_path / "blank.tif")
    with pytest.raises(EmptyRasterError, match="only nodata"):
        read_raster(path)
    assert read_raster(path, require_valid=False).count == 2


def test_failed_write_keeps_previous_file(tmp_path, utm_raster):
    path = write_raster(utm_raster, tmp_path / "keep.tif")
    before = path.read_bytes()
    with pytest.raises(RasterIOError, match=r"keep\.tif: cannot write"):
        write_raster(utm_raster, path, cog=False, compress="jpeg")  # JPEG cannot hold float32
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tif"]


def test_header_only(tmp_path, utm_raster):
    info = raster_info(write_raster(utm_raster, tmp_path / "scene.tif"))
    assert (info.width, info.height, info.count) == (150, 120, 2)
    assert info.band_names == ("VV", "VH")


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-05-01T02:03:04Z", "2024-05-01T02:03:04+00:00"),
        ("2024:05:01 02:03:04", "2024-05-01T02:03:04+00:00"),
        ("S1A_IW_GRDH_1SDV_20240501T020304_20240501T020329", "2024-05-01T02:03:04+00:00"),
        ("2024-05-01_S1A_ASC_127", "2024-05-01T00:00:00+00:00"),
        ("scene_20240501", "2024-05-01T00:00:00+00:00"),
    ],
)
def test_parse_time(text, iso):
    assert parse_time(text).isoformat() == iso


def test_parse_time_none():
    assert parse_time("before") is None


def test_to_xarray_round_trips_grid(utm_raster):
    da = utm_raster.to_xarray()
    assert da.dims == ("band", "y", "x")
    assert da.rio.crs == utm_raster.crs
    assert da.rio.transform() == utm_raster.transform
    assert list(da.band.values) == ["VV", "VH"]


def test_decimated_read_averages_blocks_and_scales_the_transform(tmp_path, utm_raster):
    uneven = read_raster(write_raster(utm_raster, tmp_path / "uneven.tif"), decimation=4)
    assert uneven.shape == (30, 38)
    assert uneven.transform.a == pytest.approx(10.0 * 150 / 38)
    even = dataclasses.replace(utm_raster, data=utm_raster.data[:, :, :148])
    path = write_raster(even, tmp_path / "scene.tif")
    coarse = read_raster(path, decimation=4)
    assert coarse.shape == (30, 37)
    assert (coarse.transform.a, coarse.transform.e) == (40.0, -40.0)
    assert (coarse.transform.c, coarse.transform.f) == (630000.0, 4680000.0)
    block = utm_raster.data[:, 4:8, 8:12].mean(axis=(1, 2))
    np.testing.assert_allclose(coarse.data[:, 1, 2], block, rtol=1e-5)
    assert coarse.band_names == ("VV", "VH")


def test_decimation_must_be_positive(tmp_path, utm_raster):
    path = write_raster(utm_raster, tmp_path / "scene.tif")
    with pytest.raises(InputError, match="decimation"):
        read_raster(path, decimation=0)


def test_a_window_is_the_file_s_window(tmp_path, utm_raster):
    """A cut in memory lies where rasterio reads the same window from the file."""
    path = write_raster(utm_raster, tmp_path / "scene.tif")
    cut = utm_raster.window(slice(20, 70), slice(-50, None))
    read = read_raster(path, window=Window(utm_raster.width - 50, 20, 50, 50))
    assert cut.transform == read.transform and cut.bounds == read.bounds
    np.testing.assert_array_equal(cut.data, read.data)
    with pytest.raises(ValueError, match="step 1"):
        utm_raster.window(slice(0, 10, 2), slice(None))
