"""Writing a simulation to a folder: scenes as COGs, truth as GeoJSON, a JSON record.

A pair is written as ``before.tif``, ``after.tif``, ``truth.geojson`` (objects new in
the after scene), ``departed.geojson``, ``occluded.geojson``, ``objects_before.geojson``,
``objects_after.geojson``, ``water.tif`` and ``simulation.json``. A series is written as
``tNN_YYYY-MM-DD.tif`` per date, ``truth.geojson``/``departed.geojson``/
``occluded.geojson`` holding every pair (property ``after_index``) plus one
``truth_tNN.geojson``/``departed_tNN.geojson`` per pair, and ``objects.geojson`` (property
``scene_index``) plus ``objects_tNN.geojson`` per date. GeoJSON is RFC 7946: WGS84
longitude/latitude, counter-clockwise exteriors, 7 decimals. Every file is written
atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

from imagery.atomic import atomic_write_text
from imagery.errors import RasterIOError
from imagery.io import write_raster
from imagery.raster import Raster
from imagery.simulate.core import Simulation
from imagery.simulate.truth import iso

__all__ = ["simulation_record", "write_geojson", "write_simulation"]

FORMAT_VERSION = 1


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_geojson(frame: gpd.GeoDataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as an RFC 7946 FeatureCollection (WGS84 lon/lat), atomically."""
    wgs84 = frame.to_crs("EPSG:4326") if len(frame) else frame
    props = pd.DataFrame(wgs84.drop(columns=wgs84.geometry.name))
    features = []
    for record, geom in zip(props.to_dict("records"), wgs84.geometry, strict=True):
        geom = shapely.orient_polygons(shapely.transform(geom, lambda c: np.round(c, 7)))
        features.append({"type": "Feature", "properties": record, "geometry": mapping(geom)})
    doc = {"type": "FeatureCollection", "features": features}
    return atomic_write_text(path, json.dumps(doc, default=_plain, separators=(",", ":")))


def _scene_names(sim: Simulation) -> list[tuple[str, str]]:
    if not sim.is_series:
        return [("before", "before.tif"), ("after", "after.tif")]
    return [(f"t{i:02d}", f"t{i:02d}_{t.date().isoformat()}.tif") for i, t in enumerate(sim.times)]


def _concat(frames) -> gpd.GeoDataFrame:
    frames = list(frames)
    kept = [f for f in frames if len(f)] or frames[:1]
    return gpd.GeoDataFrame(
        pd.concat(kept, ignore_index=True), geometry="geometry", crs=frames[0].crs
    )


