"""A second opinion: portwatch's detector on an independent simulator.

    .venv/bin/python benchmarks/second_opinion.py [--seeds 1-20] [--sensors s1,s2]
        [--size 512] [--json benchmarks/results/second_opinion.json]

Each seed is a port drawn by ``benchmarks/othersim.py``, a simulator written without
reading ``imagery.simulate`` (see its docstring for the physics). For every seed and
sensor the pair goes through ``imagery.detect.detect_pair`` as a user's files would
(no AOI); a pair it refuses (``CoregistrationError``) is counted as refused and its
truth as missed. Flags are scored with ``imagery.evaluation.score_detections``: a flag
is right when its centre lies within 20 m of a true footprint of its kind, one to one.
``vessel`` and ``cargo`` flags against the new vessels and new stacks, ``departed``
against the vessels that left, and single-scene ``imagery.vessels.detect_vessels`` on
the prepared after scene against every vessel there (its truth moved by the after
scene's misregistration, since that scene is not aligned).

The JSON holds the totals and, per seed, every miss and false alarm with what lies
there (the nearest simulated object: vessel, stack or crane, with its status), so the
failure modes can be counted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from scipy.optimize import linear_sum_assignment
from shapely import affinity

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.othersim import OtherPair, simulate  # noqa: E402
from imagery.detect import detect_pair  # noqa: E402
from imagery.errors import CoregistrationError  # noqa: E402
from imagery.evaluation import Score, score_detections  # noqa: E402
from imagery.sensors import prepare  # noqa: E402
from imagery.simulate import seed_list, seeds_argument  # noqa: E402
from imagery.vessels import detect_vessels  # noqa: E402

TOLERANCE_M = 20.0
KINDS = ("vessel", "cargo", "departed", "single")


def _centres(frame: gpd.GeoDataFrame) -> np.ndarray:
    if len(frame) == 0:
        return np.empty((0, 2))
    return np.column_stack([frame.geometry.centroid.x, frame.geometry.centroid.y])


def match(
    found: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, tolerance: float = TOLERANCE_M
) -> tuple[list[int], list[int]]:
    """The one-to-one assignment ``imagery.evaluation`` scores: row positions of the
    matched flags and of the matched truth."""
    if len(found) == 0 or len(truth) == 0:
        return [], []
    points = shapely.points(_centres(found))
    cost = shapely.distance(points[:, None], np.asarray(list(truth.geometry))[None, :])
    finite = np.where(cost <= tolerance, cost, tolerance * 1e6 + 1.0)
    rows, cols = linear_sum_assignment(finite)
    keep = finite[rows, cols] <= tolerance
    return rows[keep].tolist(), cols[keep].tolist()


def _with_kind(frame: gpd.GeoDataFrame, kind: str) -> gpd.GeoDataFrame:
    out = frame.copy()
    out["kind"] = kind
    return out


def _nearest_object(pair: OtherPair, geom, skip: tuple[str, int] | None = None) -> dict:
    """What lies at a flag or a missed object: the nearest other simulated object (within
    150 m), the distance to the shore (negative on land), to a breakwater or beach, to
    the scene's edge, and the cloud over it (S2, either date)."""
    objects = pair.objects
    if skip is not None:
        objects = objects[~((objects["kind"] == skip[0]) & (objects["id"] == skip[1]))]
    centre = geom.centroid
    shore = float(pair.land.boundary.distance(centre))
    out: dict = {"shore_m": round(-shore if pair.land.contains(centre) else shore, 1)}
    vessels = pair.objects[pair.objects["kind"] == "vessel"]
    if skip is not None and skip[0] == "vessel":
        vessels = vessels[vessels["id"] != skip[1]]
    if len(vessels):
        out["vessel_m"] = round(float(vessels.geometry.distance(centre).min()), 1)
    if not pair.rough.is_empty:
        out["rough_m"] = round(float(pair.rough.distance(centre)), 1)
    left, bottom, right, top = pair.before.bounds
    out["edge_m"] = round(
        min(centre.x - left, right - centre.x, centre.y - bottom, top - centre.y), 1
    )
    # Within the detector's cloud buffer (60 m) of the object, on either date.
    col, row = ~pair.before.transform * (centre.x, centre.y)
    height, width = pair.before.shape
    reach = 6 + int(
        np.ceil(max(geom.bounds[2] - geom.bounds[0], geom.bounds[3] - geom.bounds[1]) / 20.0)
    )
    rows = slice(int(np.clip(row - reach, 0, height)), int(np.clip(row + reach + 1, 0, height)))
    cols = slice(int(np.clip(col - reach, 0, width)), int(np.clip(col + reach + 1, 0, width)))
    if pair.cloud is not None:
        out["cloud"] = round(float(pair.cloud[:, rows, cols].max(initial=0.0)), 2)
    if pair.before.has_band("SCL"):
        scl = np.stack([r.band("SCL")[rows, cols] for r in (pair.before, pair.after)])
        out["scl_cloud"] = bool(np.isin(scl, (3, 8, 9, 10)).any())
    if len(objects):
        d = objects.geometry.distance(centre).to_numpy()
        k = int(np.argmin(d))
        if d[k] <= 150:
            row = objects.iloc[k]
            out.update(
                near=f"{row['kind']}:{row['status']}:{row['date']}", near_m=round(float(d[k]), 1)
            )
    return out


