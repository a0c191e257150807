"""What the commands make of inputs that are wrong in kind rather than in place: a scene of
the other sensor, scenes that barely overlap, infinite or all-fill pixels, a damaged
GeoPackage, options that do not apply. Real GeoTIFFs in tmp dirs, through the click runner."""

from __future__ import annotations

import hashlib
import shutil
import warnings
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from rasterio.transform import from_origin
from test_cli_guards import _refused, _run

from imagery.aoi import get_aoi
from imagery.io import read_raster, write_raster
from imagery.simulate import simulate_pair, write_simulation

SIZE = 256


@pytest.fixture(scope="module")
def s1(tmp_path_factory) -> dict[str, Path]:
    """An S1 pair of Rajin that co-registers."""
    out = tmp_path_factory.mktemp("s1")
    return write_simulation(simulate_pair(get_aoi("rajin"), sensor="s1", seed=3, size_px=SIZE), out)


@pytest.fixture(scope="module")
def s2(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("s2")
    return write_simulation(simulate_pair(get_aoi("rajin"), sensor="s2", seed=3, size_px=SIZE), out)


def _moved(path: Path, out: Path, east_m: float) -> Path:
    """``path``'s scene with its grid moved ``east_m`` to the east."""
    raster = read_raster(path)
    t = raster.transform
    return write_raster(raster.replace(transform=from_origin(t.c + east_m, t.f, t.a, -t.e)), out)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- coregister: the sensor's bands, both files named ------------------------------------------


def test_coregister_refuses_a_scene_of_the_other_sensor_by_its_bands(s1, s2, tmp_path):
    out = tmp_path / "aligned.tif"
    result = _run("coregister", s2["before"], s2["after"], "--sensor", "s1", "--out", out)
    line = _refused(result, s2["before"], "Sentinel-1 input needs", "['B02', 'B03'")
    assert "correlation" not in line
    result = _run("coregister", s1["before"], s1["after"], "--sensor", "s2", "--out", out)
    _refused(result, s1["before"], "Sentinel-2 input needs")
    assert not out.exists()


def test_coregister_refusals_name_both_files(s1, tmp_path):
    out = tmp_path / "aligned.tif"
    far = _moved(s1["after"], tmp_path / "far.tif", 50_000.0)
    result = _run("coregister", s1["before"], far, "--out", out)
    _refused(result, f"{far} onto {s1['before']}: ", "do not overlap")
    sliver = _moved(s1["after"], tmp_path / "sliver.tif", 2000.0)
    result = _run("coregister", s1["before"], sliver, "--out", out)
    _refused(result, f"{sliver} onto {s1['before']}: ", "a smaller --window-px may do")
    assert not out.exists()


def test_detect_does_not_suggest_an_option_it_lacks(s1, tmp_path):
    sliver = _moved(s1["after"], tmp_path / "sliver.tif", 2000.0)
    result = _run("detect", s1["before"], sliver, "--sensor", "s1", "--out", tmp_path / "run")
    line = _refused(result, sliver, s1["before"], "overlap by 256 x 56 px")
    assert "window_px" not in line and "window-px" not in line
    assert not (tmp_path / "run").exists()


# -- non-finite and all-fill pixels ----------------------------------------------------------


def test_infinite_pixels_are_nodata_without_a_warning(s1, tmp_path):
    raster = read_raster(s1["after"])
    data = raster.data.copy()
    data[:, 40:50, 60:80] = np.inf
    data[:, 150:155, 20:60] = -np.inf
    inf = write_raster(raster.replace(data=data), tmp_path / "inf.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # raised in place of being printed
        result = _run("coregister", s1["before"], inf, "--out", tmp_path / "a.tif")
        assert result.exit_code == 0, result.output
        result = _run("detect", s1["before"], inf, "--sensor", "s1", "--out", tmp_path / "run")
        assert result.exit_code == 0, result.output
    assert "RuntimeWarning" not in result.output


def test_vessels_refuses_a_scene_of_grd_fill_only(s1, tmp_path):
    raster = read_raster(s1["after"])
    zeros = write_raster(raster.replace(data=np.zeros_like(raster.data)), tmp_path / "zeros.tif")
    out = tmp_path / "out"
    result = _run("vessels", zeros, "--sensor", "s1", "--out", out)
    _refused(result, zeros, "no valid pixel", "sigma0 of exactly 0")
    assert not out.exists()


# -- review export of a damaged GeoPackage -----------------------------------------------------


def test_export_of_a_damaged_geopackage_names_it_and_leaves_it(s1, tmp_path):
    run = tmp_path / "run"
    result = _run("detect", s1["before"], s1["after"], "--sensor", "s1", "--out", run, "--no-chips")
    assert result.exit_code == 0, result.output
    good = (run / "detections.gpkg").read_bytes()
    for name, damaged in (("fake", b"not a geopackage"), ("truncated", good[: len(good) // 3])):
        folder = tmp_path / name
        folder.mkdir()
        gpkg = folder / "detections.gpkg"
        gpkg.write_bytes(damaged)
        before = _sha(gpkg)
        line = _refused(_run("review", "export", folder), gpkg, "cannot read", "left untouched")
        assert "carry" not in line and "move the file away" not in line
        assert _sha(gpkg) == before


# -- options that do not apply -----------------------------------------------------------------


@pytest.mark.parametrize("option", ["--after", "--before"])
def test_detect_refuses_store_dates_without_a_store(s1, tmp_path, option):
    out = tmp_path / "run"
    args = ["detect", s1["before"], s1["after"], "--sensor", "s1", "--out", out]
    result = _run(*args, option, "2024-06-13")
    assert result.exit_code == 2, result.output
    assert f"{option}: only with --store" in result.output
    assert not out.exists()


def test_pfa_out_of_range_names_the_option(s1, tmp_path):
    for value in ("2", "0"):
        result = _run("vessels", s1["after"], "--sensor", "s1", "--pfa", value, "--out", tmp_path)
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--pfa'" in result.output


def test_a_rerun_without_chips_removes_the_chips_the_last_run_wrote(s1, tmp_path):
    run = tmp_path / "run"
    args = ["detect", s1["before"], s1["after"], "--sensor", "s1", "--out", run]
    assert _run(*args).exit_code == 0
    chips = sorted((run / "chips").glob("*.png"))
    assert chips
    result = _run(*args, "--no-chips")
    assert result.exit_code == 0, result.output
    assert not (run / "chips").exists()
    flags = pyogrio.read_dataframe(run / "detections.gpkg", layer="detections")
    assert len(flags) and flags["chip_before"].isna().all()
    # A file portwatch did not write stays, and so does its folder.
    assert _run(*args).exit_code == 0
    mine = run / "chips" / "sketch.png"
    shutil.copy(chips[0], mine)
    assert _run(*args, "--no-chips").exit_code == 0
    assert [p.name for p in (run / "chips").iterdir()] == ["sketch.png"]


def test_vessels_warns_of_pixels_coarser_than_the_defaults_are_set_for(s1, tmp_path):
    from affine import Affine

    raster = read_raster(s1["before"])
    d = raster.data.reshape(raster.count, SIZE // 2, 2, SIZE // 2, 2).mean(axis=(2, 4))
    coarse = write_raster(
        raster.replace(data=d.astype(np.float32), transform=raster.transform * Affine.scale(2)),
        tmp_path / "twenty.tif",
    )
    result = _run("vessels", coarse, "--sensor", "s1", "--out", tmp_path / "coarse")
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output and "20 m pixels" in result.output
    assert str(coarse) in result.output
    fine = _run("vessels", s1["before"], "--sensor", "s1", "--out", tmp_path / "fine")
    assert fine.exit_code == 0 and "warning" not in fine.output
