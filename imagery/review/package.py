"""The run folder: everything an analyst needs to review one pair of scenes in QGIS.

``write_run`` writes, into ``run_dir``::

    detections.gpkg   layers detections, departed, aoi, footprints (+ table run),
                      GeoPackage 1.2, default styles in layer_styles
    before.tif        display COGs on one grid (S1: dB; S2: B04 B03 B02 B08 x 10000)
    after.tif
    change.tif        the change statistic (COG), band 1 styled
    *.qml             default styles of the three rasters (QGIS applies them on load)
    chips/            <id>_before.png, <id>_after.png per flag (departed_<id>_... too)
    project.qgs       the QGIS project, relative paths, print layout "portwatch brief"
    report.html       one self-contained page

Review marks in an existing ``detections.gpkg`` are carried over (see
:mod:`imagery.review.marks`). Everything is built in a hidden sibling folder and moved
into place only when every step succeeded, so a run that fails half way leaves the
previous package, and the analyst's marks, exactly as they were.

QGIS may hold ``detections.gpkg`` open while a rerun replaces it: save your edits
before rerunning, and reload the project (or the layers) afterwards.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from rasterio import features

from imagery import __version__
from imagery.aoi import AOI
from imagery.errors import InputError, ReviewError
from imagery.raster import Raster
from imagery.review import chips as chips_mod
from imagery.review.history import update_history
from imagery.review.marks import SEEN_FIELD, file_fingerprint, merge_marks, read_flags
from imagery.review.project import ProjectLayer, write_project
from imagery.review.report import write_report
from imagery.review.scenes import FILE_CACHE_BYTES, PackageRasters, from_files, from_memory
from imagery.review.styles import (
    COLOURS,
    aoi_style,
    change_style,
    flag_style,
    footprint_style,
    gray_style,
    rgb_style,
    to_qml,
    write_layer_styles,
)
from imagery.schema import DETECTION_FIELDS
from imagery.vectors import write_geopackage

__all__ = ["FLAG_FIELDS", "GROUPS", "PACKAGE_FILES", "RunResult", "write_run", "write_run_files"]

log = logging.getLogger(__name__)

#: Fields of the ``detections`` and ``departed`` layers, in order: the detection
#: contract, the analyst's note, and what the review package adds.
FLAG_FIELDS = (*DETECTION_FIELDS, "note", SEEN_FIELD, "chip_before", "chip_after")
#: Layer-tree groups of project.qgs, top to bottom.
GROUPS = ("flags", "change", "after", "before", "AOI")
GPKG = "detections.gpkg"
#: What a run folder holds (``chips`` a folder, replaced whole), in commit order: the
#: GeoPackage after the files it names.
PACKAGE_FILES = (
    "before.tif",
    "after.tif",
    "change.tif",
    "before.qml",
    "after.qml",
    "change.qml",
    "chips",
    GPKG,
    "project.qgs",
    "report.html",
)
ATTRIBUTION = "Contains modified Copernicus Sentinel data"


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What :func:`write_run` wrote.

    Attributes
    ----------
    run_dir : Path
    paths : dict
        ``detections``, ``before``, ``after``, ``change``, ``project``, ``report``,
        ``chips`` (folder) and ``history`` (when updated) -> path.
    new : int
        Flags seen for the first time in this folder.
    kept_marks : int
        Analyst marks carried over from the previous run (detections and departed).
    unseen_marks : int
        Of those, flags this run no longer detects (kept with ``seen_in_last_run`` false).
    total : int
        Rows of the ``detections`` layer.
    detections, departed : GeoDataFrame
        The layers as written, marks merged, stable ids.
    """

    run_dir: Path
    paths: dict[str, Path]
    new: int
    kept_marks: int
    unseen_marks: int
    total: int
    detections: gpd.GeoDataFrame
    departed: gpd.GeoDataFrame