def _flag_record(frame: gpd.GeoDataFrame, i: int, pair: OtherPair) -> dict:
    row = frame.iloc[i]
    rec = {
        "x": round(float(row.geometry.centroid.x), 1),
        "y": round(float(row.geometry.centroid.y), 1),
    }
    for name in ("score", "length_m", "width_m", "area_m2"):
        if name in frame.columns and row[name] == row[name]:
            rec[name] = round(float(row[name]), 3)
    rec.update(_nearest_object(pair, row.geometry))
    return rec


def _truth_record(frame: gpd.GeoDataFrame, j: int, pair: OtherPair) -> dict:
    row = frame.iloc[j]
    rec = {"id": int(row["id"])}
    for name in ("setting", "vtype", "deck", "swung", "tiers", "new"):
        if name in frame.columns:
            value = row[name]
            rec[name] = value.item() if hasattr(value, "item") else value
    for name in ("length_m", "beam_m", "width_m", "hull_db", "s1_db", "cloud"):
        if name in frame.columns:
            rec[name] = round(float(row[name]), 1)
    c = row.geometry.centroid
    rec.update(x=round(c.x, 1), y=round(c.y, 1))
    kind = "stack" if row["kind"] == "cargo" else "vessel"
    near = _nearest_object(pair, row.geometry, skip=(kind, int(row["id"])))
    rec.update({k: v for k, v in near.items() if k not in ("x", "y")})
    return rec


def evaluate(
    found: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, kind: str, pair: OtherPair
) -> tuple[Score, dict]:
    """The official score (``score_detections``) and the misses and false alarms."""
    det = _with_kind(found, kind) if len(found) else _with_kind(found.iloc[:0], kind)
    tru = _with_kind(truth, kind)
    score = score_detections(det, tru, kind=kind, tolerance_m=TOLERANCE_M)
    rows, cols = match(det, tru)
    assert len(rows) == score.tp, (kind, len(rows), score.tp)
    misses = [_truth_record(tru, j, pair) for j in range(len(tru)) if j not in set(cols)]
    false = [_flag_record(det, i, pair) for i in range(len(det)) if i not in set(rows)]
    return score, {"missed": misses, "false": false}


