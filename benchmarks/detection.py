"""Detection quality on simulated pairs: precision, recall and F1 per kind and sensor.

    .venv/bin/python benchmarks/detection.py [--seeds 9000-9011] [--size 512] [--windy] [--json OUT]
                                             [--no-scl] [--sea-half]

Pairs come from ``imagery.simulate`` over the catalogue's ports. The detector was never
tuned on the default evaluation seeds (9000 and up); development used seeds below 1000.
A flag matches a true new object of its kind when its centre lies within 20 m of the
object's footprint (one-to-one). Departures are scored the same way. ``s1/naive`` is the
naive detector of the issue (no co-registration, 3 x 3 means, log-ratio > 8 dB,
connected components) scored against all new objects, to compare with ``s1/all``.
``--no-scl`` drops the scene classification band from the Sentinel-2 scenes, as a
source without L2A's SCL would deliver them: cloud is then found from the imagery alone.
``--sea-half`` cuts both scenes to the half of the grid (top, bottom, left or right) where
the simulator's water covers most, as a pair read over an anchorage or a port's sea side
would be, and scores the truth whose footprint's centre lies in it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagery.aoi import load_catalogue  # noqa: E402
from imagery.detect import detect_pair  # noqa: E402
from imagery.errors import CoregistrationError  # noqa: E402
from imagery.evaluation import Score, half_with_most_water, score_detections  # noqa: E402
from imagery.simulate import seed_list, seeds_argument, simulate_pair  # noqa: E402

TOLERANCE_M = 20.0


def naive_flags(sim) -> gpd.GeoDataFrame:
    """The naive S1 detector of the issue: no co-registration, 3 x 3 means, log-ratio
    above 8 dB, connected components, each component a flag."""
    from imagery.filters import masked_box_mean
    from imagery.objects import label_objects, measure_objects
    from imagery.sensors import prepare_s1

    before, after = (prepare_s1(s) for s in sim.scenes[:2])
    valid = before.valid_mask() & after.valid_mask()
    x, _ = masked_box_mean(before.band("VV"), valid, 3)
    y, _ = masked_box_mean(after.band("VV"), valid, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_db = 10 * np.log10(y / x)
    labels, n = label_objects(np.nan_to_num(ratio_db) > 8.0)
    frame = measure_objects(labels, n, transform=before.transform, crs=before.crs)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=before.crs).assign(kind="any")


def without_scl(sim):
    """``sim`` with its S2 scenes stripped of the SCL band."""
    scenes = tuple(
        s.select([b for b in s.band_names if b != "SCL"]) if s.has_band("SCL") else s
        for s in sim.scenes
    )
    return dataclasses.replace(sim, scenes=scenes)


def sea_half(sim):
    """``sim`` with its scenes cut to the half where its water covers most, and its truth
    and departures to those whose footprint's centre lies in that half."""
    rows, cols = half_with_most_water(sim.water)
    scenes = tuple(scene.window(rows, cols) for scene in sim.scenes)
    area = shapely.box(*scenes[0].bounds)

    def inside(frames):
        return [frame[frame.geometry.centroid.within(area)] for frame in frames]

    return dataclasses.replace(
        sim, scenes=scenes, truth=inside(sim.truth), departed=inside(sim.departed)
    )


