"""A Sentinel-1 file that holds VV and a VH band with nothing in it (a single-polarisation
pass stored as a dual-pol stack, VH never filled) is the VV scene it holds."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest
from conftest import rewritten_pair

from imagery.aoi import get_aoi
from imagery.detect import detect_pair
from imagery.errors import EmptyRasterError
from imagery.io import read_raster
from imagery.simulate import simulate_pair, write_simulation
from imagery.tiled import detect_pair_files
from imagery.water import water_split_file


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    sim = simulate_pair(get_aoi("nakhodka"), sensor="s1", seed=12, size_px=512)
    return write_simulation(sim, tmp_path_factory.mktemp("pair"))


#: The pair's files written again with an edit applied to each scene.
_variant = functools.partial(rewritten_pair, sensor="s1")


def _vv_only(raster):
    return raster.select(["VV"])


def _vh_filled_with(value):
    def edit(raster):
        raster.data[1] = value
        return raster

    return edit


def _centres(frame) -> list[tuple[str, float, float]]:
    points = frame.geometry.centroid
    return sorted(zip(frame["kind"], points.x.round(1), points.y.round(1), strict=True))


@pytest.mark.parametrize("fill", [np.nan, 0.0], ids=["nan", "zero"])
def test_an_unfilled_vh_is_read_as_vv_alone(pair, tmp_path, caplog, fill):
    vv_files = _variant(pair, tmp_path / "vv", _vv_only)
    empty_files = _variant(pair, tmp_path / "empty", _vh_filled_with(fill))
    vv = detect_pair(*(read_raster(p, sensor="s1") for p in vv_files), sensor="s1")
    with caplog.at_level(logging.WARNING, logger="imagery.sensors"):
        empty = detect_pair(
            *(read_raster(p, sensor="s1") for p in empty_files),
            sensor="s1",
            names=tuple(str(p) for p in empty_files),
        )
    assert len(vv.detections) > 0
    assert _centres(empty.detections) == _centres(vv.detections)
    assert _centres(empty.departed) == _centres(vv.departed)
    assert any(
        str(empty_files[1]) in r.getMessage() and "VV alone" in r.getMessage()
        for r in caplog.records
    )


def test_a_tile_with_an_unfilled_vh_is_compared_in_vv(pair, tmp_path):
    """Windowed, each window's VH is empty: the pair used to be refused as having nothing
    to compare (the change test found no looks to count in VH)."""
    vv_files = _variant(pair, tmp_path / "vv", _vv_only)
    empty_files = _variant(pair, tmp_path / "empty", _vh_filled_with(np.nan))
    vv = detect_pair_files(*vv_files, sensor="s1", chunk_px=256, halo_px=130)
    empty = detect_pair_files(*empty_files, sensor="s1", chunk_px=256, halo_px=130)
    assert len(vv.detections) + len(vv.departed) > 0
    assert _centres(empty.detections) == _centres(vv.detections)
    assert _centres(empty.departed) == _centres(vv.departed)


def test_a_file_split_from_windows_some_without_vh_is_split(pair, tmp_path):
    """Windows whose VH holds nothing read as VV alone; their samples must still line up
    with the other windows' (the arrays of VV and VH samples differed in length)."""

    def vh_short(raster):
        raster.data[1, :, 200:] = np.nan
        return raster

    _, after = _variant(pair, tmp_path / "short", vh_short)
    _, vv_after = _variant(pair, tmp_path / "vv", _vv_only)
    split = water_split_file(after, sensor="s1", chunk_px=128)
    assert split == water_split_file(vv_after, sensor="s1", chunk_px=128)


def test_a_scene_without_vv_is_refused_by_name(pair, tmp_path):
    def vv_empty(raster):
        raster.data[0] = np.nan
        return raster

    files = _variant(pair, tmp_path / "no_vv", vv_empty)
    with pytest.raises(EmptyRasterError, match=r"before\.tif: its VV band holds no valid pixel"):
        detect_pair(
            *(read_raster(p, sensor="s1") for p in files),
            sensor="s1",
            names=tuple(str(p) for p in files),
        )


# -- a file whose VH ends short keeps its VH band in every window (a review's cases) --------


def _vh_short(raster):
    raster.data[1, :, 256:] = np.nan
    return raster


@pytest.fixture(scope="module")
def windy_pair(tmp_path_factory):
    sim = simulate_pair(get_aoi("nakhodka"), sensor="s1", seed=12, size_px=512, windy=True)
    return write_simulation(sim, tmp_path_factory.mktemp("windy"))


def test_windows_without_vh_are_split_at_the_file_s_vh_threshold(windy_pair, tmp_path):
    """Under a windy sea the file's water split is VH's; a window of a file whose VH ends
    short keeps its (empty) VH band, as the whole scene does, and is not refused for
    lacking the band its split names."""

    def vh_corner(raster):
        raster.data[1, :160, :160] = np.nan
        return raster

    files = _variant(windy_pair, tmp_path / "corner", vh_corner)
    assert water_split_file(files[0], sensor="s1", chunk_px=128).band == "VH"
    result = detect_pair_files(*files, sensor="s1", chunk_px=128, halo_px=20, workers=1)
    assert len(result.detections) > 0
    from imagery.tiled import detect_vessels_file

    assert len(detect_vessels_file(files[1], sensor="s1", chunk_px=128, halo_px=20)) > 0