def run_pair(seed: int, sensor: str, size: int) -> dict:
    """Simulate, detect and score one pair."""
    t0 = time.perf_counter()
    pair = simulate(seed, sensor, size)
    sim_s = time.perf_counter() - t0
    record: dict = {"seed": seed, "sensor": sensor, "simulate_s": round(sim_s, 2)}
    record["info"] = json.loads(json.dumps(pair.info, default=float))
    record["truth"] = {
        "vessel": len(pair.new_vessels),
        "cargo": len(pair.new_cargo),
        "departed": len(pair.departed),
        "single": len(pair.vessels_after),
    }
    t0 = time.perf_counter()
    try:
        result = detect_pair(pair.before, pair.after, sensor=sensor)
    except CoregistrationError as exc:
        record["refused"] = str(exc)
        result = None
    record["detect_s"] = round(time.perf_counter() - t0, 2)
    scores: dict[str, Score] = {}
    details: dict[str, dict] = {}
    if result is None:
        for kind, frame in (
            ("vessel", pair.new_vessels),
            ("cargo", pair.new_cargo),
            ("departed", pair.departed),
        ):
            scores[kind] = Score(0, 0, len(frame))
            details[kind] = {
                "missed": [_truth_record(frame, j, pair) for j in range(len(frame))],
                "false": [],
            }
    else:
        dets = result.detections
        record["registration"] = (result.parameters or {}).get("registration")
        for kind, truth in (("vessel", pair.new_vessels), ("cargo", pair.new_cargo)):
            found = dets[dets["kind"] == kind] if len(dets) else dets
            scores[kind], details[kind] = evaluate(found, truth, kind, pair)
        scores["departed"], details["departed"] = evaluate(
            result.departed, pair.departed, "departed", pair
        )
    # One scene: the after scene as delivered, against all its vessels (under cloud too:
    # unlike benchmarks/vessels.py, a vessel under S2 cloud counts as missed).
    after = prepare(pair.after, sensor)
    found = detect_vessels(after)
    truth = pair.vessels_after.copy()
    truth["geometry"] = [affinity.translate(g, *pair.after_offset_m) for g in truth.geometry]
    scores["single"], details["single"] = evaluate(found, truth, "single", pair)
    record["scores"] = {k: s.to_dict() for k, s in scores.items()}
    record["details"] = details
    return record


def _fmt(score: Score) -> str:
    return (
        f"{score.tp:4d} {score.fp:4d} {score.fn:4d}   "
        f"{score.precision:.3f}  {score.recall:.3f}  {score.f1:.3f}"
    )


def summarise(records: list[dict], sensors: list[str]) -> dict:
    """Totals per sensor and kind, refusals and median times."""
    out: dict = {}
    for sensor in sensors:
        mine = [r for r in records if r["sensor"] == sensor]
        totals = {}
        for kind in KINDS:
            total = Score(0, 0, 0)
            for r in mine:
                s = r["scores"].get(kind)
                if s is not None:
                    total = total + Score(s["tp"], s["fp"], s["fn"])
            totals[kind] = total
        totals["all"] = totals["vessel"] + totals["cargo"]
        out[sensor] = {
            "pairs": len(mine),
            "refused": sum("refused" in r for r in mine),
            "median_detect_s": statistics.median(r["detect_s"] for r in mine) if mine else None,
            "median_simulate_s": statistics.median(r["simulate_s"] for r in mine) if mine else None,
            "scores": {k: s.to_dict() for k, s in totals.items()},
        }
        print(f"\n{sensor}: {len(mine)} pairs, {out[sensor]['refused']} refused")
        print("kind        TP   FP   FN   precision recall  F1")
        for kind in (*KINDS, "all"):
            print(f"{kind:9s} {_fmt(totals[kind])}")
        print(
            f"median detect_pair {out[sensor]['median_detect_s']:.2f} s, "
            f"simulation {out[sensor]['median_simulate_s']:.2f} s per pair"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-20", type=seeds_argument)
    parser.add_argument("--sensors", default="s1,s2")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sensors = [s.strip() for s in args.sensors.split(",") if s.strip()]
    records = []
    for sensor in sensors:
        for seed in seed_list(args.seeds):
            record = run_pair(seed, sensor, args.size)
            records.append(record)
            s = record["scores"]
            print(
                f"{sensor} seed {seed:4d}: "
                + "  ".join(f"{k} {s[k]['tp']}/{s[k]['fp']}/{s[k]['fn']}" for k in KINDS)
                + ("  REFUSED" if "refused" in record else "")
                + f"  ({record['detect_s']:.1f} s)",
                flush=True,
            )
    summary = summarise(records, sensors)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "command": " ".join(sys.argv),
            "machine": platform.platform(),
            "seeds": args.seeds,
            "size_px": args.size,
            "tolerance_m": TOLERANCE_M,
            "summary": summary,
            "pairs": records,
        }
        args.json.write_text(json.dumps(doc, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