def run(
    seeds: list[int],
    sensors: list[str],
    size: int,
    verbose: bool,
    *,
    no_scl: bool = False,
    windy: bool = False,
    half: bool = False,
) -> dict:
    ports = sorted(load_catalogue().values(), key=lambda a: a.id)
    totals: dict[tuple[str, str], Score] = {}
    refused = {s: 0 for s in sensors}
    seconds = {s: [] for s in sensors}
    for sensor in sensors:
        for i, seed in enumerate(seeds):
            aoi = ports[i % len(ports)]
            sim = simulate_pair(aoi, sensor=sensor, seed=seed, size_px=size, windy=windy)
            if no_scl and sensor == "s2":
                sim = without_scl(sim)
            if half:
                sim = sea_half(sim)
            started = time.perf_counter()
            try:
                result = detect_pair(sim.scenes[0], sim.scenes[1], sensor=sensor, aoi=aoi)
            except CoregistrationError as exc:
                refused[sensor] += 1
                print(f"  {sensor} {aoi.id} seed {seed}: refused ({exc})")
                continue
            seconds[sensor].append(time.perf_counter() - started)
            truth = sim.truth[0]
            if sensor == "s1":
                naive = score_detections(
                    naive_flags(sim), truth.assign(kind="any"), kind="any", tolerance_m=TOLERANCE_M
                )
                totals[("s1", "naive")] = totals.get(("s1", "naive"), Score(0, 0, 0)) + naive
            line = []
            for kind in ("vessel", "cargo"):
                score = score_detections(
                    result.detections, truth, kind=kind, tolerance_m=TOLERANCE_M
                )
                totals[(sensor, kind)] = totals.get((sensor, kind), Score(0, 0, 0)) + score
                line.append(f"{kind} tp{score.tp} fp{score.fp} fn{score.fn}")
            departed = result.departed.assign(kind="vessel")
            score = score_detections(
                departed,
                sim.departed[0].assign(kind="vessel"),
                kind="vessel",
                tolerance_m=TOLERANCE_M,
            )
            totals[(sensor, "departed")] = totals.get((sensor, "departed"), Score(0, 0, 0)) + score
            line.append(f"departed tp{score.tp} fp{score.fp} fn{score.fn}")
            if verbose:
                print(f"  {sensor} {aoi.id:<12} seed {seed}: " + ", ".join(line))
    report = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "size_px": size,
        "seeds": seeds,
        "s2_scl": not no_scl,
        "windy": windy,
        "sea_half": half,
    }
    for (sensor, kind), score in sorted(totals.items()):
        report[f"{sensor}/{kind}"] = score.to_dict()
    for sensor in sensors:
        both = totals.get((sensor, "vessel"), Score(0, 0, 0)) + totals.get(
            (sensor, "cargo"), Score(0, 0, 0)
        )
        report[f"{sensor}/all"] = both.to_dict()
        report[f"{sensor}/refused"] = refused[sensor]
        times = sorted(seconds[sensor])
        report[f"{sensor}/median_seconds"] = round(times[len(times) // 2], 2) if times else None
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="9000-9011", type=seeds_argument)
    parser.add_argument("--sensors", default="s1,s2")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--no-scl", action="store_true", help="drop SCL from the S2 scenes")
    parser.add_argument(
        "--windy", action="store_true", help="S1 only: seas as bright as the land in VV"
    )
    parser.add_argument(
        "--sea-half", action="store_true", help="each pair's half holding the most water only"
    )
    args = parser.parse_args(argv)
    if args.windy and args.sensors.split(",") != ["s1"]:
        parser.error("--windy draws Sentinel-1 seas: add --sensors s1")
    report = run(
        seed_list(args.seeds),
        args.sensors.split(","),
        args.size,
        args.verbose,
        no_scl=args.no_scl,
        windy=args.windy,
        half=args.sea_half,
    )
    print(
        f"machine: {report['machine']}, {len(report['seeds'])} pairs per sensor at {args.size} px"
    )
    print(f"{'sensor/kind':<16} {'tp':>4} {'fp':>4} {'fn':>4} {'P':>6} {'R':>6} {'F1':>6}")
    for key, value in report.items():
        if isinstance(value, dict):
            print(
                f"{key:<16} {value['tp']:>4} {value['fp']:>4} {value['fn']:>4} {value['precision']:>6.3f} {value['recall']:>6.3f} {value['f1']:>6.3f}"
            )
    for sensor in args.sensors.split(","):
        print(
            f"{sensor}: refused {report[f'{sensor}/refused']}, median {report[f'{sensor}/median_seconds']} s per pair"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
