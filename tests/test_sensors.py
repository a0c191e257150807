from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import from_origin

from imagery.errors import BandError
from imagery.raster import Raster
from imagery.sensors import (
    S2_OPTIONAL_BANDS,
    check_bands,
    cloud_mask,
    keep_shared,
    prepare_s1,
    prepare_s2,
)


def _raster(data, names=(), nodata=None):
    return Raster(
        np.asarray(data),
        (10, 0, 600000, 0, -10, 4700000),
        "EPSG:32652",
        nodata=nodata,
        band_names=names,
    )


def test_s1_band_descriptions_decide_order():
    data = np.stack([np.full((4, 4), 0.01), np.full((4, 4), 0.1)]).astype(np.float32)
    prepared = prepare_s1(_raster(data, ("Sigma0_VH", "Sigma0_VV")))
    assert prepared.band_names == ("VV", "VH")
    assert np.allclose(prepared.band("VV"), 0.1)


def test_s1_without_descriptions_is_vv_then_vh():
    data = np.stack([np.full((4, 4), 0.1), np.full((4, 4), 0.01)]).astype(np.float32)
    assert prepare_s1(_raster(data)).band_names == ("VV", "VH")


def test_s1_single_vv_band():
    prepared = prepare_s1(_raster(np.full((1, 4, 4), 0.05, np.float32)))
    assert prepared.band_names == ("VV",)


def test_s1_db_is_converted_to_linear():
    prepared = prepare_s1(_raster(np.full((1, 4, 4), -10.0, np.float32)))
    assert np.allclose(prepared.band("VV"), 0.1, rtol=1e-5)


def test_s1_nodata_and_zero_fill_become_nan():
    data = np.full((1, 4, 4), 0.05, np.float32)
    data[0, 0, 0] = -99
    data[0, 1, 1] = 0.0
    prepared = prepare_s1(_raster(data, nodata=-99))
    assert np.isnan(prepared.data[0, 0, 0]) and np.isnan(prepared.data[0, 1, 1])


@pytest.mark.parametrize("fill", [-9999.0, -32768.0])
def test_s1_undeclared_fill_is_nodata_in_db_and_linear(fill):
    # Exports mark missing pixels so without declaring it. In dB a fill read as data
    # would be a pixel of zero power, darker than any water; in linear power a fill
    # over most of the file would make its median negative, the mark of dB.
    db = np.full((2, 4, 4), -12.0, np.float32)
    db[1] = -20.0
    db[:, :, :3] = fill
    prepared = prepare_s1(_raster(db))
    assert np.isnan(prepared.data[:, :, :3]).all()
    assert np.allclose(prepared.data[:, :, 3], [[10**-1.2], [10**-2.0]], rtol=1e-5)
    linear = np.full((1, 4, 4), 0.05, np.float32)
    linear[:, :, :3] = fill
    prepared = prepare_s1(_raster(linear))
    assert np.isnan(prepared.data[:, :, :3]).all()
    assert np.allclose(prepared.data[:, :, 3], 0.05)


def test_s1_three_unnamed_bands_is_an_error():
    with pytest.raises(BandError, match=r"scene\.tif: Sentinel-1 input needs"):
        prepare_s1(_raster(np.ones((3, 4, 4), np.float32)), source="scene.tif")


def test_s2_scaled_and_scl_invalid_masked():
    data = np.full((5, 4, 4), 1000, np.uint16)
    data[4] = 4
    data[4, 0, 0] = 0  # SCL no data
    data[4, 1, 1] = 9  # cloud
    prepared = prepare_s2(_raster(data, nodata=0))
    assert prepared.band_names == ("B02", "B03", "B04", "B08", "SCL")
    assert np.isclose(prepared.data[0, 2, 2], 0.1)
    assert np.isnan(prepared.data[:4, 0, 0]).all()
    assert cloud_mask(prepared)[1, 1] and cloud_mask(prepared).sum() == 1


def test_s2_on_eo_browsers_scale_is_read_as_such_and_said(caplog):
    rng = np.random.default_rng(0)
    reflectance = rng.uniform(0.02, 0.35, (4, 20, 20))
    with caplog.at_level("WARNING", logger="imagery.sensors"):
        l2a = prepare_s2(_raster((reflectance * 10_000).astype(np.uint16)), source="l2a.tif")
    assert not caplog.records
    np.testing.assert_allclose(l2a.data, reflectance, atol=1e-4)
    with caplog.at_level("WARNING", logger="imagery.sensors"):
        eob = prepare_s2(_raster((reflectance * 65_535).astype(np.uint16)), source="eob.tif")
    assert len(caplog.records) == 1 and "eob.tif" in caplog.text and "65535" in caplog.text
    np.testing.assert_allclose(eob.data, reflectance, atol=2e-5)
    # A scale given is the scale used, and numbers no surface has at it are warned of.
    caplog.clear()
    with caplog.at_level("WARNING", logger="imagery.sensors"):
        forced = prepare_s2(
            _raster((reflectance * 65_535).astype(np.uint16)), source="forced.tif", scale=1e-4
        )
    np.testing.assert_allclose(forced.data, reflectance * 6.5535, rtol=1e-3, atol=1e-4)
    assert "forced.tif" in caplog.text and "--s2-scale 1.5259e-5" in caplog.text


