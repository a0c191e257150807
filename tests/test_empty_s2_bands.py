"""A Sentinel-2 stack with an SCL band of class 0 alone (an L1C scene or an export padded
with an empty SCL) is the scene without SCL; one whose 10 m band is empty is refused by
that band's name."""

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


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    sim = simulate_pair(get_aoi("rajin"), sensor="s2", seed=5, size_px=384)
    return write_simulation(sim, tmp_path_factory.mktemp("pair"))


#: The pair's files written again with an edit applied to each scene.
_variant = functools.partial(rewritten_pair, sensor="s2")


def _without_scl(raster):
    return raster.select([b for b in raster.band_names if b != "SCL"])


def _band_zeroed(band):
    def edit(raster):
        raster.data[raster.band_names.index(band)] = 0
        return raster.replace(nodata=0)

    return edit


def _centres(frame) -> list[tuple[str, float, float]]:
    points = frame.geometry.centroid
    return sorted(zip(frame["kind"], points.x.round(1), points.y.round(1), strict=True))


def test_an_scl_of_no_data_alone_is_a_scene_without_scl(pair, tmp_path, caplog):
    assert "SCL" in read_raster(pair["after"]).band_names
    plain = _variant(pair, tmp_path / "plain", _without_scl)
    empty = _variant(pair, tmp_path / "empty", _band_zeroed("SCL"))
    expected = detect_pair(*(read_raster(p, sensor="s2") for p in plain), sensor="s2")
    with caplog.at_level(logging.WARNING, logger="imagery.sensors"):
        found = detect_pair(
            *(read_raster(p, sensor="s2") for p in empty),
            sensor="s2",
            names=tuple(str(p) for p in empty),
        )
    assert len(expected.detections) + len(expected.departed) > 0
    assert _centres(found.detections) == _centres(expected.detections)
    assert _centres(found.departed) == _centres(expected.departed)
    assert any(
        str(empty[1]) in r.getMessage() and "without SCL" in r.getMessage() for r in caplog.records
    )
    # Windowed alike (each window's SCL is empty).
    tiled = detect_pair_files(*empty, sensor="s2", chunk_px=192, halo_px=64)
    tiled_plain = detect_pair_files(*plain, sensor="s2", chunk_px=192, halo_px=64)
    assert len(tiled_plain.detections) + len(tiled_plain.departed) > 0
    assert _centres(tiled.detections) == _centres(tiled_plain.detections)


def test_an_empty_ten_metre_band_is_refused_by_name(pair, tmp_path):
    files = _variant(pair, tmp_path / "no_b08", _band_zeroed("B08"))
    with pytest.raises(EmptyRasterError, match=r"before\.tif: B08 holds no valid pixel where B02"):
        detect_pair(
            *(read_raster(p, sensor="s2") for p in files),
            sensor="s2",
            names=tuple(str(p) for p in files),
        )


def test_an_scl_with_classes_is_kept(pair):
    scene = read_raster(pair["after"], sensor="s2")
    from imagery.sensors import prepare_s2

    assert "SCL" in prepare_s2(scene).band_names
    scl = scene.data[scene.band_names.index("SCL")].copy()
    scl[:, : scl.shape[1] // 2] = 0  # half the swath without data
    data = scene.data.copy()
    data[scene.band_names.index("SCL")] = scl
    prepared = prepare_s2(scene.replace(data=data))
    assert "SCL" in prepared.band_names
    assert np.isnan(prepared.band("B08")[:, : scl.shape[1] // 2]).all()


def test_a_tile_whose_scl_ends_short_compares_what_the_whole_scene_compares(pair, tmp_path):
    """SCL of class 0 over part of the file only: windows there keep their SCL (no data),
    as the whole scene does, rather than being compared without a cloud mask."""
    import rasterio

    def scl_short(raster):
        raster.data[raster.band_names.index("SCL"), :, :200] = 0
        return raster.replace(nodata=0)

    files = _variant(pair, tmp_path / "short", scl_short)
    whole = detect_pair(*(read_raster(p, sensor="s2") for p in files), sensor="s2")
    detect_pair_files(
        *files, sensor="s2", chunk_px=64, halo_px=16, change_path=tmp_path / "change.tif"
    )
    with rasterio.open(tmp_path / "change.tif") as ds:
        tiled_z = ds.read(2)
    assert not np.isfinite(whole.change.band("z")[:, :190]).any()
    assert not np.isfinite(tiled_z[:, :190]).any()
    assert np.isfinite(tiled_z[:, 220:]).any()
