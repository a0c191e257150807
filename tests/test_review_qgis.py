"""The review package in real QGIS: PyQGIS opens project.qgs, renders it, edits a mark.

PyQGIS lives in the system Python (Debian's ``python3-qgis``), not in the project's
venv, so ``tests/qgis_check.py`` runs through ``/usr/bin/python3`` in a subprocess
under ``QT_QPA_PLATFORM=offscreen`` and reports what QGIS sees as JSON. Skipped where
PyQGIS is absent, except when ``PORTWATCH_REQUIRE_QGIS=1`` (set by ``.ci/run``),
where its absence fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_review_data import CRS, run_inputs

from imagery.review import write_run

pytestmark = pytest.mark.qgis

QGIS_PYTHON = os.environ.get("PORTWATCH_QGIS_PYTHON", "/usr/bin/python3")
CHECK = Path(__file__).with_name("qgis_check.py")


def _env(tmp_path: Path) -> dict:
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700, exist_ok=True)
    # QGIS leaves an empty qt_temp-* folder in TMPDIR at every start: keep it in pytest's
    # own temporary tree rather than litter the machine's /tmp.
    scratch = tmp_path / "qt-tmp"
    scratch.mkdir(exist_ok=True)
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_RUNTIME_DIR": str(runtime),
        "TMPDIR": str(scratch),
    }


def _require_pyqgis(tmp_path: Path) -> None:
    try:
        probe = subprocess.run(
            [QGIS_PYTHON, "-c", "import qgis.core"],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        reason = probe.stderr.strip().splitlines()[-1] if probe.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = str(exc)
    if not reason:
        return
    message = (
        f"PyQGIS not available through {QGIS_PYTHON} ({reason}); "
        "install Debian's python3-qgis and qgis-providers"
    )
    if os.environ.get("PORTWATCH_REQUIRE_QGIS") == "1":
        pytest.fail(message + " (PORTWATCH_REQUIRE_QGIS=1)")
    pytest.skip(message)


def _qgis_check(run_dir: Path, tmp_path: Path, *extra: str) -> dict:
    proc = subprocess.run(
        [QGIS_PYTHON, str(CHECK), str(run_dir), str(tmp_path / "qgis_"), *extra],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from qgis_check.py; stderr: {proc.stderr}"
    report = json.loads(lines[-1])
    report["stderr"] = proc.stderr
    return report


def test_project_opens_styled_valid_and_renders_in_qgis(tmp_path):
    _require_pyqgis(tmp_path)
    run_dir = tmp_path / "out" / "testport" / "2024-03-13"
    result = write_run(run_dir, **run_inputs("s1"))
    report = _qgis_check(run_dir, tmp_path, "--edit")

    assert report["project_read"], report
    assert report["project_crs"] == CRS
    assert report["absolute_paths"] is False
    assert report["groups"] == ["flags", "change", "after", "before", "AOI"]
    assert report["tree"]["flags"] == ["detections", "departed"]
    assert report["tree"]["AOI"] == ["aoi", "footprints"]
    layers = report["layers"]
    assert set(layers) == {
        "detections",
        "departed",
        "change",
        "after",
        "before",
        "aoi",
        "footprints",
    }
    for name, layer in layers.items():
        assert layer["valid"], name
        assert layer["crs"] == CRS, name
    # our styles, not QGIS's defaults (single symbol / greyscale min-max)
    assert layers["detections"]["renderer"] == "RuleRenderer"
    assert [rule[0] for rule in layers["detections"]["rules"]] == ["vessel", "cargo", "dismissed"]
    assert layers["detections"]["labels"] is True
    assert layers["detections"]["widgets"] == {
        "status": "ValueMap",
        "note": "TextEdit",
        "chip_after": "ExternalResource",
    }
    assert layers["change"]["renderer"] == "singlebandpseudocolor"
    assert layers["after"]["renderer"] == "singlebandgray"
    assert layers["detections"]["feature_count"] == len(result.detections) == 3
    assert layers["departed"]["feature_count"] == len(result.departed) == 1
    # the same files loaded on their own get the default styles too
    alone = report["standalone"]
    assert alone["detections"]["renderer"] == "RuleRenderer"
    assert alone["detections"]["widgets"]["status"] == "ValueMap"
    assert alone["footprints"]["renderer"] == "RuleRenderer"
    assert alone["change"]["renderer"] == "singlebandpseudocolor"
    assert alone["before"]["renderer"] == "singlebandgray"
    aoi_bounds = result.detections.total_bounds  # inside the AOI
    x0, y0, x1, y1 = report["default_view_extent"]
    assert x0 <= aoi_bounds[0] and y0 <= aoi_bounds[1] and x1 >= aoi_bounds[2]
    assert y1 >= aoi_bounds[3]

    layout = report["layout"]
    assert layout["exists"] and layout["page_mm"] == [297.0, 210.0]
    assert {
        "QgsLayoutItemMap",
        "QgsLayoutItemLegend",
        "QgsLayoutFrame",
        "QgsLayoutItemScaleBar",
    } <= set(layout["items"])
    assert layout["table_layer"] == "detections" and layout["table_rows"] == 3
    assert any("Contains modified Copernicus Sentinel data 2024" in t for t in layout["labels"])
    assert any("2024-03-01" in t and "2024-03-13" in t for t in layout["labels"])
    assert layout["export_ok"]

    # the rendered map is a picture, not a blank canvas
    assert report["render"]["errors"] == []
    pixels = np.asarray(Image.open(report["render"]["png"]).convert("RGB"), dtype=float)
    assert pixels.shape == (450, 600, 3)
    assert pixels.std() > 5 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    page = np.asarray(Image.open(layout["png"]).convert("RGB"), dtype=float)
    assert page.std() > 5

    # QGIS said nothing about our files while loading them
    noisy = [m for m in report["messages"] if m["level"] >= 1]
    assert noisy == [], noisy
    assert "ERROR" not in report["stderr"] and "Invalid" not in report["stderr"]

    # an analyst's edit made in QGIS survives a rerun
    edit = report["edit"]
    assert edit["committed"], edit
    rerun = write_run(run_dir, **run_inputs("s1"))
    marked = rerun.detections.set_index("id").loc[edit["id"]]
    assert (marked["status"], marked["note"]) == ("confirmed", "checked in QGIS")
    assert rerun.new == 0 and rerun.total == 3


def test_a_whole_tile_package_opens_and_renders_in_qgis(tmp_path, monkeypatch):
    """A pair run window by window (``portwatch detect`` on scenes over its whole-scene
    limit) writes a package QGIS reads as it reads one written from memory."""
    from click.testing import CliRunner

    import imagery.cli.detect as detect_cli
    import imagery.tiled
    from imagery.aoi import get_aoi
    from imagery.cli.main import cli
    from imagery.simulate import simulate_pair, write_simulation

    _require_pyqgis(tmp_path)
    sim = simulate_pair(get_aoi("nakhodka"), sensor="s1", seed=12, size_px=512)
    paths = write_simulation(sim, tmp_path / "pair")
    monkeypatch.setattr(detect_cli, "MAX_WHOLE_SCENE_PX", 512 * 512 - 1)
    tiled = imagery.tiled.detect_pair_files
    monkeypatch.setattr(
        imagery.tiled,
        "detect_pair_files",
        lambda *a, **k: tiled(*a, **{**k, "chunk_px": 256}),
    )
    run_dir = tmp_path / "run"
    args = ["detect", str(paths["before"]), str(paths["after"]), "--sensor", "s1"]
    result = CliRunner().invoke(cli, [*args, "--out", str(run_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = _qgis_check(run_dir, tmp_path)
    assert report["project_read"], report
    layers = report["layers"]
    for name in ("detections", "departed", "change", "after", "before", "footprints"):
        assert layers[name]["valid"], name
    assert layers["change"]["renderer"] == "singlebandpseudocolor"
    assert layers["after"]["renderer"] == "singlebandgray"
    flags = layers["detections"]["feature_count"]
    import pyogrio

    assert flags >= 3 and flags == len(
        pyogrio.read_dataframe(run_dir / "detections.gpkg", layer="detections")
    )
    assert report["render"]["errors"] == []
    pixels = np.asarray(Image.open(report["render"]["png"]).convert("RGB"), dtype=float)
    assert pixels.std() > 5
    noisy = [m for m in report["messages"] if m["level"] >= 1]
    assert noisy == [], noisy
