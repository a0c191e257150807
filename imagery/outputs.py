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

from imagery.errors import InputError
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


def _folder_sensor(folder: Path) -> str | None:
    import json

    try:
        return json.loads((folder / RUN_STAMP).read_text()).get("sensor")
    except (OSError, ValueError):
        return None


def run_folder(
    out_root: str | os.PathLike, aoi_id: str, after_time, sensor: str | None = None
) -> Path:
    """``OUT/<aoi>/<after-date>/``: where a pair's run lives in a results tree.

    When that folder already holds a run of the other sensor (an S1 and an S2 pass on
    the same day), this sensor's run goes to ``OUT/<aoi>/<after-date>-<sensor>/``.
    """
    from imagery.aoi import safe_id

    date = after_time.date().isoformat() if after_time is not None else "undated"
    folder = Path(out_root) / safe_id(aoi_id) / date
    if sensor is not None:
        holder = _folder_sensor(folder)
        if holder is not None and holder != sensor:
            return folder.with_name(f"{date}-{sensor}")
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
    run_dir = run_folder(out_root, aoi.id if aoi is not None else "scene", after_time, sensor)
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
