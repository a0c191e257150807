"""Water masks: NDWI with a near-infrared check (S2), dark smoothed backscatter (S1),
holes, specks and the analyst's polygon."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin
from s1_scenes import anchorage, june, speckled_s1
from scipy import ndimage
from shapely.geometry import box

from imagery.aoi import AOI
from imagery.errors import InputError
from imagery.io import write_raster
from imagery.raster import Raster
from imagery.vessels import detect_vessels
from imagery.water import (
    MAX_VESSEL_AREA_M2,
    MIN_ENCLOSED_WATER_M2,
    WaterSplit,
    fill_small_holes,
    ndwi,
    rasterize_water,
    series_water,
    water_mask,
    water_mask_file,
    water_split,
    water_split_file,
)

#: Surface reflectance B02 B03 B04 B08.
CLEAR_WATER = (0.05, 0.045, 0.025, 0.012)
HAZY_WATER = (0.075, 0.075, 0.065, 0.065)  # NDWI about 0.07: haze over water (Busan)
LAND = (0.10, 0.11, 0.13, 0.25)
BLUE_ROOF = (0.30, 0.26, 0.12, 0.24)  # NDWI about 0.04 but bright in the infrared
SHIP = (0.09, 0.10, 0.10, 0.14)


def s2(reflectance: np.ndarray, *, seed: int = 0, scl: np.ndarray | None = None) -> Raster:
    rng = np.random.default_rng(seed)
    data = np.clip(reflectance + rng.normal(0.0, 0.003, reflectance.shape), 0.0, None)
    names = ("B02", "B03", "B04", "B08")
    if scl is not None:
        data = np.concatenate([data, scl[None]])
        names = (*names, "SCL")
    return Raster(
        data=data.astype(np.float32),
        transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=float("nan"),
        time=datetime(2024, 5, 1, tzinfo=UTC),
        sensor="s2",
        band_names=names,
    )


def port(water: tuple, size: int = 200) -> tuple[np.ndarray, dict[str, tuple[slice, slice]]]:
    """Land in the west third, water elsewhere, with a roof, a ship and a pond."""
    parts = {
        "roof": (slice(60, 90), slice(10, 40)),  # 300 m x 300 m of blue roofs on land
        "ship": (slice(120, 123), slice(120, 135)),  # 150 m x 30 m at anchor
        "pond": (slice(20, 24), slice(10, 14)),  # 1 600 m2 of water inland
    }
    reflectance = np.empty((4, size, size), dtype=np.float32)
    reflectance[:] = np.array(water, dtype=np.float32)[:, None, None]
    reflectance[:, :, : size // 3] = np.array(LAND, dtype=np.float32)[:, None, None]
    reflectance[(slice(None), *parts["roof"])] = np.array(BLUE_ROOF, dtype=np.float32)[
        :, None, None
    ]
    reflectance[(slice(None), *parts["ship"])] = np.array(SHIP, dtype=np.float32)[:, None, None]
    reflectance[(slice(None), *parts["pond"])] = np.array(CLEAR_WATER, dtype=np.float32)[
        :, None, None
    ]
    return reflectance, parts


@pytest.mark.parametrize("water", [CLEAR_WATER, HAZY_WATER], ids=["clear", "hazy"])
def test_s2_water_is_found_and_land_is_not(water):
    reflectance, parts = port(water)
    mask = water_mask(s2(reflectance))
    assert mask[:, 80:].mean() > 0.99
    assert not mask[:, :60].any()  # the land, the blue roofs and the inland pond
    assert mask[parts["ship"]].all()  # a ship at anchor is a hole the sea keeps


def test_s2_blue_roofs_are_not_water_however_their_ndwi():
    reflectance, parts = port(HAZY_WATER)
    index = ndwi(reflectance[1], reflectance[3])
    # In haze the water's NDWI is barely above the roofs': NDWI alone cannot tell them.
    assert index[parts["roof"]].mean() > 0.0
    assert index[parts["roof"]].mean() > index[150, 150] - 0.1
    assert not water_mask(s2(reflectance))[parts["roof"]].any()


def test_s2_cloud_takes_the_class_around_it():
    reflectance, _ = port(CLEAR_WATER)
    reflectance[:, 140:170, 150:190] = 0.5  # a thick cloud over the sea
    scl = np.full(reflectance.shape[1:], 6, dtype=np.float32)
    scl[:, :66] = 5
    scl[140:170, 150:190] = 9
    mask = water_mask(s2(reflectance, scl=scl))
    assert mask[140:170, 150:190].mean() > 0.95


def test_ndwi_is_nan_where_undefined():
    green = np.array([0.1, 0.0, 0.2], dtype=np.float32)
    nir = np.array([0.3, 0.0, 0.0], dtype=np.float32)
    out = ndwi(green, nir)
    assert out[0] == pytest.approx(-0.5) and np.isnan(out[1]) and out[2] == pytest.approx(1.0)


def s1_vv(mean: np.ndarray, *, seed: int) -> Raster:
    """A speckled (ENL 4.4) single-VV scene of the given mean backscatter."""
    vv = mean * np.random.default_rng(seed).gamma(4.4, 1 / 4.4, mean.shape)
    return Raster(
        data=vv[None].astype(np.float32),
        transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        sensor="s1",
        band_names=("VV",),
    )


def test_s1_dark_sea_is_water_and_speckled_land_is_not():
    mean = np.full((200, 200), 0.01, dtype=np.float32)
    mean[:, :70] = 0.12
    raster = s1_vv(mean, seed=4)
    mask = water_mask(raster)
    assert mask[:, 80:].mean() > 0.99 and not mask[:, :60].any()


#: Linear VV sigma0: land, calm sea, a paved yard (-19 dB, as dark as the sea), a stack.
S1_LAND, S1_SEA, S1_PAVEMENT, S1_STACK = 0.12, 0.01, 0.012, 1.5


def paved_port() -> tuple[np.ndarray, dict[str, tuple[slice, slice]]]:
    """3 km square, sea in the east; inland a paved yard with a stack on it, a lake,
    pavement at the west edge and pavement by a strip without data."""
    parts = {
        "yard": (slice(100, 130), slice(60, 80)),  # 300 m x 200 m
        "stack": (slice(110, 118), slice(68, 70)),  # 80 m x 20 m
        "lake": (slice(200, 260), slice(60, 120)),  # 600 m x 600 m
        "west": (slice(30, 60), slice(0, 20)),  # on the raster's edge
        "by_nodata": (slice(270, 290), slice(150, 180)),  # beside rows without data
    }
    mean = np.full((300, 300), S1_LAND, dtype=np.float32)
    mean[:, 200:] = S1_SEA
    for name, value in (("yard", S1_PAVEMENT), ("stack", S1_STACK), ("lake", S1_SEA)):
        mean[parts[name]] = value
    mean[parts["west"]] = S1_PAVEMENT
    mean[parts["by_nodata"]] = S1_PAVEMENT
    return mean, parts


def test_s1_enclosed_pavement_is_not_water_but_a_lake_and_open_patches_are():
    mean, parts = paved_port()
    raster = s1_vv(mean, seed=5)
    raster.data[:, 290:, :] = np.nan
    mask = water_mask(raster)
    assert (300 * 200) < MIN_ENCLOSED_WATER_M2 <= (600 * 600)
    assert not mask[parts["yard"]].any()
    assert mask[203:257, 63:117].all()  # the lake, but for its mixed rim
    # Dark patches open to the edge of the data may be the sea going on beyond it.
    assert mask[35:55, 2:15].all()
    assert mask[272:288, 155:175].all()
    assert mask[:285, 210:].mean() > 0.99


def test_s1_a_stack_on_a_paved_yard_is_not_a_vessel(monkeypatch):
    mean, parts = paved_port()
    scene = speckled_s1(mean, june(1), seed=3)
    assert detect_vessels(scene).empty
    # Without the rule the yard is "water" and its stack a ship at anchor.
    monkeypatch.setattr("imagery.water.MIN_ENCLOSED_WATER_M2", 0.0)
    found = detect_vessels(scene)
    assert len(found) == 1
    col, row = ~scene.transform * (found["x"].iloc[0], found["y"].iloc[0])
    assert parts["stack"][0].start <= row <= parts["stack"][0].stop
    assert parts["stack"][1].start - 1 <= col <= parts["stack"][1].stop + 1


def basin_behind_a_channel(width_px: int, *, ship: bool) -> np.ndarray:
    """A 300 m x 300 m basin (0.09 km2) joined to the sea in the east by a 700 m
    channel ``width_px`` wide; with ``ship``, a 150 m x 30 m ship in the channel."""
    mean = np.full((300, 300), S1_LAND, dtype=np.float32)
    mean[:, 200:] = S1_SEA
    mean[120:150, 100:130] = S1_SEA
    top = 135 - width_px // 2
    mean[top : top + width_px, 130:200] = S1_SEA
    if ship:
        mean[134:137, 158:173] = S1_STACK
    return mean


BASIN = (slice(123, 147), slice(103, 127))


@pytest.mark.parametrize("width_px", [4, 8, 12])
def test_s1_a_basin_behind_a_narrow_channel_stays_water(width_px):
    # The 50 m smoothing closes a 40 m channel; the path of dark pixels along it does not.
    for seed in range(3):
        raster = s1_vv(basin_behind_a_channel(width_px, ship=False), seed=seed)
        assert water_mask(raster)[BASIN].mean() > 0.95


def test_s1_a_ship_in_the_entrance_on_one_date_keeps_the_basin_for_the_pair():
    scenes = [
        s1_vv(basin_behind_a_channel(4, ship=ship), seed=seed)
        for ship, seed in ((False, 10), (True, 11))
    ]
    # The date with the ship alone closes the basin; the pair's water keeps it.
    assert water_mask(scenes[1])[BASIN].mean() < 0.05
    waters = [water_mask(s, enclosed=False) for s in scenes]
    assert all(w[BASIN].mean() > 0.95 for w in waters)
    assert series_water(scenes, waters)[BASIN].mean() > 0.9


def test_s1_missing_pixels_inside_a_yard_do_not_open_it():
    mean, parts = paved_port()
    raster = s1_vv(mean, seed=5)
    raster.data[0, 115, 65] = np.nan  # a dropout inside the yard
    assert not water_mask(raster)[parts["yard"]].any()


def test_masks_for_co_registration_keep_enclosed_water():
    mean, parts = paved_port()
    raster = s1_vv(mean, seed=5)
    assert water_mask(raster, enclosed=False)[105:125, 62:78].all()
    assert not water_mask(raster)[parts["yard"]].any()


def test_s2_water_is_not_judged_as_pavement():
    # NDWI does not take pavement for water: a pond inland is water (here 0.09 km2).
    reflectance, _ = port(CLEAR_WATER)
    reflectance[:, 120:150, 10:40] = np.array(CLEAR_WATER, dtype=np.float32)[:, None, None]
    assert water_mask(s2(reflectance))[123:147, 13:37].all()


def test_s1_a_large_ship_at_anchor_is_a_hole_the_sea_keeps(monkeypatch):
    # A 280 m x 40 m hull, its echo blurred at S1's 20 m resolution, far out on a windy
    # sea: the mask leaves a hole about 40 000 m2 around it, more than its footprint.
    mean = np.full((400, 400), 0.02, dtype=np.float32)
    mean[:, :60] = S1_LAND
    hull = np.zeros_like(mean)
    hull[200:204, 200:228] = 1.0
    mean += 30.0 * ndimage.gaussian_filter(hull, 1.2)
    scene = speckled_s1(mean, june(1), seed=0)
    assert water_mask(scene)[195:209, 195:233].all()
    found = detect_vessels(scene)
    assert len(found) == 1 and 250.0 < found["length_m"].iloc[0] < 310.0
    # Holes only up to the largest footprint (the old limit): the ship was an island.
    monkeypatch.setattr("imagery.water.S1_VESSEL_HOLE_M2", MAX_VESSEL_AREA_M2)
    assert not water_mask(scene)[201:203, 205:223].any()
    assert detect_vessels(scene).empty


def test_s2_land_enclosed_by_water_beyond_a_footprint_stays_land():
    # A detached jetty head of 37 000 m2: more than the largest footprint, so not a hull's
    # hole in an S2 mask (S1's widened limit would swallow it).
    reflectance, _ = port(CLEAR_WATER)
    reflectance[:, 150:160, 100:137] = np.array(LAND, dtype=np.float32)[:, None, None]
    assert MAX_VESSEL_AREA_M2 < 100 * 10 * 37
    assert not water_mask(s2(reflectance))[152:158, 102:135].any()


def test_fill_small_holes_fills_vessel_sized_holes_only():
    mask = np.ones((100, 100), dtype=bool)
    mask[10:13, 10:25] = False  # 45 px
    mask[50:90, 50:90] = False  # 1600 px
    filled = fill_small_holes(mask, max_area_px=MAX_VESSEL_AREA_M2 / 100.0)
    assert filled[10:13, 10:25].all() and not filled[50:90, 50:90].any()


def test_analyst_water_polygon_beats_the_classifier():
    reflectance, _ = port(CLEAR_WATER)
    raster = s2(reflectance)
    left, bottom, right, top = raster.bounds
    # The east half of the raster, in lon/lat as the catalogue holds it: the classifier
    # would call the middle third water, the analyst says it is not.
    project = Transformer.from_crs(raster.crs, "EPSG:4326", always_xy=True).transform

    def to_lonlat(geometry):
        return shapely.transform(geometry, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1])))

    east_half = box((left + right) / 2, bottom - 100, right + 100, top + 100)
    aoi = AOI(
        id="test",
        name="Test",
        country="XX",
        locode=None,
        reason="a test",
        geometry=to_lonlat(box(left, bottom, right, top)),
        water=to_lonlat(east_half.segmentize(10.0)),
    )
    mask = water_mask(raster, aoi=aoi)
    assert mask[:, 101:].all() and not mask[:, :99].any()


def test_rasterize_water_of_nothing_is_dry():
    reflectance, _ = port(CLEAR_WATER)
    raster = s2(reflectance)
    assert not rasterize_water(None, raster).any()
    left, bottom, right, top = raster.bounds
    assert rasterize_water(box(left, bottom, right, top), raster).all()


def test_water_mask_needs_a_prepared_raster():
    reflectance, _ = port(CLEAR_WATER)
    with pytest.raises(InputError, match="prepared s1 or s2"):
        water_mask(s2(reflectance).replace(sensor=None))


def test_water_of_a_whole_file_matches_the_full_resolution_mask(tmp_path):
    mean = np.full((400, 400), 0.01, dtype=np.float32)
    mean[:, :150] = 0.12
    mean[180:186, 250:280] = 2.0  # a ship at anchor does not punch a hole
    raster = s1_vv(mean, seed=5)
    path = write_raster(raster, tmp_path / "scene.tif")
    mask = water_mask_file(path, sensor="s1")
    assert mask.shape == (400, 400) and mask.dtype == bool
    assert (mask == water_mask(raster)).mean() > 0.98
    assert mask[:, 160:].all() and not mask[:, :140].any()


def land_with_dark_fields() -> Raster:
    """6 km x 3 km: built-up land (-7 dB) with fields as dark as a windy sea (-15 dB) in
    the west, the sea (-22 dB) in the east."""
    mean = np.full((300, 600), 10**-2.2, dtype=np.float32)
    mean[:, :400] = 10**-0.7
    mean[:, 100:250] = 10**-1.5
    return s1_vv(mean, seed=3)


def test_a_window_of_land_is_split_as_its_scene():
    scene = land_with_dark_fields()
    split = water_split(scene)
    assert split.sensor == "s1" and -21.0 < split.threshold < -16.0
    window = scene.replace(data=scene.data[:, :, :300])  # all land
    # Its own histogram has no water: the split falls between the two kinds of land,
    # and the fields, which touch the window's edge, would be open water.
    assert water_mask(window)[:, 150:200].mean() > 0.9
    assert not water_mask(window, split=split).any()
    assert not water_mask(scene)[:, :300].any()


def test_a_split_of_another_sensor_is_refused():
    with pytest.raises(InputError, match="s2 water split"):
        water_mask(land_with_dark_fields(), split=WaterSplit("s2", 0.1, 0.05))


def test_the_split_of_a_file_read_window_by_window_is_the_scene_s(tmp_path):
    scene = land_with_dark_fields()
    path = write_raster(scene, tmp_path / "s1.tif")
    split = water_split_file(path, sensor="s1", chunk_px=64)
    assert split.sensor == "s1"
    assert split.threshold == pytest.approx(water_split(scene).threshold, abs=1e-6)
    reflectance, _ = port(HAZY_WATER, size=240)
    scl = np.full(reflectance.shape[1:], 6, dtype=np.float32)
    scl[:, :80] = 5
    scl[150:190, 150:200] = 9
    reflectance[:, 150:190, 150:200] = 0.5  # a cloud over the sea, outside the sample
    optical = s2(reflectance, scl=scl)
    path = write_raster(optical, tmp_path / "s2.tif")
    split = water_split_file(path, sensor="s2", chunk_px=50)
    expected = water_split(optical)
    assert split.threshold == pytest.approx(expected.threshold, abs=1e-6)
    assert split.nir_ceiling == pytest.approx(expected.nir_ceiling, abs=1e-6)
    assert split.nir_ceiling == pytest.approx(HAZY_WATER[3] + 0.05, abs=0.005)
    # From an even sample, a split anywhere in the empty valley between the classes:
    # the same water.
    sampled = water_split_file(path, sensor="s2", samples=5000, chunk_px=50)
    assert sampled != expected
    assert (water_mask(optical, split=sampled) == water_mask(optical)).mean() > 0.999


def test_the_sample_is_even_whatever_the_windows(tmp_path):
    # Stripes of land and sea 32 px wide: a sample of every 64th pixel restarting in
    # each 64 px window saw only land. The lattice is the file's, not the window's.
    mean = np.full((256, 256), 10**-2.2, dtype=np.float32)
    mean[:, (np.arange(256) // 32) % 2 == 0] = 10**-0.7
    scene = s1_vv(mean, seed=2)
    path = write_raster(scene, tmp_path / "stripes.tif")
    splits = {
        water_split_file(path, sensor="s1", chunk_px=chunk, samples=1024)
        for chunk in (64, 100, 256)
    }
    assert len(splits) == 1
    assert splits.pop().threshold == pytest.approx(water_split(scene).threshold, abs=1.0)


def windy_port(*, seed: int = 5, ship: bool = False) -> Raster:
    """6 km x 3 km, dual-pol: land in the west (built-up, VV -6 dB / VH -13 dB, and
    grass, -11 / -18 dB) and a sea under a 10 m/s wind in the east (VV -9 dB, about
    CMOD5's at 35 degrees, as bright as the land; VH -24 dB, Sentinel-1's noise floor),
    with a 150 m x 30 m ship (+3 dB VV) at anchor when ``ship``."""
    vv = np.full((300, 600), 10**-0.9, dtype=np.float32)
    vh = np.full((300, 600), 10**-2.4, dtype=np.float32)
    vv[:, :250], vh[:, :250] = 10**-0.6, 10**-1.3
    vv[:, 100:200], vh[:, 100:200] = 10**-1.1, 10**-1.8
    if ship:
        vv[150:153, 400:415], vh[150:153, 400:415] = 10**0.3, 10**-0.8
    rng = np.random.default_rng(seed)
    speckle = rng.gamma(4.4, 1 / 4.4, (2, *vv.shape))
    return Raster(
        data=(np.stack([vv, vh]) * speckle).astype(np.float32),
        transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        sensor="s1",
        band_names=("VV", "VH"),
    )


def test_a_windy_sea_as_bright_as_land_in_vv_is_split_in_vh():
    scene = windy_port()
    split = water_split(scene)
    assert split.band == "VH" and -23.0 < split.threshold < -18.0
    mask = water_mask(scene)
    assert mask[:, 260:].mean() > 0.99 and mask[:, :240].mean() < 0.01
    # VV alone has no water class: the sea is land, as before VH was consulted.
    vv_only = scene.select(["VV"])
    assert water_split(vv_only).band == "VV"
    assert water_mask(vv_only)[:, 260:].mean() < 0.05
    with pytest.raises(InputError, match="split of VH"):
        water_mask(vv_only, split=split)


def test_a_ship_on_a_windy_sea_is_found():
    found = detect_vessels(windy_port(ship=True))
    assert len(found) == 1
    assert 100.0 < found.length_m.iloc[0] < 220.0


def test_the_split_of_a_windy_file_is_the_scene_s(tmp_path):
    scene = windy_port()
    path = write_raster(scene, tmp_path / "windy.tif")
    split = water_split_file(path, sensor="s1", chunk_px=128)
    assert split.band == "VH"
    assert split.threshold == pytest.approx(water_split(scene).threshold, abs=1e-6)
    coarse = water_mask_file(path, sensor="s1")
    assert coarse[:, 270:].mean() > 0.99 and coarse[:, :230].mean() < 0.01


def test_a_windy_sea_with_a_strip_of_land_is_water():
    # VH's two-class split (about -18.6 dB, between the sea's -24 and the land's -13)
    # lies just past its -19 dB bound; the split inside the sea's noise that won instead
    # separated nothing, and VV's fallback kept the sea land.
    scene = windy_port()
    data = scene.data.copy()
    data[:, :, 30:250] = windy_port(seed=9).data[:, :, 300:520]  # land only in the west 5 %
    scene = scene.replace(data=data)
    assert water_split(scene).band == "VH"
    assert water_mask(scene)[:, 40:].mean() > 0.99


def test_a_windy_file_with_vh_undescribed_is_split_as_the_detection_reads_it(tmp_path):
    scene = windy_port()
    path = write_raster(scene.replace(band_names=("VV", "")), tmp_path / "vv-and-unnamed.tif")
    # The detection reads the unnamed second band as VH; so must the file's split.
    assert water_split_file(path, sensor="s1").band == "VH"
    assert water_mask_file(path, sensor="s1")[:, 270:].mean() > 0.99


def test_a_file_whose_vh_is_missing_is_split_in_vv(tmp_path):
    scene = land_with_dark_fields()
    vh = np.full(scene.shape, np.nan, dtype=np.float32)
    vh[:, 500:] = scene.data[0, :, 500:] * 0.2
    both = scene.replace(data=np.stack([scene.data[0], vh]), band_names=("VV", "VH"))
    path = write_raster(both, tmp_path / "vh-partly-missing.tif")
    # Read together with VV, the missing VH used to empty every window (the split fell
    # back to -15 dB unread) and the co-registration mask failed outright.
    split = water_split_file(path, sensor="s1", chunk_px=128)
    assert split.band == "VV"
    assert split.threshold == pytest.approx(water_split(scene).threshold, abs=1e-6)
    assert water_mask_file(path, sensor="s1")[:, 420:].mean() > 0.99


def test_rough_bare_fields_dark_in_vh_are_not_a_windy_sea():
    # Rough bare soil: VV -9 dB like a windy sea, VH -20 dB, 11 dB under it, beside
    # built-up land. VH's split, tried at its -19 dB bound, took the fields for water;
    # their VH is no noise floor.
    vv = np.full((300, 600), 10**-0.9, dtype=np.float32)
    vh = np.full((300, 600), 10**-2.0, dtype=np.float32)
    vv[:, :180], vh[:, :180] = 10**-0.5, 10**-1.2
    speckle = np.random.default_rng(8).gamma(4.4, 1 / 4.4, (2, *vv.shape))
    scene = windy_port().replace(data=(np.stack([vv, vh]) * speckle).astype(np.float32))
    assert water_split(scene).band == "VV"
    assert not water_mask(scene).any()


def test_a_series_of_a_calm_and_a_windy_pass_keeps_the_land_dry():
    calm = windy_port()
    data = calm.data.copy()
    data[0, :, 250:] *= 10**-1.0  # the same sea, calm: VV -19 dB
    calm = calm.replace(data=data)
    windy = windy_port(seed=6)
    scenes = [calm, windy]
    waters = [water_mask(s, enclosed=False) for s in scenes]
    assert [water_split(s).band for s in scenes] == ["VV", "VH"]
    water = series_water(scenes, waters)
    assert water[:, 260:].mean() > 0.99 and water[:, :240].mean() < 0.01


def test_the_split_of_a_file_reads_its_vv_band_by_name(tmp_path):
    scene = land_with_dark_fields()
    vh = scene.data[0] * 0.2 * np.random.default_rng(7).gamma(4.4, 1 / 4.4, scene.shape)
    both = scene.replace(
        data=np.stack([vh, scene.data[0]]).astype(np.float32),
        band_names=("Sigma0_VH", "Sigma0_VV"),
    )
    path = write_raster(both, tmp_path / "vh-vv.tif")
    assert water_split_file(path, sensor="s1").threshold == pytest.approx(
        water_split(scene).threshold, abs=1e-6
    )
    assert (
        water_mask_file(path, sensor="s1")
        == water_mask_file(write_raster(scene, tmp_path / "vv.tif"), sensor="s1")
    ).all()


def test_a_scene_of_sea_alone_is_water_and_its_ships_are_found():
    """Otsu's split parts any histogram, a sea's alone too: it used to call half an
    anchorage land (its ships there never searched). One surface is the sea by its VH."""
    scene = anchorage()
    assert water_mask(scene).mean() > 0.97
    assert len(detect_vessels(scene)) == 3
    # Without VH, a scene darker than -15 dB throughout is water.
    assert water_mask(anchorage(vh_db=None)).mean() > 0.97


def test_vv_alone_keeps_its_split_on_one_surface_it_cannot_name():
    # A breezy sea at -13 dB and fields alike in VV: without VH nothing tells them apart,
    # and VV's own split stands (neither all water nor all land).
    share = water_mask(anchorage(vv_db=-13.0, vh_db=None)).mean()
    assert 0.1 < share < 0.9


def breezy_port(*, vh_cover: float = 1.0, seed: int = 1) -> tuple[Raster, np.ndarray]:
    """A breezy sea (VV -15 dB, VH at the -25 dB noise floor) over the west 45 %, fields
    (VV -12 +- 1.5 dB in 200 m patches, VH 7 dB below) and a quarter town (-4 dB) east:
    the sea and the fields lie about 3 dB apart in VV, 10 dB in VH. VH only over the west
    ``vh_cover`` of the scene. Returns the scene and its true water."""
    rng = np.random.default_rng(seed)
    rows, cols = 300, 400
    sea = np.zeros((rows, cols), bool)
    sea[:, : int(cols * 0.45)] = True
    patches = rng.normal(-12.0, 1.5, (rows // 20 + 1, cols // 20 + 1))
    patches = np.where(
        rng.random(patches.shape) < 0.25, rng.normal(-4.0, 2.0, patches.shape), patches
    )
    land = np.kron(patches, np.ones((20, 20)))[:rows, :cols]
    streaks = np.sin(2 * np.pi * np.arange(cols) * 10.0 / 3000.0) * np.ones((rows, 1))
    vv_db = np.where(sea, -15.0 + streaks, land)
    vh_db = np.where(sea, -25.0 + 0.5 * streaks, land - 7.0)
    vv, vh = (10 ** (band / 10) * rng.gamma(4.4, 1 / 4.4, sea.shape) for band in (vv_db, vh_db))
    vh[:, int(cols * vh_cover) :] = np.nan
    scene = Raster(
        data=np.stack([vv, vh]).astype(np.float32),
        transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=float("nan"),
        sensor="s1",
        band_names=("VV", "VH"),
    )
    return scene, sea


def test_a_breezy_sea_beside_fields_keeps_vv_s_split():
    """VV's split parts the sea from the fields only by 3 dB (one surface by its halves),
    but VH parts them by 10: the scene is not one surface, and VV's split stands (the
    sea water, the fields mostly land) rather than a verdict on the whole scene."""
    scene, sea = breezy_port()
    assert water_split(scene).band == "VV"
    mask = water_mask(scene)
    assert mask[sea].mean() > 0.99 and mask[~sea].mean() < 0.3
    # VH over part of the scene only decides nothing either.
    partial, _ = breezy_port(vh_cover=0.6)
    assert water_split(partial).band == "VV"
    assert water_mask(partial)[sea].mean() > 0.99


def test_grass_beside_pavement_is_not_called_one_sea():
    """A river port's land: grass (VV -13, VH -20 dB), a third of it paved (VV -16, VH
    -26 dB: VH's noise floor, as calm water's), a little town, a river along the west.
    VV's halves lie 3 dB apart and VH's median is the sea's, but VH parts two surfaces
    that VV sees apart too: VV's split stands; the land is not called water wholesale."""
    rng = np.random.default_rng(1)
    rows, cols = 300, 400
    river = np.zeros((rows, cols), bool)
    river[:, :24] = True
    pick = rng.random((rows // 20 + 1, cols // 20 + 1))
    jitter = rng.normal(0, 0.7, pick.shape)
    vv = np.where(pick < 0.3, -16.0, np.where(pick < 0.35, -5.0, -13.0)) + jitter
    vh = np.where(pick < 0.3, -26.0, np.where(pick < 0.35, -12.0, -20.0)) + jitter
    vv, vh = (np.kron(band, np.ones((20, 20)))[:rows, :cols] for band in (vv, vh))
    vv, vh = np.where(river, -21.0, vv), np.where(river, -27.0, vh)
    speckle = rng.gamma(4.4, 1 / 4.4, (2, rows, cols))
    scene = Raster(
        data=(10 ** (np.stack([vv, vh]) / 10) * speckle).astype(np.float32),
        transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=float("nan"),
        sensor="s1",
        band_names=("VV", "VH"),
    )
    mask = water_mask(scene)
    assert mask[river].mean() > 0.95 and mask[~river].mean() < 0.5


def test_a_step_in_vh_s_noise_floor_is_no_land():
    """Sea alone, its VH noise floor 4 dB higher in the east (a sub-swath seam without
    noise removal): VH's halves lie apart, but neither is land's; the sea stays water,
    and a strip without VH with it."""
    scene = anchorage()
    data = scene.data.copy()
    data[1, :, 250:] *= 10 ** (4 / 10)
    data[1, :, 460:] = np.nan  # 8 % without VH
    mask = water_mask(scene.replace(data=data))
    assert mask.mean() > 0.97 and mask[:, 460:].mean() > 0.97


def test_a_scene_of_land_alone_has_no_water():
    # Fields and town at -9 dB in VV, VH at -16 dB: one surface, not the sea's.
    assert water_mask(anchorage(vv_db=-9.0, vh_db=-16.0)).mean() < 0.01


def test_the_file_split_s_sparse_means_are_the_whole_window_s():
    """The split of a file samples its 50 m means on a lattice; computed at the lattice's
    pixels alone they are those of the whole window's filter, NaN holes and edges too."""
    from imagery.water import _smoothed_db, _smoothed_db_at

    rng = np.random.default_rng(3)
    power = rng.gamma(4.0, 0.02 / 4.0, size=(2, 300, 260)).astype(np.float32)
    power[:, 40:120, 30:90] = np.nan  # a hole wider than the window: NaN means there
    power[1, :, 200:] = np.nan  # VH ends short
    power[:, rng.random((300, 260)) < 0.05] = np.nan
    scene = Raster(
        data=power,
        transform=from_origin(500_000.0, 4_000_000.0, 10.0, 10.0),
        crs="EPSG:32652",
        sensor="s1",
        band_names=("VV", "VH"),
    )
    rows, cols = np.meshgrid(np.arange(0, 300, 7), np.arange(0, 260, 7), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    for band in ("VV", "VH"):
        whole = _smoothed_db(scene, 50.0, band)[rows, cols]
        sparse = _smoothed_db_at(scene, 50.0, rows, cols, band)
        assert np.isnan(whole).any() and np.isfinite(whole).any()
        np.testing.assert_array_equal(sparse, whole)
