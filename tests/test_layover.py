"""S1 layover: ships are reported over their hulls, not where their echoes lie, when a
scene records its viewing geometry (look direction and incidence)."""

from __future__ import annotations

import dataclasses
import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from imagery.aoi import get_aoi
from imagery.detect import DetectParams, detect_pair
from imagery.errors import InputError
from imagery.grid import to_lonlat
from imagery.io import LOOK_AZIMUTH_TAG, read_raster, write_raster
from imagery.layover import (
    S1_IW_INCIDENCE_DEG,
    correct_layover,
    layover_offset_m,
    other_look,
    s1_look_azimuth,
)
from imagery.raster import Raster
from imagery.simulate import simulate_pair


def _scene(crs="EPSG:32652", origin=(500_000.0, 4_700_000.0), res=10.0, **viewing) -> Raster:
    return Raster(
        data=np.ones((1, 100, 100), dtype=np.float32),
        transform=from_origin(*origin, res, res),
        crs=crs,
        sensor="s1",
        band_names=("VV",),
        **viewing,
    )


def _ships(scene: Raster) -> gpd.GeoDataFrame:
    x0, y0 = scene.transform.c + 300.0, scene.transform.f - 400.0
    hull = box(x0, y0 - 20.0, x0 + 150.0, y0)
    lon, lat = to_lonlat([hull.centroid.x], [hull.centroid.y], scene.crs)
    return gpd.GeoDataFrame(
        {"x": [hull.centroid.x], "y": [hull.centroid.y], "lon": lon, "lat": lat},
        geometry=[hull],
        crs=scene.crs,
    )


def test_the_offset_is_the_height_over_the_tangent_of_the_incidence():
    assert layover_offset_m(10.0, 45.0) == pytest.approx(10.0)
    assert layover_offset_m(10.0, 30.0) == pytest.approx(10.0 * math.sqrt(3.0))
    with pytest.raises(ValueError, match="incidence"):
        layover_offset_m(10.0, 90.0)


def test_ships_move_away_from_the_sensor_along_the_look():
    # Ascending pass, right-looking: the radar looks east, the sensor lies west, echoes
    # lie over westwards, and the correction moves them east (10 m on the ground: UTM's
    # scale error makes it 9.996 m of map units here).
    scene = _scene(look_azimuth_deg=90.0, incidence_deg=45.0)
    ships = _ships(scene)
    moved = correct_layover(ships, scene, 10.0)
    assert moved.geometry.iloc[0].centroid.x - ships.geometry.iloc[0].centroid.x == pytest.approx(
        10.0, rel=1e-3
    )
    assert moved.geometry.iloc[0].centroid.y == pytest.approx(ships.geometry.iloc[0].centroid.y)
    assert moved["x"].iloc[0] - ships["x"].iloc[0] == pytest.approx(10.0, rel=1e-3)
    lon, _ = to_lonlat(moved["x"], moved["y"], scene.crs)
    assert (
        moved["lon"].iloc[0] == pytest.approx(lon[0])
        and moved["lon"].iloc[0] > ships["lon"].iloc[0]
    )
    # Descending: looking west, the correction moves them west; no incidence recorded:
    # the middle of the IW swath.
    west = correct_layover(ships, _scene(look_azimuth_deg=280.0), 10.0)
    shift = west.geometry.iloc[0].centroid.x - ships.geometry.iloc[0].centroid.x
    expected = layover_offset_m(10.0, S1_IW_INCIDENCE_DEG) * math.sin(math.radians(280.0))
    assert shift == pytest.approx(expected, rel=1e-3)
    assert ships.geometry.iloc[0].centroid.x == pytest.approx(ships["x"].iloc[0])  # not in place


def test_without_a_recorded_look_nothing_moves():
    scene = _scene()
    ships = _ships(scene)
    assert correct_layover(ships, scene, 10.0) is ships
    assert correct_layover(ships, _scene(look_azimuth_deg=90.0), 0.0) is ships


def test_a_web_mercator_scene_moves_by_ground_metres():
    # At 60 degrees north a Web Mercator unit is half a metre on the ground.
    y60 = 8_399_737.89
    scene = _scene(
        crs="EPSG:3857", origin=(1_000_000.0, y60), look_azimuth_deg=0.0, incidence_deg=45.0
    )
    ships = _ships(scene)
    moved = correct_layover(ships, scene, 10.0)
    dy = moved.geometry.iloc[0].centroid.y - ships.geometry.iloc[0].centroid.y
    assert dy == pytest.approx(20.0, rel=0.01)


