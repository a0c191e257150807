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

from imagery.io import write_raster
from imagery.schema import VESSEL_FIELDS
from imagery.vectors import write_geopackage

__all__ = ["run_folder", "write_pair_outputs", "write_run_folder", "write_vessels"]

log = logging.getLogger(__name__)


def write_vessels(vessels: gpd.GeoDataFrame, out_dir: str | os.PathLike) -> Path:
    """Write ``OUT/vessels.gpkg`` (layer ``vessels``) atomically; return its path."""
    extra = [c for c in ("area_m2",) if c in vessels.columns]
    frame = vessels[[*VESSEL_FIELDS, *extra, "geometry"]]
    return write_geopackage(Path(out_dir) / "vessels.gpkg", {"vessels": frame})


def write_pair_outputs(result, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``detections.gpkg`` (layers ``detections``, ``departed``) and ``change.tif`` (COG).

    Parameters
    ----------
    result : imagery.detect.PairResult
    out_dir : path-like
        The run folder; created if needed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    change = write_raster(result.change, out / "change.tif", cog=True)
    gpkg = write_geopackage(
        out / "detections.gpkg", {"detections": result.detections, "departed": result.departed}
    )
    return {"detections": gpkg, "change": change}


def run_folder(out_root: str | os.PathLike, aoi_id: str, after_time) -> Path:
    """``OUT/<aoi>/<after-date>/``: where a pair's run lives in a results tree."""
    from imagery.aoi import safe_id

    date = after_time.date().isoformat() if after_time is not None else "undated"
    return Path(out_root) / safe_id(aoi_id) / date


def write_run_folder(result, out_root: str | os.PathLike, *, aoi) -> dict[str, Path]:
    """Write a pair's run into ``OUT/<aoi>/<after-date>/`` and return the paths written."""
    run_dir = run_folder(out_root, aoi.id if aoi is not None else "scene", result.after.time)
    paths = write_pair_outputs(result, run_dir)
    return {"run_dir": run_dir, **paths}
