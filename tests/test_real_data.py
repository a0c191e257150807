"""Real Sentinel samples from ../shared/data (skipped with a reason where absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imagery.cli.main import cli
from imagery.io import read_raster
from imagery.sensors import prepare_s1
from imagery.water import water_mask

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
PYROSAR = DATA / "s1_pyrosar" / "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif"

needs_pyrosar = pytest.mark.skipif(
    not PYROSAR.exists(), reason=f"real S1 sample missing: {PYROSAR}"
)


@needs_pyrosar
def test_real_s1_in_db_with_nodata_is_read_and_converted():
    raster = read_raster(PYROSAR)
    assert raster.time is not None and raster.time.year == 2015  # from the file name
    prepared = prepare_s1(raster, source=str(PYROSAR))
    db = 10 * np.log10(prepared.band("VV")[prepared.valid_mask()])
    assert -25 < np.median(db) < 0  # dB detected and converted to linear power
    water = water_mask(prepared)
    assert 0.05 < water.mean() < 0.6  # Camargue lagoons and sea, not all or nothing


@needs_pyrosar
def test_no_ships_on_a_real_wetland_scene(tmp_path):
    result = CliRunner().invoke(
        cli, ["vessels", str(PYROSAR), "--sensor", "s1", "--out", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "vessels.gpkg").exists()
    # The scene has no ships: anything found is a false alarm on real clutter.
    assert result.output.count('"id"') <= 1
