"""``portwatch coregister`` through the click runner, on real GeoTIFFs in tmp dirs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin
from scipy import ndimage as ndi

from imagery.cli.main import cli
from imagery.io import write_raster
from imagery.raster import Raster

SCENE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sen2ships" / "busan"
BANDS = ("B02", "B03", "B04", "B08")
SHIFT = (1.6, -0.9)  # px, content of the moving scene east (x) and up (-y)


def _raster(data: np.ndarray, sensor: str, names: tuple[str, ...]) -> Raster:
    return Raster(
        data.astype(np.float32),
        from_origin(500_000.0, 3_900_000.0, 10.0, 10.0),
        "EPSG:32652",
        nodata=float("nan"),
        sensor=sensor,
        band_names=names,
    )


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory) -> Path:
    """S2 (4 bands, digital numbers) and S1 (VV, dB) pairs with a known shift, plus noise."""
    if not SCENE.exists():
        pytest.skip(f"sample data missing: {SCENE}")
    folder = tmp_path_factory.mktemp("coreg")
    with rasterio.open(SCENE / "B08.tif") as ds:
        window = ((150, 450), (0, 300))  # mostly quays and town: S1 water is excluded
        base = np.stack(
            [rasterio.open(SCENE / f"{b}.tif").read(1, window=window) for b in BANDS]
        ).astype(np.float64)
        assert ds.count == 1
    shifted = np.stack([ndi.shift(b, (SHIFT[1], SHIFT[0]), order=3, mode="nearest") for b in base])
    crop = (slice(None), slice(10, -10), slice(10, -10))
    rng = np.random.default_rng(0)
    write_raster(_raster(base[crop], "s2", BANDS), folder / "s2_ref.tif", cog=False)
    write_raster(_raster(shifted[crop], "s2", BANDS), folder / "s2_mov.tif", cog=False)
    power = (base[3:4] / 10_000.0).clip(1e-3) ** 2
    moved = (shifted[3:4] / 10_000.0).clip(1e-3) ** 2
    for name, data in (("s1_ref", power), ("s1_mov", moved)):
        speckled = data[crop] * rng.gamma(4.4, 1 / 4.4, data[crop].shape)
        write_raster(
            _raster(10 * np.log10(speckled), "s1", ("VV",)), folder / f"{name}.tif", cog=False
        )
    noise = rng.gamma(4.4, 1 / 4.4, (2, 4, 280, 280)) * 1000
    write_raster(_raster(noise[0], "s2", BANDS), folder / "noise_a.tif", cog=False)
    write_raster(_raster(noise[1], "s2", BANDS), folder / "noise_b.tif", cog=False)
    return folder


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_coregister_prints_the_shift_and_writes_a_cog(pair_dir, tmp_path):
    out = tmp_path / "aligned.tif"
    result = _run(
        "coregister", str(pair_dir / "s2_ref.tif"), str(pair_dir / "s2_mov.tif"), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "shift      : x +1.6" in text and "y -0.9" in text
    assert "m east" in text and "m north" in text
    assert "+16." in text and "+9." in text  # metres: 10 m pixels, y down is north up
    assert "model      : translation" in text
    assert "RMSE" in text and "confidence : " in text
    with rasterio.open(out) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.overviews(1), "the aligned COG carries overviews"
        assert ds.count == 4 and ds.dtypes[0] == "float32"
        assert ds.descriptions == BANDS


def test_coregister_json(pair_dir, tmp_path):
    out = tmp_path / "aligned.tif"
    result = _run(
        "coregister",
        str(pair_dir / "s2_ref.tif"),
        str(pair_dir / "s2_mov.tif"),
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # warnings go to stderr
    assert data["shift_x_px"] == pytest.approx(SHIFT[0], abs=0.1)
    assert data["shift_y_px"] == pytest.approx(SHIFT[1], abs=0.1)
    assert data["shift_x_m"] == pytest.approx(10 * SHIFT[0], abs=1.0)
    assert data["shift_y_m"] == pytest.approx(-10 * SHIFT[1], abs=1.0)
    assert data["model"] in ("translation", "affine")
    assert 0.5 < data["confidence"] <= 1.0
    assert data["rmse_px"] < 0.2
    assert data["out"] == str(out)


def test_coregister_sentinel1_in_db(pair_dir, tmp_path):
    out = tmp_path / "aligned_s1.tif"
    result = _run(
        "coregister",
        str(pair_dir / "s1_ref.tif"),
        str(pair_dir / "s1_mov.tif"),
        "--out",
        str(out),
        "--sensor",
        "s1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["sensor"] == "s1"
    assert data["shift_x_px"] == pytest.approx(SHIFT[0], abs=0.25)
    assert data["shift_y_px"] == pytest.approx(SHIFT[1], abs=0.25)
    assert out.exists()


def test_missing_input_exits_1_with_one_line(pair_dir, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "coregister",
            str(tmp_path / "nope.tif"),
            str(pair_dir / "s2_mov.tif"),
            "--out",
            str(tmp_path / "o.tif"),
        ],
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("portwatch: error: ") and "nope.tif" in lines[0]


def test_refusal_exits_1_and_writes_nothing(pair_dir, tmp_path):
    out = tmp_path / "o.tif"
    result = CliRunner().invoke(
        cli,
        [
            "coregister",
            str(pair_dir / "noise_a.tif"),
            str(pair_dir / "noise_b.tif"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "weak correlation" in lines[0]
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_bad_option_is_a_usage_error(pair_dir, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "coregister",
            str(pair_dir / "s2_ref.tif"),
            str(pair_dir / "s2_mov.tif"),
            "--out",
            str(tmp_path / "o.tif"),
            "--sensor",
            "s3",
        ],
    )
    assert result.exit_code == 2


def test_file_that_is_not_a_raster_exits_1_naming_it(pair_dir, tmp_path):
    junk = tmp_path / "junk.tif"
    junk.write_text("not a GeoTIFF")
    result = CliRunner().invoke(
        cli,
        ["coregister", str(pair_dir / "s2_ref.tif"), str(junk), "--out", str(tmp_path / "o.tif")],
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "junk.tif" in lines[0] and "not a raster" in lines[0]
