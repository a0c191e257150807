"""Writing a run's results: the detections GeoPackage and the change raster.

The layer and field names are a public contract (``imagery.schema``). When the review
package is available (``imagery.review``), a run folder gets the full QGIS review
package; the minimal outputs here are what every run writes regardless.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd

from imagery.errors import InputError, OutputError
from imagery.schema import VESSEL_FIELDS
from imagery.vectors import write_geopackage

__all__ = ["run_folder", "write_pair_outputs", "write_run_folder", "write_vessels"]

log = logging.getLogger(__name__)


def write_vessels(vessels: gpd.GeoDataFrame, out_dir: str | os.PathLike) -> Path:
    """Write ``OUT/vessels.gpkg`` (layer ``vessels``) atomically; return its path."""
    extra = [c for c in ("area_m2",) if c in vessels.columns]
    frame = vessels[[*VESSEL_FIELDS, *extra, "geometry"]]
    return write_geopackage(Path(out_dir) / "vessels.gpkg", {"vessels": frame})


def write_pair_outputs(
    result,
    run_dir: str | os.PathLike,
    *,
    aoi=None,
    history: str | os.PathLike | None = None,
    chips: bool = True,
) -> dict[str, Path]:
    """Write a run's review package into ``run_dir`` (``imagery.review.write_run``).

    ``detections.gpkg`` (layers ``detections``, ``departed``, ``aoi``, ``footprints``),
    ``change.tif`` (COG), display COGs of both scenes, chips, ``project.qgs`` and
    ``report.html``; an analyst's marks in an existing ``detections.gpkg`` are kept.

    Parameters
    ----------
    result : imagery.detect.PairResult, imagery.series.SeriesResult or imagery.tiled.TiledResult
        A tiled result (a whole tile) must carry its change and display COGs
        (``detect_pair_files(change_path=..., display_paths=...)``); they are linked
        into the package, not read whole (:func:`imagery.review.write_run_files`).
    run_dir : path-like
    aoi : imagery.aoi.AOI, optional
    history : path-like, optional
        The AOI's ``history.gpkg`` to update.
    """
    from imagery.review import write_run, write_run_files

    common = {
        "detections": result.detections,
        "departed": result.departed,
        "aoi": aoi,
        "parameters": result.parameters,
        "history": history,
        "chips": chips,
    }
    if hasattr(result, "change_path"):
        if result.change_path is None or result.display_paths is None:
            raise InputError(
                "a tiled run's review package needs its rasters: run detect_pair_files "
                "with change_path and display_paths"
            )
        written = write_run_files(
            Path(run_dir),
            before_path=result.display_paths[0],
            after_path=result.display_paths[1],
            change_path=result.change_path,
            **common,
        )
    else:
        before, after = _ends(result)
        written = write_run(
            Path(run_dir), before=before, after=after, change=result.change, **common
        )
    return {key: Path(path) for key, path in written.paths.items() if path is not None}


def _ends(result):
    if hasattr(result, "scenes"):
        return result.scenes[0], result.scenes[-1]
    return result.before, result.after


def _stamp(result) -> tuple[str | None, object, object]:
    """Sensor, before time and after time of a pair, series or tiled result."""
    if hasattr(result, "change_path"):
        return result.sensor, result.before_time, result.after_time
    before, after = _ends(result)
    return after.sensor, before.time, after.time


#: Written in every run folder of a results tree: sensor and inputs of the run.
RUN_STAMP = "inputs.json"


#: Written into a run folder when a run is given it, before anything else: the pass it
#: holds, so that a second pass of the same day, running at the same time in another
#: worker, is given another folder.
RUN_CLAIM = ".pass.json"
#: Two runs of one sensor whose after passes are this close (seconds) are of one pass
#: (its time read from different products of it); two passes of one sensor over a port
#: on one day (ascending and descending, adjacent orbits) are hours apart.
SAME_PASS_S = 600.0


def _folder_pass(folder: Path) -> tuple[str | None, str | None] | None:
    """(sensor, after time) of the run a folder holds or was claimed for; None if free."""
    import json

    for name in (RUN_STAMP, RUN_CLAIM):
        try:
            doc = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict):
            return doc.get("sensor"), doc.get("after_time")
    return None


def _same_pass(held: tuple[str | None, str | None], sensor: str, after_time) -> bool:
    from datetime import UTC, datetime

    held_sensor, held_time = held
    if held_sensor != sensor:
        return False
    if held_time is None or after_time is None:
        return True  # undated runs of one sensor share their folder, as they always did
    try:
        then = datetime.fromisoformat(held_time)
    except (TypeError, ValueError):
        return False
    now = after_time
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return abs((now - then).total_seconds()) <= SAME_PASS_S


def run_folder(
    out_root: str | os.PathLike,
    aoi_id: str,
    after_time,
    sensor: str | None = None,
    *,
    claim: bool = False,
) -> Path:
    """``OUT/<aoi>/<after-date>/``: where a pair's run lives in a results tree.

    When that folder already holds a run of another pass (a run of the other sensor, or
    of the same sensor over ``SAME_PASS_S`` apart: an S1 pass ascending and one
    descending on the same day), this pass's run goes to
    ``OUT/<aoi>/<after-date>-<sensor>/``, and when that one is taken too, to
    ``OUT/<aoi>/<after-date>-<sensor>-<HHMM>/`` (the after pass's UTC time). A rerun of
    a pass finds its own folder again.

    With ``claim`` the folder is made and marked as this pass's (``RUN_CLAIM``) under a
    lock on ``OUT/<aoi>/.folders.lock``, so that two passes of one day run at once
    (two workers of a batch) are not given one folder.

    Raises
    ------
    OutputError
        Every candidate folder holds another pass (two passes of one sensor within the
        same minute but over ``SAME_PASS_S`` apart cannot happen).
    """
    from imagery.aoi import safe_id

    date = after_time.date().isoformat() if after_time is not None else "undated"
    parent = Path(out_root) / safe_id(aoi_id)
    if sensor is None:
        return parent / date
    names = [date, f"{date}-{sensor}"]
    if after_time is not None:
        names.append(f"{date}-{sensor}-{after_time:%H%M}")

    def pick() -> Path:
        # This pass's own folder first, wherever it lies: a folder before it that has
        # since been removed (or not yet claimed) must not draw a rerun away from it.
        held = [_folder_pass(parent / name) for name in names]
        for name, holder in zip(names, held, strict=True):
            if holder is not None and _same_pass(holder, sensor, after_time):
                return parent / name
        for name, holder in zip(names, held, strict=True):
            if holder is None:
                return parent / name
        raise OutputError(
            f"{parent}: folders {', '.join(names)} all hold runs of other passes; "
            f"nowhere to write the {sensor} pass of {after_time}"
        )

    if not claim:
        return pick()
    import json

    from imagery.atomic import atomic_write_text, locked

    parent.mkdir(parents=True, exist_ok=True)
    with locked(parent / ".folders.lock"):
        folder = pick()
        if _folder_pass(folder) is None:
            folder.mkdir(exist_ok=True)
            claimed = {"sensor": sensor, "after_time": _iso(after_time)}
            atomic_write_text(folder / RUN_CLAIM, json.dumps(claimed))
    return folder


def write_run_folder(
    result, out_root: str | os.PathLike, *, aoi, chips: bool = True, inputs: dict | None = None
) -> dict[str, Path]:
    """Write a run into ``OUT/<aoi>/<after-date>/`` and update ``OUT/<aoi>/history.gpkg``.

    ``inputs`` (e.g. the input files and their checksums) is recorded with the sensor
    in the folder's ``inputs.json``.
    """
    import json

    from imagery.atomic import atomic_write_text

    sensor, before_time, after_time = _stamp(result)
    run_dir = run_folder(
        out_root, aoi.id if aoi is not None else "scene", after_time, sensor, claim=True
    )
    history = run_dir.parent / "history.gpkg"
    paths = write_pair_outputs(result, run_dir, aoi=aoi, history=history, chips=chips)
    stamp = {
        "sensor": sensor,
        "before_time": _iso(before_time),
        "after_time": _iso(after_time),
        **(inputs or {}),
    }
    atomic_write_text(run_dir / RUN_STAMP, json.dumps(stamp, indent=2))
    return {"run_dir": run_dir, **paths}


def _iso(when) -> str | None:
    return when.isoformat() if when is not None else None