def test_the_viewing_geometry_round_trips_through_a_geotiff(tmp_path):
    scene = _scene(look_azimuth_deg=281.5, incidence_deg=39.25)
    path = write_raster(scene, tmp_path / "s1.tif")
    back = read_raster(path)
    assert back.look_azimuth_deg == pytest.approx(281.5)
    assert back.incidence_deg == pytest.approx(39.25)
    assert read_raster(write_raster(_scene(), tmp_path / "plain.tif")).look_azimuth_deg is None
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.update_tags(**{LOOK_AZIMUTH_TAG: "east"})
    with pytest.raises(InputError, match=r"s1\.tif.*LOOK_AZIMUTH_DEG"):
        read_raster(path)


def test_a_bad_incidence_is_refused():
    with pytest.raises(InputError, match="incidence"):
        _scene(incidence_deg=95.0)


def _nearest_flag_m(ships, flags) -> np.ndarray:
    """Per true ship, the distance from its centre to the nearest flag's (m); NaN when
    none lies within 60 m."""
    if not len(flags):
        return np.full(len(ships), np.nan)
    centres = flags.geometry.centroid
    d = np.array([centres.distance(c).min() for c in ships.geometry.centroid])
    return np.where(d < 60.0, d, np.nan)


def test_pair_flags_lie_closer_to_the_hulls():
    # A simulated pair (its echoes are displaced by layover as the radar sees them):
    # the flag nearest each true new or departed ship lies nearer its centre with the
    # correction than without.
    sim = simulate_pair(get_aoi("vostochny"), sensor="s1", seed=313, size_px=512)
    truths = [sim.truth[0][sim.truth[0]["kind"] == "vessel"], sim.departed[0]]

    def distances(height_m: float) -> np.ndarray:
        params = DetectParams(
            min_score=0.0,
            vessel=dataclasses.replace(DetectParams().vessel, s1_layover_height_m=height_m),
        )
        result = detect_pair(sim.scenes[0], sim.scenes[1], sensor="s1", params=params)
        flags = [result.detections[result.detections["kind"] == "vessel"], result.departed]
        return np.concatenate(
            [_nearest_flag_m(truth, found) for found, truth in zip(flags, truths, strict=True)]
        )

    assert sim.scenes[0].look_azimuth_deg is not None
    without, with_ = distances(0.0), distances(10.0)
    both = np.isfinite(without) & np.isfinite(with_)
    assert both.sum() >= 3
    assert with_[both].mean() < without[both].mean() - 3.0, (without, with_)


def test_sentinel1_looks_right_of_its_ground_track():
    # Ascending passes head north-north-west and look east-north-east; descending ones
    # head south-south-west and look west-north-west; the track tilts further from the
    # meridian towards the poles.
    for lat in (0.0, 42.0, 60.0):
        ascending = s1_look_azimuth("ASCENDING", lat)
        descending = s1_look_azimuth("descending", lat)
        assert 60.0 < ascending < 80.0 and 280.0 < descending < 300.0
        assert ascending + descending == pytest.approx(360.0)
    assert s1_look_azimuth("ASCENDING", 60.0) < s1_look_azimuth("ASCENDING", 0.0)
    with pytest.raises(ValueError, match="orbit direction"):
        s1_look_azimuth("sideways", 0.0)


def test_the_vessels_command_places_ships_by_the_pass_direction(tmp_path):
    # A file that records no viewing geometry: ``--direction asc`` says the radar looked
    # east-north-east, and the ship at anchor is reported 13 m (10 m up at the middle
    # of the swath) that way from where its echoes lie.
    import json

    from click.testing import CliRunner
    from s1_scenes import june, speckled_s1

    from imagery.cli.main import cli

    mean = np.full((200, 200), 0.01)
    mean[95:99, 60:75] = 1.0  # 150 m x 40 m of bright hull
    path = write_raster(speckled_s1(mean, june(1), 3), tmp_path / "scene.tif")
    runner = CliRunner()

    def ships(*options: str) -> list[dict]:
        args = ["vessels", str(path), "--sensor", "s1", "--out", str(tmp_path / "out"), "--json"]
        result = runner.invoke(cli, [*args, *options])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    (plain,) = ships()
    (ascending,) = ships("--direction", "asc")
    expected = layover_offset_m(10.0, S1_IW_INCIDENCE_DEG)
    moved_m = math.hypot(
        (ascending["lon"] - plain["lon"]) * 111_320.0 * math.cos(math.radians(plain["lat"])),
        (ascending["lat"] - plain["lat"]) * 110_574.0,
    )
    assert moved_m == pytest.approx(expected, rel=0.02)
    assert ascending["lon"] > plain["lon"]