def test_the_scale_is_decided_by_the_brightest_hundredth_too(caplog):
    """A harbour at x 65535: water keeps the upper quartile under 1, land does not."""
    rng = np.random.default_rng(1)
    water = rng.uniform(0.01, 0.05, (4, 40, 40))
    land = rng.uniform(0.15, 0.35, (4, 40, 40))
    harbour = np.where(np.arange(40)[None, None, :] < 30, water, land)
    with caplog.at_level("WARNING", logger="imagery.sensors"):
        read = prepare_s2(_raster((harbour * 65_535).astype(np.uint16)), source="harbour.tif")
    assert "harbour.tif" in caplog.text and "65535" in caplog.text
    np.testing.assert_allclose(read.data, harbour, atol=2e-5)
    # A legitimate L2A scene a third under thick cloud (reflectance 0.8-1.1) is L2A.
    cloudy = np.where(np.arange(40)[None, :, None] < 13, rng.uniform(0.8, 1.1, (4, 40, 40)), land)
    caplog.clear()
    with caplog.at_level("WARNING", logger="imagery.sensors"):
        read = prepare_s2(_raster((cloudy * 10_000).astype(np.uint16)), source="cloudy.tif")
    assert not caplog.records
    np.testing.assert_allclose(read.data, cloudy, atol=1e-4)
    # Half under fresh snow, brighter than 1 in the visible at a low sun: still L2A.
    snow = np.array([1.15, 1.12, 1.08, 0.95])[:, None, None] * rng.uniform(0.95, 1.05, (4, 40, 40))
    snowy = np.where(np.arange(40)[None, :, None] < 20, snow, land)
    read = prepare_s2(_raster((snowy * 10_000).astype(np.uint16)), source="snowy.tif")
    np.testing.assert_allclose(read.data, snowy, atol=1e-4)


def test_s2_descriptions_reorder():
    data = np.stack([np.full((4, 4), v, np.uint16) for v in (800, 200, 300, 400)])
    prepared = prepare_s2(_raster(data, ("B8", "B2", "B3", "B4")))
    assert np.isclose(prepared.band("B08")[0, 0], 0.08)
    assert np.isclose(prepared.band("B02")[0, 0], 0.02)


def test_s2_wrong_band_count():
    with pytest.raises(BandError, match="B02 B03 B04 B08"):
        prepare_s2(_raster(np.ones((3, 4, 4), np.uint16)), source="x.tif")


