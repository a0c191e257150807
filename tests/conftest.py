"""Shared fixtures: small real GeoTIFFs written to tmp dirs."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from rasterio.transform import from_origin

from imagery.raster import Raster

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def rewritten_pair(paths: dict, folder: Path, edit, *, sensor: str) -> tuple[Path, Path]:
    """A simulated pair's ``before`` and ``after`` files (``write_simulation``'s paths)
    written again into ``folder`` with ``edit(raster)`` applied to a copy of each."""
    from imagery.io import read_raster, write_raster

    out = []
    for name in ("before", "after"):
        raster = read_raster(paths[name], sensor=sensor)
        raster = edit(raster.replace(data=raster.data.copy()))
        out.append(write_raster(raster, folder / f"{name}.tif"))
    return tuple(out)


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` as a module (benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"{name}_bench", ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def utm_raster() -> Raster:
    """A 2-band float32 raster on a UTM 52N grid at 10 m."""
    rng = np.random.default_rng(0)
    data = rng.gamma(4.4, 0.05 / 4.4, size=(2, 120, 150)).astype(np.float32)
    return Raster(
        data=data,
        transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=None,
        time=datetime(2024, 3, 1, 21, 30, tzinfo=UTC),
        sensor="s1",
        band_names=("VV", "VH"),
    )