def test_display_files_of_a_tile_whose_vh_ends_short_keep_both_bands(pair, tmp_path):
    files = _variant(pair, tmp_path / "short", _vh_short)
    displays = (tmp_path / "before_display.tif", tmp_path / "after_display.tif")
    result = detect_pair_files(
        *files, sensor="s1", chunk_px=128, halo_px=40, workers=1, display_paths=displays
    )
    for path in result.display_paths:
        assert read_raster(path, require_valid=False).band_names == ("VV", "VH")


def test_a_tile_compares_what_the_whole_scene_compares(pair, tmp_path):
    """Windows wholly without VH are not compared in VV alone while the whole scene leaves
    those pixels out (the band set would change at window seams)."""
    import rasterio

    files = _variant(pair, tmp_path / "short", _vh_short)
    whole = detect_pair(*(read_raster(p, sensor="s1") for p in files), sensor="s1")
    detect_pair_files(*files, sensor="s1", chunk_px=128, halo_px=40, change_path=tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        tiled_z = ds.read(2)
    assert not np.isfinite(whole.change.band("z")[:, 300:]).any()
    assert not np.isfinite(tiled_z[:, 300:]).any()


def test_undescribed_bands_with_an_unfilled_first_band_read_the_second_as_vv(pair, tmp_path):
    """Two undescribed bands listed VH, VV (alphabetically), VH unfilled: the band that
    holds data is VV, not refused as 'VV holds no valid pixel'."""
    import rasterio

    from imagery.sensors import prepare_s1

    raster = read_raster(pair["after"], sensor="s1")
    path = tmp_path / "vh_vv.tif"
    profile = {
        "driver": "GTiff",
        "width": raster.width,
        "height": raster.height,
        "count": 2,
        "dtype": "float32",
        "crs": raster.crs,
        "transform": raster.transform,
        "nodata": float("nan"),
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.stack([np.full(raster.shape, np.nan, np.float32), raster.band("VV")]))
    scene = prepare_s1(read_raster(path, sensor="s1"), source=str(path))
    assert scene.band_names == ("VV",)
    np.testing.assert_array_equal(scene.band("VV"), raster.band("VV"))


def test_a_scene_read_where_vh_is_unfilled_is_vv_alone(pair, tmp_path):
    """An AOI's part of a file whose VH ends short, read as a scene, is VV alone (as the
    whole of a VV file); a window of it read for tiled processing keeps its empty VH."""
    from rasterio.windows import Window

    from imagery.sensors import prepare

    files = _variant(pair, tmp_path / "short", _vh_short)
    part = [read_raster(p, sensor="s1", window=Window(300, 0, 212, 512)) for p in files]
    assert prepare(part[1], "s1", source=str(files[1])).band_names == ("VV",)
    assert prepare(part[1], "s1", source=str(files[1]), window=True).band_names == ("VV", "VH")
    result = detect_pair(*part, sensor="s1", names=tuple(str(p) for p in files))
    assert np.isfinite(result.change.band("z")).mean() > 0.5


def test_a_db_vh_of_zeros_is_unfilled(pair, tmp_path):
    """Exactly 0 is fill in dB as in linear power: a VH_dB band of zeros is no VH at all
    (kept, it was a constant 0 dB band, and the pair lost ships)."""
    from imagery.sensors import to_db

    def in_db_vh_zero(raster):
        data = to_db(raster.data)
        data[1] = 0.0
        return raster.replace(data=data, band_names=("VV_dB", "VH_dB"))

    def in_db_vv(raster):
        return raster.replace(data=to_db(raster.data[:1]), band_names=("VV_dB",))

    zeros = _variant(pair, tmp_path / "zeros", in_db_vh_zero)
    vv = _variant(pair, tmp_path / "vv", in_db_vv)
    found = detect_pair(*(read_raster(p, sensor="s1") for p in zeros), sensor="s1")
    expected = detect_pair(*(read_raster(p, sensor="s1") for p in vv), sensor="s1")
    assert len(expected.detections) > 0
    assert _centres(found.detections) == _centres(expected.detections)


def test_a_file_rewritten_in_place_is_decided_again(pair, tmp_path):
    """The whole file's decisions are cached per version of the file: one rewritten in
    place keeping its size and modification time (a copy that preserves times) is read
    again, not taken for the version decided before."""
    import os
    import time

    import rasterio
    from rasterio.windows import Window

    from imagery.io import write_raster
    from imagery.sensors import prepare

    raster = read_raster(pair["after"], sensor="s1")
    data = raster.data.copy()
    data[1, :256, :256] = np.nan  # VH ends short of the window read
    path = write_raster(
        raster.replace(data=data), tmp_path / "after.tif", cog=False, compress="none"
    )

    def bands():
        part = read_raster(path, sensor="s1", window=Window(0, 0, 256, 256))
        return prepare(part, "s1", source=str(path), window=True).band_names

    assert bands() == ("VV", "VH")
    first = os.stat(path)
    time.sleep(0.05)  # file times tick at the kernel's clock, a few milliseconds
    with rasterio.open(path, "r+") as dst:
        dst.write(np.full(raster.shape, np.nan, dtype=np.float32), 2)  # VH never filled
    os.utime(path, ns=(first.st_atime_ns, first.st_mtime_ns))
    second = os.stat(path)
    assert (second.st_size, second.st_mtime_ns) == (first.st_size, first.st_mtime_ns)
    if second.st_ctime_ns == first.st_ctime_ns:
        pytest.skip("the file system's clock is coarser than the test's pause")
    assert bands() == ("VV",)