def _s2_with_swir(b11: np.ndarray) -> Raster:
    data = np.full((6, 6, 6), 1000, dtype=np.uint16)
    data[4] = b11
    data[5] = 6  # SCL water
    return Raster(
        data=data,
        transform=from_origin(500_000.0, 4_600_000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=0,
        band_names=("B02", "B03", "B04", "B08", "B11", "SCL"),
    )


def test_b11_nodata_under_valid_bands_is_dark_water_not_a_hole():
    b11 = np.full((6, 6), 300, dtype=np.uint16)
    b11[2, 2] = 0  # clipped at zero over dark water
    prepared = prepare_s2(_s2_with_swir(b11))
    assert prepared.band("B11")[2, 2] == 0.0 and prepared.valid_mask().all()


def test_b11_without_data_is_dropped():
    prepared = prepare_s2(_s2_with_swir(np.zeros((6, 6), dtype=np.uint16)))
    assert prepared.band_names == ("B02", "B03", "B04", "B08", "SCL")
    assert prepared.valid_mask().all()


def test_keep_shared_drops_what_one_date_lacks():
    with_swir = prepare_s2(_s2_with_swir(np.full((6, 6), 300, dtype=np.uint16)))
    without = with_swir.select(["B02", "B03", "B04", "B08", "SCL"])
    a, b = keep_shared([with_swir, without], S2_OPTIONAL_BANDS)
    assert a.band_names == b.band_names == without.band_names
    # Only the named bands are reconciled: SCL on one date is kept.
    c, d = keep_shared([with_swir, without.select(["B02", "B03", "B04", "B08"])], ["B11"])
    assert d.band_names == ("B02", "B03", "B04", "B08")
    assert "SCL" in c.band_names and "B11" not in c.band_names


@pytest.mark.parametrize("db", [False, True])
def test_s1_infinities_are_nodata(db):
    data = np.full((1, 4, 4), -10.0 if db else 0.1, np.float32)
    data[0, 0, 0], data[0, 1, 1] = np.inf, -np.inf
    prepared = prepare_s1(_raster(data), db=db)
    assert np.isnan(prepared.data[0, [0, 1], [0, 1]]).all()
    assert np.isfinite(prepared.data).sum() == 14


def test_s2_float_fill_is_nodata_and_dark_water_is_zero():
    # -9999 in a float reflectance file is fill; -0.05 is dark water under baseline
    # 04.00's offset, which reads as zero.
    data = np.full((4, 4, 4), 0.1, np.float32)
    data[:, :, 0] = -9999.0
    data[3, :, 1] = -0.05
    prepared = prepare_s2(_raster(data))
    assert np.isnan(prepared.data[:, :, 0]).all()
    assert (prepared.data[3, :, 1] == 0).all() and np.isfinite(prepared.data[:, :, 1:]).all()


def test_s2_infinities_are_nodata():
    data = np.full((4, 4, 4), 0.1, np.float32)
    data[2, 3, 3] = np.inf
    prepared = prepare_s2(_raster(data))
    assert np.isnan(prepared.data[2, 3, 3]) and np.isfinite(prepared.data[:, :3]).all()


def test_check_bands_reads_the_header_as_prepare_does():
    assert check_bands(("VV", "VH"), 2, "s1") == [("VV", 0), ("VH", 1)]
    assert check_bands((), 5, "s2", source="x.tif")[-1] == ("SCL", 4)
    with pytest.raises(BandError, match=r"^scene\.tif: Sentinel-1 input needs .* got 5 bands"):
        check_bands(("B02", "B03", "B04", "B08", "SCL"), 5, "s1", source="scene.tif")
    with pytest.raises(BandError, match=r"^s1\.tif: Sentinel-2 input needs"):
        check_bands(("VV", "VH"), 2, "s2", source="s1.tif")


def test_s1_with_vh_alone_is_refused_not_read_as_vv():
    data = np.full((1, 4, 4), 0.01, np.float32)
    with pytest.raises(BandError, match="holds VH but no VV"):
        prepare_s1(_raster(data, ("Sigma0_VH",)), source="vh.tif")
    with pytest.raises(BandError, match=r"vh\.tif"):
        check_bands(("VH",), 1, "s1", source="vh.tif")


@pytest.mark.parametrize(
    "values",
    [
        np.sqrt(np.linspace(0.001, 0.5, 64)) * 600.0,  # amplitude digital numbers
        np.linspace(0.001, 0.5, 64) * 10_000.0,  # power before calibration, scaled
    ],
)
def test_s1_digital_numbers_are_refused_not_taken_for_sigma0(values):
    from imagery.errors import InputError

    data = values.reshape(1, 8, 8).astype(np.float32)
    with pytest.raises(InputError, match=r"dn.tif: VV reads as sigma0 .* digital numbers"):
        prepare_s1(_raster(data), source="dn.tif")
    # The same scene as calibrated sigma0, linear or dB, is taken as it is.
    sigma0 = np.linspace(0.001, 0.5, 64).reshape(1, 8, 8).astype(np.float32)
    assert prepare_s1(_raster(sigma0)).band_names == ("VV",)
    db = (10 * np.log10(sigma0)).astype(np.float32)
    np.testing.assert_allclose(prepare_s1(_raster(db)).band("VV"), sigma0[0], rtol=1e-5)


def test_a_fifth_undescribed_band_of_reflectance_numbers_is_b11_in_every_window(tmp_path):
    """Five undescribed bands: SCL holds classes 0-11, B11's numbers do not, except in a
    window of dark water alone; the file decides, so that window reads B11 too."""
    from rasterio.windows import Window

    from imagery.io import read_raster, write_raster

    rng = np.random.default_rng(3)
    spectral = rng.uniform(0.02, 0.3, (4, 64, 64))
    swir = rng.uniform(0.05, 0.3, (64, 64))
    swir[:32, :32] = 0.0005  # dark water: B11 numbers 5 at x 10000
    numbers = np.round(np.concatenate([spectral, swir[None]]) * 10_000).astype(np.uint16)
    stacked = write_raster(_raster(numbers), tmp_path / "stack.tif")
    whole = prepare_s2(read_raster(stacked), source=str(stacked))
    assert whole.band_names == ("B02", "B03", "B04", "B08", "B11")
    water = read_raster(stacked, window=Window(0, 0, 32, 32))
    assert water.data[4].max() <= 11
    assert prepare_s2(water, source=str(stacked)).band_names == whole.band_names
    # A true SCL band stays SCL, in the file and in memory.
    classes = rng.integers(2, 12, (64, 64)).astype(np.uint16)
    with_scl = write_raster(
        _raster(np.concatenate([numbers[:4], classes[None]])), tmp_path / "scl.tif"
    )
    assert prepare_s2(read_raster(with_scl), source=str(with_scl)).band_names[-1] == "SCL"
    in_memory = prepare_s2(_raster(numbers), source="stack in memory")
    assert in_memory.band_names[-1] == "B11"


def test_a_name_that_happens_to_be_a_file_does_not_decide_the_scale(tmp_path, monkeypatch):
    """An EO Browser export lying at ./input decides nothing for a raster read elsewhere
    and prepared under the default name."""
    from imagery.io import write_raster

    rng = np.random.default_rng(5)
    reflectance = rng.uniform(0.15, 0.35, (4, 32, 32))
    export = _raster(np.round(reflectance * 65_535).astype(np.uint16))
    monkeypatch.chdir(tmp_path)
    write_raster(
        export.replace(transform=export.transform * export.transform.translation(500, 0)),
        tmp_path / "input",
    )
    l2a = prepare_s2(_raster(np.round(reflectance * 10_000).astype(np.uint16)))
    np.testing.assert_allclose(l2a.data, reflectance, atol=1e-4)


def test_saturated_cloud_and_snow_pixels_do_not_make_an_l2a_scene_an_export():
    """SCL names what may read above 1.5 in an L2A scene (saturated numbers, cloud,
    snow): a cloudy winter pass stays on L2A's scale."""
    rng = np.random.default_rng(6)
    land = rng.uniform(0.05, 0.3, (4, 40, 40))
    numbers = np.round(land * 10_000)
    scl = np.full((40, 40), 5.0)  # bare soil
    numbers[:, :3, :] = 65535  # saturated rows
    scl[:3, :] = 1
    numbers[:, 3:8, :] = rng.uniform(15_500, 18_000, (4, 5, 40))  # a bright cloud's top
    scl[3:8, :] = 9
    read = prepare_s2(_raster(np.concatenate([numbers, scl[None]]).astype(np.uint16)))
    np.testing.assert_allclose(read.data[:4, 8:], land[:, 8:], atol=1e-4)


def test_an_scl_band_filled_beyond_the_swath_stays_scl(tmp_path):
    """SCL written with 255 where the spectral bands hold no data (0) is no B11."""
    from imagery.io import read_raster, write_raster
    from imagery.registration.windows import _band_plan

    rng = np.random.default_rng(7)
    numbers = np.round(rng.uniform(0.02, 0.3, (4, 40, 40)) * 10_000)
    scl = rng.integers(2, 12, (40, 40)).astype(float)
    numbers[:, :, :15] = 0  # beyond the swath
    scl[:, :15] = 255
    path = write_raster(
        _raster(np.concatenate([numbers, scl[None]]).astype(np.uint16), nodata=0),
        tmp_path / "l2a.tif",
    )
    read = prepare_s2(read_raster(path), source=str(path))
    assert read.band_names[-1] == "SCL"
    assert _band_plan(path, "s2")[1][-1] == "SCL"
    # The same file with B11 in fifth place: B11 for co-registration's reader too.
    swir = np.round(rng.uniform(0.05, 0.3, (40, 40)) * 10_000)
    stack = write_raster(
        _raster(np.concatenate([numbers, swir[None]]).astype(np.uint16), nodata=0),
        tmp_path / "stack.tif",
    )
    assert prepare_s2(read_raster(stack), source=str(stack)).band_names[-1] == "B11"
    assert _band_plan(stack, "s2")[1][-1] == "B11"


def test_a_file_that_cannot_be_read_whole_is_warned_of_once(tmp_path, caplog):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a raster")
    numbers = (np.random.default_rng(8).uniform(0.02, 0.3, (4, 8, 8)) * 10_000).astype(np.uint16)
    with caplog.at_level("WARNING", logger="imagery.sensors"):
        for _ in range(3):
            prepare_s2(_raster(numbers), source=str(broken))
    assert caplog.text.count("could not be read") == 1


def test_two_undescribed_s1_bands_listed_vh_first_are_read_by_their_levels(tmp_path, caplog):
    """VV exceeds VH over every surface: a file listing them VH, VV is read so, in every
    window (one at the noise floor too) and by co-registration's reader."""
    from rasterio.windows import Window

    from imagery.io import read_raster, write_raster
    from imagery.registration.windows import _band_plan

    rng = np.random.default_rng(10)
    vv = rng.gamma(4.4, 0.05 / 4.4, (64, 64))
    vh = vv * 10 ** (-8 / 10) * rng.gamma(4.4, 1 / 4.4, (64, 64))
    vv[:32, :32] = vh[:32, :32] = 10 ** (-2.5)  # noise floor alike in both
    swapped = write_raster(_raster(np.stack([vh, vv]).astype(np.float32)), tmp_path / "vhvv.tif")
    with caplog.at_level("WARNING", logger="imagery.sensors"):
        read = prepare_s1(read_raster(swapped), source=str(swapped))
    assert read.band_names == ("VV", "VH")
    np.testing.assert_allclose(read.band("VV"), vv, rtol=1e-6)
    assert caplog.text.count("read as VH, VV") == 1
    floor = read_raster(swapped, window=Window(0, 0, 32, 32))
    np.testing.assert_allclose(prepare_s1(floor, source=str(swapped)).band("VV"), vv[:32, :32])
    assert _band_plan(swapped, "s1")[0] == [2]
    # In dB, and in memory, alike; the usual VV, VH order is left as it is.
    in_db = prepare_s1(_raster(10 * np.log10(np.stack([vh, vv])).astype(np.float32)))
    np.testing.assert_allclose(in_db.band("VV"), vv, rtol=1e-4)
    usual = write_raster(_raster(np.stack([vv, vh]).astype(np.float32)), tmp_path / "vvvh.tif")
    np.testing.assert_allclose(
        prepare_s1(read_raster(usual), source=str(usual)).band("VV"), vv, rtol=1e-6
    )
    assert _band_plan(usual, "s1")[0] == [1]


def test_undeclared_s1_fill_over_most_of_a_file_decides_nothing(tmp_path):
    """The band order and the dB guess are read from the data, not from a swath's fill
    (-32768 in dB, -9999 in linear power) covering three fifths of the file."""
    import rasterio

    from imagery.io import read_raster, write_raster
    from imagery.registration.windows import _looks_db

    rng = np.random.default_rng(11)
    vv = rng.gamma(4.4, 0.05 / 4.4, (64, 64))
    vh = vv * 10 ** (-8 / 10) * rng.gamma(4.4, 1 / 4.4, (64, 64))
    in_db = 10 * np.log10(np.stack([vh, vv]))
    in_db[:, :, :40] = -32768.0
    swapped = write_raster(_raster(in_db.astype(np.float32)), tmp_path / "vhvv_db.tif")
    read = prepare_s1(read_raster(swapped), source=str(swapped))
    assert read.band_names == ("VV", "VH")
    np.testing.assert_allclose(read.band("VV")[:, 40:], vv[:, 40:], rtol=1e-4)
    assert np.isnan(read.data[:, :, :40]).all()
    linear = np.stack([vv, vh])
    linear[:, :, :40] = -9999.0
    path = write_raster(_raster(linear.astype(np.float32)), tmp_path / "linear.tif")
    with rasterio.open(path) as ds:
        assert not _looks_db(ds, 1)
    np.testing.assert_allclose(
        prepare_s1(read_raster(path), source=str(path)).band("VV")[:, 40:], vv[:, 40:], rtol=1e-6
    )


def test_an_s2_window_almost_all_fill_is_still_read_at_its_scale():
    # Digital numbers in an integer file, 99.5 % of the window the 0 fill beyond the
    # swath (undeclared): the rest is reflectance 0.08, not 800.
    data = np.zeros((4, 20, 20), np.uint16)
    data[:, 10:12, 7] = 800
    prepared = prepare_s2(_raster(data))
    np.testing.assert_allclose(prepared.data[:, 10:12, 7], 0.08)
    assert np.isnan(prepared.data[:, 5, 5]).all()


def test_s1_db_beyond_any_echo_is_nodata():
    # Cubic resampling beside undeclared -32768 fill rings to thousands of dB, which
    # would overflow to infinite power.
    data = np.full((1, 4, 4), -12.0, np.float32)
    data[0, 0, :2] = 2395.6, 200.0
    data[0, 1, 0] = 45.0  # as bright as an echo gets, and kept
    prepared = prepare_s1(_raster(data))
    assert np.isnan(prepared.data[0, 0, :2]).all() and np.isfinite(prepared.data[0, 1:]).all()
