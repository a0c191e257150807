"""Scenes on a geographic grid (EPSG:4326) are warped onto UTM before anything is measured."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from s1_scenes import june, speckled_s1
from scipy import ndimage

from imagery.detect import detect_pair
from imagery.errors import InputError
from imagery.grid import to_lonlat
from imagery.io import read_raster, write_raster
from imagery.raster import Raster
from imagery.reproject import needs_metric_grid, to_metric, utm_crs_for, warp_to
from imagery.sensors import prepare
from imagery.tiled import detect_pair_files
from imagery.vessels import detect_vessels

SIZE = 320
SHIP = (slice(150, 166), slice(60, 63))  # 160 m x 30 m at anchor, north-south


def _means(ship: bool) -> np.ndarray:
    texture = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=(SIZE, SIZE)), 3.0)
    mean = np.full((SIZE, SIZE), 0.01, dtype=np.float32)
    land = np.s_[:, SIZE // 2 :]
    mean[land] = 0.1 * np.exp(texture[land] * 4.0)
    if ship:
        mean[SHIP] = 2.0
    return mean


def _geographic(scene: Raster) -> Raster:
    """``scene`` warped onto EPSG:4326 at about its own pixel size."""
    return warp_to(scene, "EPSG:4326")


def _ship_lonlat(scene: Raster) -> tuple[float, float]:
    lon, lat = to_lonlat(*(scene.transform * (61.5, 158.0)), scene.crs)
    return float(lon), float(lat)


@pytest.fixture(scope="module")
def scenes():
    before = speckled_s1(_means(False), june(1), 1)
    after = speckled_s1(_means(True), june(13), 2)
    return before, after


def test_a_projected_scene_passes_untouched(scenes):
    before, _ = scenes
    assert to_metric(before) is before


def test_the_utm_zone_is_the_centres():
    assert utm_crs_for(130.6, 42.3).to_epsg() == 32652
    assert utm_crs_for(31.0, -29.9).to_epsg() == 32736


def test_a_geographic_scene_is_warped_onto_square_metres(scenes):
    _, after = scenes
    prepared = prepare(_geographic(after), "s1")
    assert prepared.crs.to_epsg() == 32652
    assert prepared.res[0] == prepared.res[1]
    assert 8.5 <= prepared.res[0] <= 10.0  # the finer ground side of 0.0001 degree at 42 N
    assert np.isnan(prepared.data).any() and np.isfinite(prepared.data).mean() > 0.8


def test_vessels_and_new_vessels_on_geographic_files(scenes, tmp_path):
    before, after = scenes
    paths = []
    for name, scene in (("before", before), ("after", after)):
        path = tmp_path / f"{name}.tif"
        write_raster(_geographic(scene), path)
        paths.append(str(path))
    lon, lat = _ship_lonlat(after)

    found = detect_vessels(prepare(read_raster(paths[1]), "s1"))
    ship = _nearest(found, lon, lat)
    assert 120 <= ship.length_m <= 200, "sizes are in metres on the ground"
    assert _metres_apart(ship, lon, lat) < 20

    result = detect_pair(read_raster(paths[0]), read_raster(paths[1]), sensor="s1")
    new = result.detections[result.detections["kind"] == "vessel"]
    assert _metres_apart(_nearest(new, lon, lat), lon, lat) < 20
    assert result.detections.crs.to_epsg() == 32652


def _nearest(frame, lon: float, lat: float):
    assert len(frame), "nothing found"
    return frame.iloc[int(np.argmin(np.hypot(frame["lon"] - lon, frame["lat"] - lat)))]


def _metres_apart(row, lon: float, lat: float) -> float:
    from pyproj import Geod

    return Geod(ellps="WGS84").inv(row.lon, row.lat, lon, lat)[2]


def test_tiles_refuse_a_geographic_file_by_name(scenes, tmp_path):
    before, after = scenes
    write_raster(_geographic(before), tmp_path / "before.tif")
    write_raster(after, tmp_path / "after.tif")
    with pytest.raises(InputError, match=r"before\.tif.*not a metre"):
        detect_pair_files(tmp_path / "before.tif", tmp_path / "after.tif", sensor="s1")


def test_web_mercator_is_warped_for_pairs_and_kept_for_single_scenes():
    # 10 Web Mercator units at 42.25 N are 10 cos(42.25) = 7.40 m on the ground.
    from rasterio.transform import from_origin

    mercator = Raster(
        data=np.ones((1, 100, 100), dtype=np.float32),
        transform=from_origin(14_537_000.0, 5_200_000.0, 10.0, 10.0),
        crs="EPSG:3857",
    )
    assert mercator.pixel_m == pytest.approx(7.40, abs=0.02)
    # Pairs compare centres and buffers in map units: they need metres.
    assert needs_metric_grid(mercator.transform, mercator.crs, mercator.shape)
    warped = to_metric(mercator)
    assert warped.crs.to_epsg() == 32652 and warped.res[0] == pytest.approx(7.4, abs=0.05)
    # Single-scene vessels measure every size on the ground: square pixels are kept.
    assert to_metric(mercator, mode="square") is mercator
    assert to_metric(mercator, mode="native") is mercator
    utm = speckled_s1(np.ones((50, 50), dtype=np.float32), june(1), 0)
    assert utm.pixel_m == 10.0, "UTM's scale error is not a different pixel"
    assert to_metric(utm) is utm
    geographic = _geographic(utm)
    assert needs_metric_grid(geographic.transform, geographic.crs, geographic.shape, "square")
    with pytest.raises(InputError, match="grid mode"):
        to_metric(utm, mode="utm")


def test_a_warped_scene_keeps_its_time_sensor_bands_and_numeric_nodata(scenes):
    _, after = scenes
    data = np.where(np.isnan(after.data), -9999.0, after.data).astype(np.float32)
    data[:, :5, :5] = -9999.0
    numeric = after.replace(data=data, nodata=-9999.0)
    warped = to_metric(_geographic(numeric).replace(nodata=-9999.0))
    assert (warped.time, warped.sensor, warped.band_names) == (after.time, "s1", ("VV", "VH"))
    assert not (warped.data == -9999.0).any()


def test_the_coregistration_water_mask_stays_on_a_geographic_files_grid(scenes, tmp_path):
    from imagery.water import water_mask_file

    before, _ = scenes
    path = tmp_path / "before.tif"
    write_raster(_geographic(before), path)
    with rasterio.open(path) as src:
        shape = (src.height, src.width)
    water = water_mask_file(path, sensor="s1")
    assert water.shape == shape
    assert 0.3 < water.mean() < 0.7  # the western half is sea
