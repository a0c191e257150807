"""List reviewed flags across an output tree, as CSV or GeoJSON.

Finds every run folder under ``OUT`` (``OUT/<aoi>/<after-date>/detections.gpkg``,
or ``OUT`` itself when it is a run folder) and lists the flags of its
``detections`` and ``departed`` layers with the AOI, the run date and the folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from imagery.errors import InputError, ReviewError
from imagery.review.marks import read_flags
from imagery.schema import STATUSES

__all__ = ["FORMATS", "RunFolder", "export_flags", "find_runs", "load_flags"]

log = logging.getLogger(__name__)

FORMATS = ("csv", "geojson")
_GPKG = "detections.gpkg"


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """A run folder found under an output tree."""

    path: Path
    aoi: str
    run_date: str


def _run_info(gpkg: Path, root: Path) -> RunFolder:
    folder = gpkg.parent
    # OUT/<aoi>/<date>/ names its AOI; a plain run folder (OUT or OUT/<dir>) does not.
    aoi = folder.parent.name if len(folder.relative_to(root).parts) == 2 else ""
    run_date = folder.name
    try:
        if "run" in {name for name, _ in pyogrio.list_layers(gpkg)}:
            table = pyogrio.read_dataframe(gpkg, layer="run", read_geometry=False)
            if len(table):
                aoi = str(table["aoi_id"].iloc[0] or "") or aoi
                after = str(table["after_time"].iloc[0] or "")
                run_date = after[:10] or run_date
    except Exception as exc:  # a damaged file is reported when its flags are read
        log.debug("%s: no run table (%s)", gpkg, exc)
    return RunFolder(path=folder, aoi=aoi, run_date=run_date)


def find_runs(out: str | os.PathLike) -> list[RunFolder]:
    """Run folders under ``out``: ``out`` itself, ``out/<dir>`` and ``out/<aoi>/<date>``.

    Hidden folders (a run being written stages in ``.<name>.*.tmp``) are skipped.
    """
    root = Path(out)
    if not root.is_dir():
        raise InputError(f"{root}: no such output folder")
    found = []
    for pattern in (_GPKG, f"*/{_GPKG}", f"*/*/{_GPKG}"):
        for gpkg in sorted(root.glob(pattern)):
            if any(part.startswith(".") for part in gpkg.relative_to(root).parts[:-1]):
                continue
            found.append(_run_info(gpkg, root))
    return found


def _read_layer(gpkg: Path, layer: str) -> gpd.GeoDataFrame | None:
    """The flags of ``layer``; a file that cannot be read is reported as what it is to an
    export, which only reads it (not as :func:`read_flags` words it for a rerun, which
    would replace it)."""
    try:
        return read_flags(gpkg, layer)
    except ReviewError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        reason = str(cause).split("\n")[0].split("; It might help")[0].rstrip(".")
        raise ReviewError(
            f"{gpkg}: cannot read the flags of layer {layer!r} ({reason}); nothing was "
            "exported, and the file is left untouched"
        ) from exc


def load_flags(
    runs: Iterable[RunFolder], *, statuses: Iterable[str] | None = None
) -> gpd.GeoDataFrame:
    """Flags of ``runs`` in WGS84, with ``aoi``, ``run_date``, ``run_folder``, ``layer``."""
    wanted = set(statuses) if statuses else None
    bad = sorted((wanted or set()) - set(STATUSES))
    if bad:
        raise InputError(f"unknown status {bad}; use one of {', '.join(STATUSES)}")
    frames = []
    for run in runs:
        for layer in ("detections", "departed"):
            flags = _read_layer(run.path / _GPKG, layer)
            if flags is None or flags.empty:
                continue
            if wanted is not None:
                flags = flags[flags["status"].fillna("new").isin(wanted)]
                if flags.empty:
                    continue
            flags = flags.to_crs("EPSG:4326")
            meta = pd.DataFrame(
                {
                    "aoi": run.aoi,
                    "run_date": run.run_date,
                    "run_folder": str(run.path),
                    "layer": layer,
                },
                index=flags.index,
            )
            frames.append(pd.concat([meta, flags], axis=1))
    if not frames:
        columns = ["aoi", "run_date", "run_folder", "layer"]
        return gpd.GeoDataFrame(columns=columns, geometry=[], crs="EPSG:4326")
    merged = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326")


def export_flags(
    out: str | os.PathLike,
    *,
    statuses: Iterable[str] | None = None,
    fmt: str = "csv",
) -> tuple[str, int]:
    """The flags under ``out`` as CSV or GeoJSON text, and how many there are.

    Parameters
    ----------
    out : path-like
        Output tree or a single run folder.
    statuses : iterable of str, optional
        Keep only these review statuses (``new``, ``confirmed``, ``dismissed``).
    fmt : {"csv", "geojson"}
        CSV (no geometry; ``lon``/``lat`` are the centroid) or an RFC 7946 GeoJSON
        FeatureCollection of the flag polygons in WGS84.
    """
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    runs = find_runs(out)
    if not runs:
        raise ReviewError(f"{out}: no run folder (no {_GPKG}) found")
    flags = load_flags(runs, statuses=statuses)
    if fmt == "csv":
        return pd.DataFrame(flags.drop(columns="geometry")).to_csv(index=False), len(flags)
    doc = json.loads(flags.to_json(drop_id=True, na="null"))
    return json.dumps(doc, indent=1) + "\n", len(flags)
