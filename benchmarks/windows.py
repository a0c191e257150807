"""Windowed runs against whole-scene runs: how much cutting a scene into windows moves.

    .venv/bin/python benchmarks/windows.py [--sensors s1 s2] [--seeds 21,22] [--pairs] [--json OUT]

Every catalogue port with each seed, simulated at ``--size`` px and written as
GeoTIFFs: :func:`imagery.vessels.detect_vessels` on the after scene in memory against
:func:`imagery.tiled.detect_vessels_file` on its file in ``--chunk`` px windows (and,
with ``--pairs``, :func:`imagery.detect.detect_pair` against
:func:`imagery.tiled.detect_pair_files`, both also scored against the simulated truth).
Reported: how many objects each run finds, and how many of the whole run's lie within
20 m and 50 m of one of the windowed run's. A window sees only its halo's worth of
the scene, so whatever is estimated over a scene (the water split, the water's
reference levels, enclosed water) may differ between the two.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagery.aoi import load_catalogue  # noqa: E402
from imagery.detect import detect_pair  # noqa: E402
from imagery.evaluation import score_detections  # noqa: E402
from imagery.io import read_raster  # noqa: E402
from imagery.sensors import prepare  # noqa: E402
from imagery.simulate import seed_list, seeds_argument, simulate_pair, write_simulation  # noqa: E402
from imagery.tiled import detect_pair_files, detect_vessels_file  # noqa: E402
from imagery.vessels import detect_vessels  # noqa: E402

TOLERANCES_M = (20.0, 50.0)


def _centres(frame) -> np.ndarray:
    if not len(frame):
        return np.empty((0, 2))
    return np.column_stack([frame.geometry.centroid.x, frame.geometry.centroid.y])


def agreement(whole, windowed) -> dict:
    """Counts of both runs, and how many of the whole run's lie near a windowed one."""
    a, b = _centres(whole), _centres(windowed)
    out = {"whole": len(a), "windowed": len(b)}
    if len(a) and len(b):
        nearest = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]).min(axis=1)
    else:
        nearest = np.full(len(a), np.inf)
    for tolerance in TOLERANCES_M:
        out[f"within_{int(tolerance)}m"] = int((nearest < tolerance).sum())
    return out


def _total(rows: list[dict], key: str) -> dict:
    parts = [r[key] for r in rows if key in r]
    return {k: int(sum(p[k] for p in parts)) for k in parts[0]} if parts else {}


def run(sensor: str, seeds: list[int], size: int, chunk: int, pairs: bool, folder: Path) -> dict:
    rows = []
    for aoi in sorted(load_catalogue().values(), key=lambda a: a.id):
        for seed in seeds:
            sim = simulate_pair(aoi, sensor=sensor, seed=seed, size_px=size)
            paths = write_simulation(sim, folder / f"{sensor}-{aoi.id}-{seed}")
            row = {"port": aoi.id, "seed": seed}
            whole = detect_vessels(prepare(read_raster(paths["after"]), sensor, grid="native"))
            windowed = detect_vessels_file(paths["after"], sensor=sensor, chunk_px=chunk)
            row["vessels"] = agreement(whole, windowed)
            if pairs:
                before, after = read_raster(paths["before"]), read_raster(paths["after"])
                whole = detect_pair(before, after, sensor=sensor).detections
                windowed = detect_pair_files(
                    paths["before"], paths["after"], sensor=sensor, chunk_px=chunk
                ).detections
                row["flags"] = agreement(whole, windowed)
                for name, frame in (("whole", whole), ("windowed", windowed)):
                    for kind in ("vessel", "cargo"):
                        score = score_detections(frame, sim.truth[0], kind=kind)
                        row[f"{name}_{kind}"] = {
                            "tp": score.tp,
                            "fp": score.fp,
                            "fn": score.fn,
                        }
            rows.append(row)
            print(json.dumps(row), flush=True)
    keys = sorted({k for r in rows for k in r if k not in ("port", "seed")})
    return {
        "sensor": sensor,
        "seeds": seeds,
        "size_px": size,
        "chunk_px": chunk,
        "total": {k: _total(rows, k) for k in keys},
        "scenes": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", nargs="+", default=["s1", "s2"], choices=["s1", "s2"])
    parser.add_argument("--seeds", default="21,22", type=seeds_argument)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--pairs", action="store_true", help="Pairs too (about 4x longer).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    # Windows left out under cloud are reported by the run, not here.
    logging.getLogger("imagery.tiled").setLevel(logging.ERROR)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for sensor in args.sensors:
            results[sensor] = run(
                sensor, seed_list(args.seeds), args.size, args.chunk, args.pairs, Path(folder)
            )
    summary = {sensor: result["total"] for sensor, result in results.items()}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
