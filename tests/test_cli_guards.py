"""What the commands refuse before they write: inputs overwritten, outputs that cannot be
written, truncated or undated inputs, pairs out of order, another pair's run folder,
a missing store. Real GeoTIFFs in tmp dirs, through the click runner."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pyogrio
import pytest
from click.testing import CliRunner
from test_review_marks import _mark

from imagery.aoi import get_aoi
from imagery.cli.main import cli
from imagery.io import read_raster, write_raster
from imagery.simulate import simulate_pair, write_simulation

SIZE = 192


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _refused(result, *names) -> str:
    """The one-line error of a refused command; it names each of ``names``."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    line = result.output.strip()
    assert line.startswith("portwatch: error: ") and "\n" not in line, line
    for name in names:
        assert str(name) in line, line
    return line


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict[str, Path]:
    """A small S1 pair of Rajin (June 1 and 13), and a later one (July 1 and 13)."""
    out = tmp_path_factory.mktemp("guards")
    june = write_simulation(
        simulate_pair(get_aoi("rajin"), sensor="s1", seed=3, size_px=SIZE), out / "june"
    )
    july = write_simulation(
        simulate_pair(get_aoi("rajin"), sensor="s1", seed=3, size_px=SIZE, start=date(2024, 7, 1)),
        out / "july",
    )
    return {
        "before": june["before"],
        "after": june["after"],
        "july_before": july["before"],
        "july_after": july["after"],
    }


@pytest.fixture(scope="module")
def aligned_pair(tmp_path_factory) -> dict[str, Path]:
    """An S1 pair that co-registers (with 64 px windows)."""
    out = tmp_path_factory.mktemp("coregister")
    return write_simulation(simulate_pair(get_aoi("rajin"), sensor="s1", seed=3, size_px=256), out)


@pytest.fixture(scope="module")
def run_dir(pair, tmp_path_factory) -> Path:
    """The June pair's run folder, written once."""
    out = tmp_path_factory.mktemp("run") / "run"
    result = _run("detect", pair["before"], pair["after"], "--sensor", "s1", "--out", out)
    assert result.exit_code == 0, result.output
    return out


# 1, 2: an output that would replace an input


