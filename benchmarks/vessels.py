"""Vessels in one scene on simulated ports: precision, recall and F1 per sensor and setting.

    .venv/bin/python benchmarks/vessels.py [--seeds 9100-9119] [--size 512] [--aoi] [--no-scl] [--windy]
        [--sea-half] [--json OUT]

What ``portwatch vessels SCENE`` finds: ``imagery.vessels.detect_vessels`` on the first
scene of each simulated pair (``imagery.simulate``, cycling through the catalogue's
ports; the first is on the nominal grid, the second is misregistered by a few pixels),
against every vessel the simulator put in that scene. As in
``benchmarks/detection.py``, a detection matches a vessel when its centre lies within
20 m of its footprint, one to one. Vessels under cloud (S2) are left out of the truth,
and detections matching them are neither right nor wrong. Small craft the simulator
draws as clutter (10-30 m, never truth) count as false alarms when detected.

Without ``--aoi`` the water comes from the imagery alone, as for a scene without a
port polygon; with it, from the port's water polygon. ``--no-scl`` drops the scene
classification band from the Sentinel-2 scenes, as ``benchmarks/detection.py`` does.
``--sea-half`` reads only the half of each scene (top, bottom, left or right) holding
the most true water, as a scene cut to an anchorage or a port's sea side would be, and
scores the vessels whose footprint's centre lies in it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import shapely
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagery.aoi import load_catalogue  # noqa: E402
from imagery.evaluation import Score, half_with_most_water  # noqa: E402
from imagery.sensors import prepare  # noqa: E402
from imagery.simulate import seed_list, seeds_argument, simulate_pair  # noqa: E402
from imagery.vessels import detect_vessels  # noqa: E402

TOLERANCE_M = 20.0
SETTINGS = ("berth", "anchor")


def _centres(frame) -> np.ndarray:
    if frame.empty:
        return np.empty((0, 2))
    return np.column_stack([frame.geometry.centroid.x, frame.geometry.centroid.y])


def score_scene(found, vessels) -> dict[str, Score]:
    """Scores of one scene's detections against its vessels, overall and per setting.

    One one-to-one assignment (nearest centres first, within ``TOLERANCE_M`` of a
    footprint) over every vessel, under cloud or not: a detection assigned to a vessel
    under cloud is neither right nor wrong, one assigned to a visible vessel is right,
    the rest are false alarms. The setting rows split the visible vessels found and
    missed; false alarms belong to no setting (their ``fp`` is 0 and only their recall
    means anything).
    """
    centres = _centres(found)
    hidden = vessels["occluded"].to_numpy(dtype=bool)
    settings = vessels["setting"].to_numpy()
    matched = np.zeros(len(vessels), dtype=bool)
    n_matched_hidden = 0
    if len(centres) and len(vessels):
        points = shapely.points(centres)
        cost = shapely.distance(points[:, None], np.asarray(list(vessels.geometry))[None, :])
        rows, cols = linear_sum_assignment(np.where(cost <= TOLERANCE_M, cost, 1e12))
        ok = cost[rows, cols] <= TOLERANCE_M
        matched[cols[ok]] = True
        n_matched_hidden = int(hidden[cols[ok]].sum())
    tp = int((matched & ~hidden).sum())
    scores = {
        "all": Score(tp, len(centres) - tp - n_matched_hidden, int((~matched & ~hidden).sum()))
    }
    for setting in SETTINGS:
        own = ~hidden & (settings == setting)
        scores[setting] = Score(int((matched & own).sum()), 0, int((~matched & own).sum()))
    return scores


def coarsened(raster, factor: int):
    """``raster`` averaged ``factor`` x ``factor`` onto pixels ``factor`` times larger, as
    a coarser product would deliver it: S2 fill (0) left out of the means, SCL taken
    from each block's first pixel (a class is not averaged)."""
    from affine import Affine

    bands, rows, cols = raster.data.shape
    rows, cols = rows // factor * factor, cols // factor * factor
    data = raster.data[:, :rows, :cols].astype(np.float32)
    if raster.sensor == "s2":
        data = np.where(data == 0, np.nan, data)
    blocks = data.reshape(bands, rows // factor, factor, cols // factor, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # blocks of fill only
        out = np.nanmean(blocks, axis=(2, 4))
    if raster.sensor == "s2":
        if raster.has_band("SCL"):
            out[raster.band_names.index("SCL")] = blocks[raster.band_names.index("SCL"), :, 0, :, 0]
        out = np.nan_to_num(out, nan=0.0).round().astype(raster.data.dtype)
    return raster.replace(data=out, transform=raster.transform * Affine.scale(factor))


def sea_half(raster, water: np.ndarray):
    """``raster`` cut to the half where ``water`` (the simulator's truth on its grid)
    covers most (:func:`imagery.evaluation.half_with_most_water`), and its bounds."""
    rows, cols = half_with_most_water(water)
    cut = raster.window(rows, cols)
    return cut, cut.bounds


def run(
    seeds: list[int],
    sensors: list[str],
    size: int,
    *,
    with_aoi: bool,
    no_scl: bool = False,
    coarsen: int = 1,
    windy: bool = False,
    half: bool = False,
) -> dict:
    ports = sorted(load_catalogue().values(), key=lambda a: a.id)
    totals: dict[str, Score] = {}
    seconds: dict[str, list[float]] = {s: [] for s in sensors}
    for sensor in sensors:
        for i, seed in enumerate(seeds):
            aoi = ports[i % len(ports)]
            sim = simulate_pair(aoi, sensor=sensor, seed=seed, size_px=size, windy=windy)
            raw = sim.scenes[0]
            if no_scl and raw.has_band("SCL"):
                raw = raw.select([name for name in raw.band_names if name != "SCL"])
            bounds = None
            if half:
                raw, bounds = sea_half(raw, sim.water)
            if coarsen > 1:
                raw = coarsened(raw, coarsen)
            scene = prepare(raw, sensor, source=f"{aoi.id} seed {seed}")
            started = time.perf_counter()
            found = detect_vessels(scene, aoi=aoi if with_aoi else None)
            seconds[sensor].append(time.perf_counter() - started)
            objects = sim.objects[0]
            vessels = objects[objects["kind"] == "vessel"].to_crs(found.crs or objects.crs)
            if bounds is not None:
                vessels = vessels[vessels.geometry.centroid.within(shapely.box(*bounds))]
            for key, score in score_scene(found, vessels).items():
                name = f"{sensor}/{key}"
                totals[name] = totals.get(name, Score(0, 0, 0)) + score
    report: dict = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "size_px": size,
        "seeds": seeds,
        "water": "aoi polygon" if with_aoi else "from the imagery",
        "s2_scl": not no_scl,
        "coarsen": coarsen,
        "windy": windy,
        "sea_half": half,
    }
    for name, score in sorted(totals.items()):
        row = score.to_dict()
        if name.endswith(SETTINGS):  # recall only: false alarms belong to no setting
            row = {key: row[key] for key in ("tp", "fn", "recall")}
        report[name] = row
    for sensor in sensors:
        times = sorted(seconds[sensor])
        report[f"{sensor}/median_seconds"] = round(times[len(times) // 2], 2) if times else None
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="9100-9119", type=seeds_argument)
    parser.add_argument("--sensors", default="s1,s2")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--aoi", action="store_true", help="water from the port's polygon")
    parser.add_argument("--no-scl", action="store_true", help="drop SCL from the S2 scenes")
    parser.add_argument(
        "--coarsen", type=int, default=1, help="average K x K pixels first (2: 20 m pixels)"
    )
    parser.add_argument(
        "--windy", action="store_true", help="S1 only: seas as bright as the land in VV"
    )
    parser.add_argument(
        "--sea-half", action="store_true", help="each scene's half holding the most water only"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.windy and args.sensors.split(",") != ["s1"]:
        parser.error("--windy draws Sentinel-1 seas: add --sensors s1")
    report = run(
        seed_list(args.seeds),
        args.sensors.split(","),
        args.size,
        with_aoi=args.aoi,
        no_scl=args.no_scl,
        coarsen=args.coarsen,
        windy=args.windy,
        half=args.sea_half,
    )
    print(
        f"machine: {report['machine']}, {len(report['seeds'])} scenes per sensor at {args.size} px"
    )
    print(f"water: {report['water']}")
    print(f"{'sensor/setting':<16} {'tp':>4} {'fp':>4} {'fn':>4} {'P':>6} {'R':>6} {'F1':>6}")
    for key, value in report.items():
        if isinstance(value, dict):
            if key.endswith(SETTINGS):
                print(
                    f"{key:<16} {value['tp']:>4} {'':>4} {value['fn']:>4} {'':>6} {value['recall']:>6.3f}"
                )
            else:
                print(
                    f"{key:<16} {value['tp']:>4} {value['fp']:>4} {value['fn']:>4} "
                    f"{value['precision']:>6.3f} {value['recall']:>6.3f} {value['f1']:>6.3f}"
                )
    for sensor in args.sensors.split(","):
        print(f"{sensor}: median {report[f'{sensor}/median_seconds']} s per scene")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