def _flags_frame(frame: gpd.GeoDataFrame | None, crs, what: str) -> gpd.GeoDataFrame:
    """The detector's frame in the scene CRS, with the fields the review needs."""
    if frame is None:
        frame = gpd.GeoDataFrame({"kind": [], "length_m": []}, geometry=[], crs=crs)
    missing = [f for f in ("kind", "length_m") if f not in frame.columns]
    if missing:
        raise InputError(f"{what}: missing field(s) {missing}; see imagery.schema.DETECTION_FIELDS")
    if frame.crs is None:
        raise InputError(f"{what}: GeoDataFrame has no CRS; give it the scene's ({crs})")
    frame = frame.to_crs(crs) if frame.crs != crs else frame.copy()
    for field in DETECTION_FIELDS:
        if field not in frame.columns:
            frame[field] = None
    for field in ("before_time", "after_time"):
        frame[field] = [
            v.isoformat() if hasattr(v, "isoformat") else (None if v is None else str(v))
            for v in frame[field]
        ]
    if frame.geometry.is_empty.any() or frame.geometry.isna().any():
        raise InputError(f"{what}: some flags have no geometry")
    return frame


def _footprint(raster: Raster, *, max_px: int = 1024):
    """The polygon (scene CRS) where ``raster`` holds valid pixels, at coarse resolution."""
    factor = max(1, math.ceil(max(raster.shape) / max_px))
    valid = raster.valid_mask()[::factor, ::factor].astype(np.uint8)
    transform = raster.transform * Affine.scale(factor)
    polygons = [
        shapely.geometry.shape(geom)
        for geom, value in features.shapes(valid, mask=valid.astype(bool), transform=transform)
        if value == 1
    ]
    if not polygons:
        return None
    return shapely.unary_union(polygons).simplify(raster.res[0] * factor)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


def _date(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d") if when is not None else "unknown date"


def _aoi_frame(aoi: AOI | None, before: Raster, after: Raster, crs) -> gpd.GeoDataFrame:
    if aoi is not None:
        return gpd.GeoDataFrame(
            {
                "id": [aoi.id],
                "name": [aoi.name],
                "country": [aoi.country],
                "locode": [aoi.locode or ""],
                "reason": [aoi.reason],
                "role": ["aoi"],
            },
            geometry=[aoi.geometry_in(crs)],
            crs=crs,
        )
    scene = shapely.box(*after.bounds)
    return gpd.GeoDataFrame(
        {
            "id": ["scene"],
            "name": ["scene footprint"],
            "country": [""],
            "locode": [""],
            "reason": ["no AOI given: the scene's extent"],
            "role": ["scene"],
        },
        geometry=[scene],
        crs=crs,
    )


def _footprints_frame(before: Raster, after: Raster, crs) -> gpd.GeoDataFrame:
    rows, geoms = [], []
    for role, raster in (("before", before), ("after", after)):
        footprint = _footprint(raster)
        if footprint is None:
            continue
        rows.append({"role": role, "time": _iso(raster.time), "sensor": raster.sensor or ""})
        geoms.append(footprint)
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["role", "time", "sensor"]), geometry=geoms, crs=crs
    )


