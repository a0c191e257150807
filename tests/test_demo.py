"""`portwatch demo` end to end: files, summary, and the run folders in real QGIS."""

from __future__ import annotations

import time

import pyogrio
import pytest
from click.testing import CliRunner
from test_review_qgis import _qgis_check, _require_pyqgis

from imagery.cli.main import cli


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["demo", "--out", str(out)])
    return out, result, time.perf_counter() - started


def test_demo_runs_and_summarises(demo_run):
    out, result, seconds = demo_run
    assert result.exit_code == 0, result.output
    assert "Rajin (Najin)" in result.output and "Vostochny (Wrangel Bay)" in result.output
    assert "project.qgs" in result.output
    runs = sorted(out.glob("*/*/detections.gpkg"))
    assert {p.parent.parent.name for p in runs} == {"rajin", "vostochny"}
    for gpkg in runs:
        assert {"detections", "departed", "aoi", "footprints"} <= {
            name for name, _ in pyogrio.list_layers(gpkg)
        }
        for name in ("change.tif", "before.tif", "after.tif", "project.qgs", "report.html"):
            assert (gpkg.parent / name).exists(), name
    # Wall time is not asserted (noisy machine); the budget is one minute.
    print(f"demo took {seconds:.1f} s")


def test_demo_run_folders_open_in_qgis(demo_run, tmp_path):
    _require_pyqgis(tmp_path)
    out, result, _ = demo_run
    assert result.exit_code == 0, result.output
    for gpkg in sorted(out.glob("*/*/detections.gpkg")):
        report = _qgis_check(gpkg.parent, tmp_path)
        assert report["project_read"], report
        flags = pyogrio.read_info(gpkg, layer="detections")["features"]
        assert report["layers"]["detections"]["feature_count"] == flags
        for name, layer in report["layers"].items():
            assert layer["valid"], (gpkg, name)
        assert report["render"]["errors"] == []