def write_simulation(sim: Simulation, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``sim`` into ``out_dir`` (created if needed); return key -> path.

    Keys: ``before``/``after`` (pair) or ``t00``, ``t01``... (series); ``truth``,
    ``departed``, ``occluded``, ``water``, ``simulation``; ``objects_before``/``objects_after``
    (pair) or ``objects`` and ``objects_tNN``, ``truth_tNN``, ``departed_tNN`` (series).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RasterIOError(f"{out}: exists and is not a folder; give --out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RasterIOError(f"{out}: cannot create the output folder ({exc.strerror})") from exc
    paths: dict[str, Path] = {}
    for i, ((key, name), scene) in enumerate(zip(_scene_names(sim), sim.scenes, strict=True)):
        dx, dy = sim.shifts_px[i]
        tags = {
            "SIMULATED": "portwatch simulate",
            "SIM_SEED": str(sim.seed),
            "SIM_AOI": sim.aoi_id,
            "SIM_SHIFT_PX": f"{dx} {dy}",
            "SIM_CALIBRATION_DB": str(sim.calibration_db[i]),
        }
        paths[key] = write_raster(scene, out / name, tags=tags)
    water = Raster(
        data=sim.water.astype(np.uint8),
        transform=sim.transform,
        crs=sim.crs,
        band_names=("water",),
    )
    paths["water"] = write_raster(water, out / "water.tif", resampling="nearest")

    paths["truth"] = write_geojson(_concat(sim.truth), out / "truth.geojson")
    paths["departed"] = write_geojson(_concat(sim.departed), out / "departed.geojson")
    paths["occluded"] = write_geojson(_concat(sim.occluded), out / "occluded.geojson")
    if sim.is_series:
        for i, (new, gone) in enumerate(zip(sim.truth, sim.departed, strict=True), start=1):
            paths[f"truth_t{i:02d}"] = write_geojson(new, out / f"truth_t{i:02d}.geojson")
            paths[f"departed_t{i:02d}"] = write_geojson(gone, out / f"departed_t{i:02d}.geojson")
        paths["objects"] = write_geojson(_concat(sim.objects), out / "objects.geojson")
        for i, frame in enumerate(sim.objects):
            paths[f"objects_t{i:02d}"] = write_geojson(frame, out / f"objects_t{i:02d}.geojson")
    else:
        paths["objects_before"] = write_geojson(sim.objects[0], out / "objects_before.geojson")
        paths["objects_after"] = write_geojson(sim.objects[1], out / "objects_after.geojson")
    record = simulation_record(sim, {k: p.name for k, p in paths.items()})
    paths["simulation"] = atomic_write_text(
        out / "simulation.json", json.dumps(record, indent=2, default=_plain) + "\n"
    )
    return paths


def simulation_record(sim: Simulation, files: dict[str, str]) -> dict:
    """The contents of ``simulation.json``: settings, per-scene facts, per-pair counts."""
    res = sim.resolution_m
    names = dict(_scene_names(sim))
    keys = [k for k, _ in _scene_names(sim)]
    clouds = sim.cloud_fraction
    scenes = []
    for i, (scene, acq) in enumerate(zip(sim.scenes, sim.acquisitions, strict=True)):
        objs = sim.objects[i]
        dx, dy = acq.shift_px
        scenes.append(
            {
                "index": i,
                "file": names[keys[i]],
                "time": iso(scene.time),
                "shift_px": [dx, dy],
                "shift_m": [round(dx * res, 3), round(-dy * res, 3)],
                "calibration_db": acq.calibration_db,
                "gains": list(acq.gains),
                "offsets": list(acq.offsets),
                "orbit": acq.orbit,
                "look_azimuth_deg": None
                if np.isnan(acq.look_azimuth_deg)
                else round(acq.look_azimuth_deg, 2),
                "incidence_deg": None
                if np.isnan(acq.incidence_deg)
                else round(acq.incidence_deg, 2),
                "sun_azimuth_deg": round(acq.sun_azimuth_deg, 2),
                "sun_elevation_deg": round(acq.sun_elevation_deg, 2),
                "vessels": int((objs["kind"] == "vessel").sum()),
                "cargo": int((objs["kind"] == "cargo").sum()),
                "occluded_objects": int(objs["occluded"].sum()),
                "clutter_boats": sim.clutter_boats[i],
                "cloud_fraction": clouds[i],
                "conditions": sim.conditions[i],
            }
        )
    pairs = []
    for i, (new, gone, hidden) in enumerate(
        zip(sim.truth, sim.departed, sim.occluded, strict=True)
    ):
        (dx0, dy0), (dx1, dy1) = sim.shifts_px[i], sim.shifts_px[i + 1]
        change = hidden["change"] if "change" in hidden else pd.Series([], dtype=str)
        pairs.append(
            {
                "before_index": i,
                "after_index": i + 1,
                "new_vessels": int((new["kind"] == "vessel").sum()),
                "new_cargo": int((new["kind"] == "cargo").sum()),
                "departed_vessels": len(gone),
                "removed_cargo": sim.removed_cargo[i],
                "occluded_new": int((change == "new").sum()),
                "occluded_departed": int((change == "departed").sum()),
                "relative_shift_px": [round(dx1 - dx0, 4), round(dy1 - dy0, 4)],
            }
        )
    layout = sim.layout
    return {
        "generator": "portwatch simulate",
        "format_version": FORMAT_VERSION,
        "aoi": sim.aoi_id,
        "sensor": sim.sensor,
        "seed": sim.seed,
        "size_px": sim.size_px,
        "resolution_m": res,
        "crs": sim.crs.to_string(),
        "transform": list(sim.transform)[:6],
        "bands": list(sim.scenes[0].band_names),
        "times": [iso(t) for t in sim.times],
        "shift_convention": (
            "content at nominal pixel (col, row) of scene 0 appears at (col + dx, row + dy); "
            "shift_m is that displacement in metres east and north"
        ),
        "layout": {
            "piers": layout.n_piers,
            "basin": layout.has_basin,
            "breakwater": layout.has_breakwater,
            "berths": len(layout.berths),
            "yard_slots": len(layout.slots),
            "cranes": len(layout.cranes),
            "water_fraction": round(float(sim.water.mean()), 4),
        },
        "scenes": scenes,
        "pairs": pairs,
        "counts": {
            "new_vessels": sum(p["new_vessels"] for p in pairs),
            "new_cargo": sum(p["new_cargo"] for p in pairs),
            "departed_vessels": sum(p["departed_vessels"] for p in pairs),
            "occluded_new": sum(p["occluded_new"] for p in pairs),
            "occluded_departed": sum(p["occluded_departed"] for p in pairs),
        },
        "files": files,
    }