def _declare_polygons(gpkg: Path, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Give empty layers a polygon type (OGR writes GEOMETRY), so QGIS can style them."""
    empty = [
        name
        for name, frame in layers.items()
        if isinstance(frame, gpd.GeoDataFrame) and frame.empty
    ]
    if not empty:
        return
    con = sqlite3.connect(gpkg)
    try:
        with con:
            con.executemany(
                "UPDATE gpkg_geometry_columns SET geometry_type_name = 'POLYGON' "
                "WHERE table_name = ? AND geometry_type_name = 'GEOMETRY'",
                [(name,) for name in empty],
            )
    finally:
        con.close()


def _layer_frame(merged: gpd.GeoDataFrame, chip_names: Mapping[int, list[str]]):
    frame = merged.copy()
    frame["chip_before"] = [
        f"chips/{chip_names[i][0]}" if i in chip_names else None for i in frame["id"]
    ]
    frame["chip_after"] = [
        f"chips/{chip_names[i][-1]}" if i in chip_names else None for i in frame["id"]
    ]
    extra = [c for c in frame.columns if c not in FLAG_FIELDS and c != frame.geometry.name]
    ordered = frame[[*FLAG_FIELDS, *extra, frame.geometry.name]]
    return gpd.GeoDataFrame(ordered, geometry=frame.geometry.name, crs=merged.crs)


def _years(before: Raster, after: Raster) -> str:
    years = sorted({t.year for t in (before.time, after.time) if t is not None})
    if not years:
        return str(datetime.now(UTC).year)
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


#: A staging folder this old (seconds) was left by a run that died (killed, power cut);
#: younger ones may belong to a run still writing.
STALE_STAGING_S = 3600.0


def _remove_stale_staging(run_dir: Path) -> None:
    """Delete staging folders of ``run_dir`` that crashed runs left beside it."""
    now = time.time()
    for leftover in run_dir.parent.glob(f".{glob.escape(run_dir.name)}.*.tmp"):
        try:
            stale = leftover.is_dir() and now - leftover.stat().st_mtime > STALE_STAGING_S
        except OSError:
            continue
        if stale:
            log.info("removing %s, left by an interrupted run", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


def _commit(staging: Path, run_dir: Path, names: list[str]) -> None:
    """Move the staged files into ``run_dir``; the GeoPackage after the files it names."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        source, target = staging / name, run_dir / name
        if source.is_dir():
            old = staging / f"{name}.old"
            if target.exists():
                os.replace(target, old)
            os.replace(source, target)
        else:
            os.replace(source, target)


def write_run(
    run_dir: str | os.PathLike,
    *,
    before: Raster,
    after: Raster,
    change: Raster,
    detections: gpd.GeoDataFrame,
    departed: gpd.GeoDataFrame | None,
    aoi: AOI | None,
    parameters: dict,
    history: str | os.PathLike | None = None,
    chips: bool = True,
    chip_size_px: int = 192,
    match_tolerance_m: float = 20.0,
) -> RunResult:
    """Write (or refresh) a run folder for review in QGIS, keeping the analyst's marks.

    Parameters
    ----------
    run_dir : path-like
        The run folder (``OUT/<aoi>/<after-date>/`` from the CLI).
    before, after : Raster
        Prepared, co-registered scenes on one grid (:func:`imagery.sensors.prepare`).
    change : Raster
        Signed change statistic on the same grid; band 1 is styled (0 = no change).
    detections, departed : GeoDataFrame
        Flags new in ``after`` and vessels gone since ``before``, polygons, fields of
        :data:`imagery.schema.DETECTION_FIELDS`; reprojected to the scene CRS if needed.
    aoi : AOI or None
        The port; None puts the scene footprint in the ``aoi`` layer.
    parameters : dict
        JSON-safe run parameters (detector settings, co-registration result), stored
        in the ``run`` table and shown in the report.
    history : path-like, optional
        ``OUT/<aoi>/history.gpkg`` to update after the run folder is written.
    chips : bool
        Write the PNG chips (and embed them in the report).
    chip_size_px : int
        Side of each chip.
    match_tolerance_m : float
        Smallest centroid distance for carrying a mark over (see :mod:`~imagery.review.marks`).

    Returns
    -------
    RunResult

    Raises
    ------
    InputError
        Rasters off one grid, flags without the needed fields or CRS.
    ReviewError
        The previous ``detections.gpkg`` cannot be read, or changed while we ran.
    """
    return _write_package(
        Path(run_dir),
        from_memory(before, after, change),
        detections=detections,
        departed=departed,
        aoi=aoi,
        parameters=parameters,
        history=history,
        chips=chips,
        chip_size_px=chip_size_px,
        match_tolerance_m=match_tolerance_m,
    )


def write_run_files(
    run_dir: str | os.PathLike,
    *,
    before_path: str | os.PathLike,
    after_path: str | os.PathLike,
    change_path: str | os.PathLike,
    detections: gpd.GeoDataFrame,
    departed: gpd.GeoDataFrame | None,
    aoi: AOI | None,
    parameters: dict,
    history: str | os.PathLike | None = None,
    chips: bool = True,
    chip_size_px: int = 192,
    match_tolerance_m: float = 20.0,
) -> RunResult:
    """:func:`write_run` for a whole tile: rasters already written as files, never read whole.

    The package is the same as :func:`write_run`'s. Its rasters are the display and
    change COGs a tiled run wrote (:func:`imagery.tiled.detect_pair_files` with
    ``change_path`` and ``display_paths``), linked (or copied) into the run folder;
    chips read their own windows, and the overview map, the footprints, the stretch and
    the change limits come from a decimated read and a sample of the files
    (:mod:`imagery.review.scenes`). Memory stays at a few megabytes a picture whatever
    the tile's size.

    Parameters
    ----------
    before_path, after_path : path-like
        Display COGs (:func:`imagery.review.display.display_raster`) of the two scenes
        on one grid, the after scene co-registered onto the before scene's.
    change_path : path-like
        The change COG on the same grid, band 1 the signed change.
    others
        As for :func:`write_run`.

    Returns
    -------
    RunResult

    Raises
    ------
    InputError
        Files off one grid, not display rasters, or flags without the needed fields or CRS.
    ReviewError
        The previous ``detections.gpkg`` cannot be read, or changed while we ran.
    """
    # GDAL's default block cache (5 % of RAM) would keep every block the chips read.
    with rasterio.Env(GDAL_CACHEMAX=FILE_CACHE_BYTES):
        return _write_package(
            Path(run_dir),
            from_files(before_path, after_path, change_path),
            detections=detections,
            departed=departed,
            aoi=aoi,
            parameters=parameters,
            history=history,
            chips=chips,
            chip_size_px=chip_size_px,
            match_tolerance_m=match_tolerance_m,
        )


def _write_package(
    run_dir: Path,
    rasters: PackageRasters,
    *,
    detections: gpd.GeoDataFrame,
    departed: gpd.GeoDataFrame | None,
    aoi: AOI | None,
    parameters: dict,
    history: str | os.PathLike | None,
    chips: bool,
    chip_size_px: int,
    match_tolerance_m: float,
) -> RunResult:
    before, after = rasters.before, rasters.after
    crs = after.crs
    json.dumps(parameters)  # fail early, before any work, on a parameter JSON cannot hold
    det_in = _flags_frame(detections, crs, "detections")
    dep_in = _flags_frame(departed, crs, "departed")
    previous_gpkg = run_dir / GPKG
    previous_det = read_flags(previous_gpkg, "detections")  # checkpoints QGIS's WAL first
    previous_dep = read_flags(previous_gpkg, "departed")
    fingerprint = file_fingerprint(previous_gpkg)
    det_merge = merge_marks(previous_det, det_in, min_tolerance_m=match_tolerance_m)
    dep_merge = merge_marks(previous_dep, dep_in, min_tolerance_m=match_tolerance_m)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", suffix=".tmp", dir=run_dir.parent))
    try:
        paths = _build(
            staging,
            rasters,
            det=det_merge.frame,
            dep=dep_merge.frame,
            aoi=aoi,
            parameters=parameters,
            chips=chips,
            chip_size_px=chip_size_px,
            counts={
                "new": det_merge.new,
                "kept_marks": det_merge.kept_marks + dep_merge.kept_marks,
            },
        )
        if file_fingerprint(previous_gpkg) != fingerprint:
            raise ReviewError(
                f"{previous_gpkg}: changed while portwatch was running (edits saved in QGIS?); "
                "nothing was replaced, run again to merge the new marks"
            )
        _commit(staging, run_dir, list(paths))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_stale_staging(run_dir)
    out = {key: run_dir / name for key, name in paths.items()}
    result_paths = {
        "detections": out[GPKG],
        "before": out["before.tif"],
        "after": out["after.tif"],
        "change": out["change.tif"],
        "project": out["project.qgs"],
        "report": out["report.html"],
    }
    if chips:
        result_paths["chips"] = run_dir / "chips"
    detections_out = read_flags(out[GPKG], "detections")
    departed_out = read_flags(out[GPKG], "departed")
    if history is not None:
        if before.time is None or after.time is None:
            raise InputError("history needs the acquisition times of both scenes")
        update_history(
            history,
            run_dir=run_dir,
            detections=detections_out,
            departed=departed_out,
            before_date=_date(before.time),
            after_date=_date(after.time),
            min_tolerance_m=match_tolerance_m,
        )
        result_paths["history"] = Path(history)
    log.info(
        "%s: %d flags (%d new, %d marks kept), %d departed",
        run_dir,
        det_merge.total,
        det_merge.new,
        det_merge.kept_marks + dep_merge.kept_marks,
        len(departed_out),
    )
    return RunResult(
        run_dir=run_dir,
        paths=result_paths,
        new=det_merge.new,
        kept_marks=det_merge.kept_marks + dep_merge.kept_marks,
        unseen_marks=det_merge.unseen_marks + dep_merge.unseen_marks,
        total=det_merge.total,
        detections=detections_out,
        departed=departed_out,
    )


def _build(
    staging: Path,
    rasters: PackageRasters,
    *,
    det: gpd.GeoDataFrame,
    dep: gpd.GeoDataFrame,
    aoi: AOI | None,
    parameters: dict,
    chips: bool,
    chip_size_px: int,
    counts: Mapping[str, int],
) -> dict[str, str]:
    """Write every file of the package into ``staging``; return key -> file name, in commit order."""
    before, after = rasters.before, rasters.after
    crs = after.crs
    stretch = rasters.stretch
    rasters.write(staging)
    if stretch.bands == (1,):
        raster_style = gray_style(vmin=stretch.vmin, vmax=stretch.vmax)
    else:
        raster_style = rgb_style(vmin=stretch.vmin, vmax=stretch.vmax)
    styles = {
        "before": raster_style,
        "after": raster_style,
        "change": change_style(
            clear=rasters.change_clear,
            max_abs=rasters.change_max,
            unit="dB" if after.sensor == "s1" else "",
        ),
    }
    for name, style in styles.items():
        (staging / f"{name}.qml").write_text(to_qml(style), encoding="utf-8")

    chip_names: dict[int, list[str]] = {}
    departed_names: dict[int, list[str]] = {}
    if chips:
        scenes = [
            (role, source, stretch)
            for role, source in zip(("before", "after"), rasters.chip_sources, strict=True)
        ]
        chip_names = chips_mod.write_chips(staging / "chips", det, scenes, size_px=chip_size_px)
        departed_names = chips_mod.write_chips(
            staging / "chips", dep, scenes, prefix="departed_", size_px=chip_size_px
        )

    det_layer = _layer_frame(det, chip_names)
    dep_layer = _layer_frame(dep, departed_names)
    aoi_layer = _aoi_frame(aoi, before, after, crs)
    footprints = _footprints_frame(before, after, crs)
    aoi_name = aoi.name if aoi is not None else "scene"
    run_table = pd.DataFrame(
        [
            {
                "aoi_id": aoi.id if aoi is not None else "",
                "aoi_name": aoi_name,
                "sensor": after.sensor or "",
                "before_time": _iso(before.time),
                "after_time": _iso(after.time),
                "crs": crs.to_string(),
                "portwatch_version": __version__,
                "written_at": _iso(datetime.now(UTC).replace(microsecond=0)),
                "detections": len(det_layer),
                "departed": len(dep_layer),
                "new_flags": counts["new"],
                "kept_marks": counts["kept_marks"],
                "parameters": json.dumps(parameters, sort_keys=True),
            }
        ]
    )
    vector_roots = {
        "detections": flag_style(list(det_layer.columns[:-1])),
        "departed": flag_style(list(dep_layer.columns[:-1]), departed=True),
        "aoi": aoi_style(list(aoi_layer.columns[:-1])),
        "footprints": footprint_style(list(footprints.columns[:-1])),
    }
    vector_styles = {name: to_qml(root) for name, root in vector_roots.items()}
    layers = {
        "detections": det_layer,
        "departed": dep_layer,
        "aoi": aoi_layer,
        "footprints": footprints,
        "run": run_table,
    }

    def finish(tmp: Path) -> None:
        _declare_polygons(tmp, layers)
        write_layer_styles(tmp, vector_styles)

    write_geopackage(staging / GPKG, layers, before_commit=finish)

    extent = tuple(aoi_layer.total_bounds) if aoi is not None else after.bounds
    title = f"{aoi_name}: {_date(before.time)} to {_date(after.time)}"
    attribution = f"{ATTRIBUTION} {_years(before, after)}"
    vec_extent = tuple(aoi_layer.total_bounds)

    def wkb(name: str) -> str:
        # A footprint cut by a gap in the swath is a MultiPolygon, and OGR then declares
        # the whole layer so; the project must say what the GeoPackage says.
        frame = layers[name]
        multi = len(frame) and (frame.geom_type == "MultiPolygon").any()
        return "MultiPolygon" if multi else "Polygon"

    project_layers = [
        ProjectLayer(
            "detections",
            f"./{GPKG}|layername=detections",
            "ogr",
            vector_roots["detections"],
            "flags",
            vec_extent,
            wkb_type=wkb("detections"),
        ),
        ProjectLayer(
            "departed",
            f"./{GPKG}|layername=departed",
            "ogr",
            vector_roots["departed"],
            "flags",
            vec_extent,
            wkb_type=wkb("departed"),
        ),
        ProjectLayer("change", "./change.tif", "gdal", styles["change"], "change", after.bounds),
        ProjectLayer("after", "./after.tif", "gdal", styles["after"], "after", after.bounds),
        ProjectLayer(
            "before",
            "./before.tif",
            "gdal",
            styles["before"],
            "before",
            after.bounds,
            visible=False,
        ),
        ProjectLayer(
            "aoi",
            f"./{GPKG}|layername=aoi",
            "ogr",
            vector_roots["aoi"],
            "AOI",
            vec_extent,
            wkb_type=wkb("aoi"),
        ),
        ProjectLayer(
            "footprints",
            f"./{GPKG}|layername=footprints",
            "ogr",
            vector_roots["footprints"],
            "AOI",
            after.bounds,
            wkb_type=wkb("footprints"),
        ),
    ]
    write_project(
        staging / "project.qgs",
        layers=project_layers,
        groups=GROUPS,
        crs=crs,
        extent=extent,
        title=f"portwatch: {title}",
        subtitle=(
            f"{(after.sensor or '').upper()} before {_iso(before.time)}, after {_iso(after.time)}; "
            f"{len(det_layer)} flags ({counts['new']} new this run), {len(dep_layer)} departed"
        ),
        attribution=attribution,
        footer=f"portwatch {__version__}. Flags are candidates for review, not confirmed.",
    )

    overview = chips_mod.render_overview(
        after,
        stretch,
        [
            (aoi_layer, COLOURS["aoi"]),
            (dep_layer, COLOURS["departed"]),
            (det_layer[det_layer["kind"] == "cargo"], COLOURS["cargo"]),
            (det_layer[det_layer["kind"] != "cargo"], COLOURS["vessel"]),
        ],
    )
    chips_dir = staging / "chips"
    facts = [
        ("AOI", aoi_name if aoi is None else f"{aoi.name} [{aoi.id}], {aoi.country}"),
        ("sensor", (after.sensor or "unknown").upper()),
        ("before", _iso(before.time) or "unknown"),
        ("after", _iso(after.time) or "unknown"),
        ("CRS", crs.to_string()),
        (
            "flags",
            f"{len(det_layer)} ({counts['new']} new this run, "
            f"{counts['kept_marks']} review marks kept)",
        ),
        ("departed", str(len(dep_layer))),
    ]
    write_report(
        staging / "report.html",
        title=f"portwatch: {title}",
        facts=facts,
        overview=overview,
        detections=det_layer,
        departed=dep_layer,
        chips={i: [chips_dir / n for n in names] for i, names in chip_names.items()},
        departed_chips={i: [chips_dir / n for n in names] for i, names in departed_names.items()},
        parameters=parameters,
        attribution=attribution,
        version=__version__,
    )
    names = [name for name in PACKAGE_FILES if chips or name != "chips"]
    return {name: name for name in names}