def test_a_look_of_almost_360_degrees_is_written_readably(tmp_path):
    back = read_raster(write_raster(_scene(look_azimuth_deg=-0.0004), tmp_path / "north.tif"))
    assert back.look_azimuth_deg == pytest.approx(0.0)


def test_a_stored_scene_without_a_look_gets_that_of_its_pass(tmp_path):
    # Scenes stored before the look was recorded carry the store's ORBIT_DIRECTION tag.
    path = write_raster(_scene(), tmp_path / "old.tif", tags={"ORBIT_DIRECTION": "DESCENDING"})
    assert 280.0 < read_raster(path).look_azimuth_deg < 290.0
    path = write_raster(_scene(incidence_deg=1.0), tmp_path / "flat.tif")
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.update_tags(INCIDENCE_DEG="0")
    with pytest.raises(InputError, match=r"flat\.tif.*INCIDENCE_DEG"):
        read_raster(path)


def test_each_date_s_flags_move_by_that_date_s_look():
    # A pair of an ascending and a descending pass: new vessels were seen on the after
    # date (looking west), departures on the before date (looking east).
    from imagery.flags.vessels import unlaid

    before = _scene(look_azimuth_deg=80.0, incidence_deg=45.0)
    after = _scene(look_azimuth_deg=280.0, incidence_deg=45.0)
    ships = _ships(before)
    arrived, left = unlaid([ships], [ships], before, after, DetectParams())
    x = ships.geometry.iloc[0].centroid.x
    assert arrived.geometry.iloc[0].centroid.x < x - 9.0
    assert left.geometry.iloc[0].centroid.x > x + 9.0


def test_series_flags_lie_closer_to_the_hulls():
    # As the pair test, over a series of three S1 dates (each step's truth).
    from imagery.series import detect_series
    from imagery.simulate import simulate_series

    sim = simulate_series(get_aoi("vostochny"), sensor="s1", seed=313, dates=3, size_px=384)

    def distances(height_m: float) -> np.ndarray:
        vessel = dataclasses.replace(DetectParams().vessel, s1_layover_height_m=height_m)
        result = detect_series(
            list(sim.scenes), sensor="s1", params=DetectParams(min_score=0.0, vessel=vessel)
        )
        out = []
        for step in (1, 2):
            truth = sim.truth[step - 1]
            layers = (
                (result.detections, truth[truth["kind"] == "vessel"]),
                (result.departed, sim.departed[step - 1]),
            )
            for found, ships in layers:
                found = found[(found["change_index"] == step) & (found["kind"] == "vessel")]
                out.append(_nearest_flag_m(ships, found))
        return np.concatenate(out)

    without, with_ = distances(0.0), distances(10.0)
    both = np.isfinite(without) & np.isfinite(with_)
    assert both.sum() >= 3
    assert with_[both].mean() < without[both].mean() - 3.0, (without, with_)


@pytest.mark.parametrize(
    ("looks", "warned"),
    [
        ((78.0, 282.0), True),  # ascending, then descending
        ((282.0, 78.0), True),
        ((350.0, 10.0), False),  # one side, across north
        ((78.0, 81.0), False),  # neighbouring orbits of one direction
        ((78.0, None), False),  # a file that does not record its look
        ((None, 282.0), False),
        ((78.0, 80.0, 280.0), True),  # a series: the third date is the other side's
        ((None, 78.0, 282.0), True),  # the first date records no look: the next one is
    ],
)
def test_passes_looking_from_other_sides_are_warned_of(looks, warned):
    names = [f"scene{i}.tif" for i in range(len(looks))]
    message = other_look(looks, names)
    assert (message is not None) == warned
    if warned:
        assert "relative orbit" in message and names[-1] in message


def test_a_pair_from_both_sides_says_so(caplog):
    sim = simulate_pair(get_aoi("vostochny"), sensor="s1", seed=313, size_px=256)
    before, after = sim.scenes
    assert before.look_azimuth_deg is not None
    flipped = after.replace(look_azimuth_deg=(before.look_azimuth_deg + 180.0) % 360.0)
    with caplog.at_level("WARNING", logger="imagery.layover"):
        detect_pair(before, after, sensor="s1", names=("a.tif", "b.tif"))
    assert not any("relative orbit" in r.getMessage() for r in caplog.records)
    with caplog.at_level("WARNING", logger="imagery.layover"):
        detect_pair(before, flipped, sensor="s1", names=("a.tif", "b.tif"))
    assert any(
        "b.tif looks from" in r.getMessage() and "relative orbit" in r.getMessage()
        for r in caplog.records
    )