def test_detect_refuses_an_out_folder_whose_files_would_replace_the_inputs(pair, tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    before = shutil.copy(pair["before"], folder / "before.tif")
    after = shutil.copy(pair["after"], folder / "after.tif")
    kept = _digest(folder)
    for out in (folder, tmp_path / "scenes" / ".." / "scenes"):
        result = _run("detect", before, after, "--sensor", "s1", "--out", out)
        line = _refused(result, before, "would be overwritten")
        assert "another --out" in line
    assert _digest(folder) == kept  # nothing written, nothing replaced


def test_detect_refuses_an_input_linked_from_the_out_folder(pair, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "change.tif").hardlink_to(pair["after"])
    kept = _digest(folder)
    result = _run(
        "detect", pair["before"], folder / "change.tif", "--sensor", "s1", "--out", folder
    )
    _refused(result, folder / "change.tif", "would be overwritten")
    assert _digest(folder) == kept


def test_coregister_refuses_to_write_over_either_input(pair, tmp_path):
    before = shutil.copy(pair["before"], tmp_path / "before.tif")
    after = shutil.copy(pair["after"], tmp_path / "after.tif")
    kept = _digest(tmp_path)
    for out in (after, tmp_path / "sub" / ".." / "before.tif"):
        result = _run("coregister", before, after, "--out", out)
        _refused(result, "would be overwritten", "another --out")
    assert _digest(tmp_path) == kept


# 3: an output that cannot be written


def _unwritable(tmp_path: Path) -> list[Path]:
    """A folder under a plain file (refused up front even as root), and one in /proc."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    return [blocker / "sub", Path("/proc/nonexistent/sub")]


@pytest.mark.parametrize("command", ["vessels", "detect", "coregister", "simulate", "export"])
def test_an_unwritable_output_is_one_line_naming_it(command, pair, aligned_pair, run_dir, tmp_path):
    for out in _unwritable(tmp_path):
        args = {
            "vessels": ["vessels", pair["before"], "--sensor", "s1", "--out", out],
            "detect": ["detect", pair["before"], pair["after"], "--sensor", "s1", "--out", out],
            "coregister": [
                *("coregister", aligned_pair["before"], aligned_pair["after"]),
                *("--out", out / "a.tif", "--window-px", 64),
            ],
            "simulate": [
                "simulate",
                "--aoi",
                "rajin",
                "--sensor",
                "s1",
                "--size",
                128,
                "--out",
                out,
            ],
            "export": ["review", "export", run_dir, "-o", out / "flags.csv"],
        }[command]
        line = _refused(_run(*args), out, "cannot")
        assert "Not a directory" in line or "No such file or directory" in line, line


def test_a_read_only_output_folder_is_refused_before_any_work(pair, tmp_path, monkeypatch):
    """A folder the user may not write in (mode 555 for a non-root user; root may write
    anywhere, so the permission is faked)."""
    import imagery.cli.guards

    readable = imagery.cli.guards.os.access
    monkeypatch.setattr(
        imagery.cli.guards.os,
        "access",
        lambda path, mode: not mode & os.W_OK and readable(path, mode),
    )
    out = tmp_path / "run"
    result = _run("detect", pair["before"], pair["after"], "--sensor", "s1", "--out", out)
    _refused(result, out, f"Permission denied: {tmp_path}")
    assert not out.exists()


def test_coregister_names_its_output_when_writing_it_fails(aligned_pair):
    """Past the up-front checks (as root, /proc passes them): the write's error names the file."""
    out = Path("/proc/aligned.tif")
    paths = aligned_pair
    result = _run("coregister", paths["before"], paths["after"], "--out", out, "--window-px", 64)
    _refused(result, out, "cannot write")


# 4: a truncated input


def test_coregister_names_a_truncated_scene(pair, tmp_path):
    truncated = tmp_path / "trunc.tif"
    data = pair["after"].read_bytes()
    truncated.write_bytes(data[: len(data) // 8])
    for reference, moving in ((truncated, pair["after"]), (pair["before"], truncated)):
        result = _run("coregister", reference, moving, "--out", tmp_path / "x.tif")
        _refused(result, truncated, "may be truncated")
    assert not (tmp_path / "x.tif").exists()


# 5: an undated scene in a results tree


def test_detect_root_refuses_an_undated_scene_before_writing(pair, tmp_path):
    undated = tmp_path / "single_undated.tif"
    write_raster(read_raster(pair["after"]).replace(time=None), undated)
    root = tmp_path / "root"
    result = _run(
        "detect", pair["before"], undated, "--sensor", "s1", "--root", root, "--aoi", "rajin"
    )
    _refused(result, undated, "no acquisition time")
    assert not root.exists()


# 6: a run folder holding another pair


def test_detect_refuses_an_out_folder_holding_another_pair(pair, run_dir, tmp_path):
    kept = _digest(run_dir)
    result = _run(
        "detect", pair["july_before"], pair["july_after"], "--sensor", "s1", "--out", run_dir
    )
    line = _refused(result, run_dir, "another --out")
    assert "holds the run of s1 2024-06-01 -> 2024-06-13" in line
    assert "s1 2024-07-01 -> 2024-07-13" in line
    # A different before date alone is another pair too.
    may = tmp_path / "may.tif"
    before = read_raster(pair["before"])
    write_raster(before.replace(time=before.time - timedelta(days=12)), may)
    result = _run("detect", may, pair["after"], "--sensor", "s1", "--out", run_dir)
    _refused(result, run_dir, "2024-06-01 -> 2024-06-13", "s1 2024-05-20 -> 2024-06-13")
    assert _digest(run_dir) == kept


def test_detect_rerun_of_the_same_pair_keeps_the_marks(pair, tmp_path):
    out = tmp_path / "run"
    args = ["detect", pair["before"], pair["after"], "--sensor", "s1", "--out", out]
    assert _run(*args).exit_code == 0
    gpkg = out / "detections.gpkg"
    flags = pyogrio.read_dataframe(gpkg, layer="detections")
    assert len(flags)
    flag_id = int(flags["id"].iloc[0])
    _mark(gpkg, flag_id, "confirmed", "seen at the quay")
    result = _run(*args)
    assert result.exit_code == 0, result.output
    again = pyogrio.read_dataframe(gpkg, layer="detections").set_index("id")
    assert again.loc[flag_id, ["status", "note"]].tolist() == ["confirmed", "seen at the quay"]


# 7: pairs out of order, one scene twice


def test_detect_refuses_a_reversed_pair_naming_both_scenes(pair, tmp_path):
    out = tmp_path / "run"
    result = _run("detect", pair["after"], pair["before"], "--sensor", "s1", "--out", out)
    line = _refused(result, pair["after"], pair["before"], "2024-06-13", "2024-06-01")
    assert "is not earlier than the after scene" in line
    assert not out.exists()


def test_detect_refuses_one_scene_twice_or_two_of_one_time(pair, tmp_path):
    out = tmp_path / "run"
    twice = pair["after"].parent / ".." / pair["after"].parent.name / "after.tif"
    result = _run("detect", pair["after"], twice, "--sensor", "s1", "--out", out)
    _refused(result, pair["after"], "the same scene given twice")
    copy = shutil.copy(pair["after"], tmp_path / "copy.tif")
    result = _run("detect", pair["after"], copy, "--sensor", "s1", "--out", out)
    _refused(result, pair["after"], copy, "both acquired 2024-06-13")
    assert not out.exists()


# 8: batch on a store that is not there


def test_batch_refuses_a_missing_store_and_an_unknown_aoi(tmp_path):
    missing = tmp_path / "nostore"
    for extra in ([], ["--aoi", "rajin"]):
        result = _run("batch", "--store", missing, "--root", tmp_path / "r", "--plan", *extra)
        _refused(result, missing, "no such imagery store")
    store = tmp_path / "store"
    (store / "rajin").mkdir(parents=True)
    for extra in ([], ["--plan"]):
        result = _run(
            "batch", "--store", store, "--aoi", "nosuch", "--root", tmp_path / "r", *extra
        )
        _refused(result, "unknown AOI id 'nosuch'")
    result = _run("batch", "--store", store, "--aoi", "rajin", "--root", tmp_path / "r", "--plan")
    assert result.exit_code == 0 and "0 job(s)" in result.output
