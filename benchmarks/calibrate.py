"""Fit the score calibration on simulated development pairs; check it on held-out pairs.

    .venv/bin/python benchmarks/calibrate.py [--fit-seeds 200-259] [--check-seeds 9000-9013]
        [--models s1/vessel,s1/cargo,s2/vessel,s2/cargo] [--write]

Runs the pair pipeline on simulated pairs (imagery.simulate), labels every flag right
or wrong against the truth (its centre within 20 m of a true new object of its kind;
a departure, within 20 m of a vessel that left),
fits one logistic model per sensor and kind (imagery.calibration) on the fit seeds,
and reports on the check seeds, which the fit never saw: the Brier score of the
calibrated score against that of the raw evidence, and a reliability table (mean score
against the share of right flags, per score bin). ``--write`` stores the models in
imagery/calibration.json; with ``--models``, only the models named are refitted and the
others are kept as stored.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagery import calibration  # noqa: E402
from imagery.aoi import load_catalogue  # noqa: E402
from imagery.atomic import atomic_write_text  # noqa: E402
from imagery.detect import DetectParams, detect_pair  # noqa: E402
from imagery.errors import CoregistrationError  # noqa: E402
from imagery.simulate import seed_list, seeds_argument, simulate_pair  # noqa: E402

TOLERANCE_M = 20.0
ALL_MODELS = ("s1/vessel", "s1/cargo", "s2/vessel", "s2/cargo")


def _geoms(truth: pd.DataFrame, kind: str) -> np.ndarray:
    return np.asarray(list(truth[truth["kind"] == kind].geometry), dtype=object)


def collect(seeds: list[int], sensor: str, size: int) -> pd.DataFrame:
    ports = sorted(load_catalogue().values(), key=lambda a: a.id)
    rows = []
    for i, seed in enumerate(seeds):
        aoi = ports[i % len(ports)]
        sim = simulate_pair(aoi, sensor=sensor, seed=seed, size_px=size)
        try:
            # Every flag, whatever its current score: the fit must see the low ones too.
            result = detect_pair(
                sim.scenes[0],
                sim.scenes[1],
                sensor=sensor,
                aoi=aoi,
                params=DetectParams(min_score=0.0),
            )
        except CoregistrationError:
            continue
        truth = sim.truth[0]
        flags = result.detections
        # A departure is a vessel flag too, scored by the same model: it is fitted on
        # both, each against its own truth.
        gone = np.asarray(list(sim.departed[0].geometry), dtype=object)
        for mine, true in (
            (flags[flags["kind"] == "vessel"], _geoms(truth, "vessel")),
            (result.departed.assign(kind="vessel"), gone),
            (flags[flags["kind"] == "cargo"], _geoms(truth, "cargo")),
        ):
            if mine.empty:
                continue
            centres = shapely.points(
                np.column_stack([mine.geometry.centroid.x, mine.geometry.centroid.y])
            )
            right = (
                (shapely.distance(centres[:, None], true[None, :]).min(axis=1) <= TOLERANCE_M)
                if len(true)
                else np.zeros(len(mine), dtype=bool)
            )
            part = pd.DataFrame(mine.drop(columns="geometry"))
            part["right"] = right.astype(float)
            part["seed"] = seed
            rows.append(part)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def reliability(score: np.ndarray, right: np.ndarray) -> list[tuple[str, int, float, float]]:
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0001]
    table = []
    for lo, hi in itertools.pairwise(edges):
        inside = (score >= lo) & (score < hi)
        if inside.any():
            table.append(
                (
                    f"{lo:.2f}-{min(hi, 1):.2f}",
                    int(inside.sum()),
                    float(score[inside].mean()),
                    float(right[inside].mean()),
                )
            )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-seeds", default="200-259", type=seeds_argument)
    parser.add_argument("--check-seeds", default="9000-9013", type=seeds_argument)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--models",
        default=",".join(ALL_MODELS),
        help="sensor/kind models to refit, comma-separated",
    )
    parser.add_argument("--write", action="store_true")
    parser.add_argument(
        "--report", type=Path, default=ROOT / "benchmarks" / "results" / "calibration.json"
    )
    args = parser.parse_args(argv)
    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(wanted) - set(ALL_MODELS))
    if unknown or not wanted:
        parser.error(f"unknown models {unknown or args.models!r}; choose from {list(ALL_MODELS)}")
    partial = set(wanted) != set(ALL_MODELS)
    models: dict[str, list[float]] = {}
    fitted_on = f"imagery.simulate pairs, seeds {args.fit_seeds}, {args.size} px, both sensors"
    out = args.report
    report: dict = {}
    if partial:
        # The models not named are kept as stored: they must all be there.
        models = dict(calibration.load_models(str(calibration.MODELS_PATH)))
        missing = sorted(set(ALL_MODELS) - set(wanted) - set(models))
        if missing:
            parser.error(
                f"{calibration.MODELS_PATH} holds no usable {missing} to keep; refit all models"
            )
        stored = json.loads(calibration.MODELS_PATH.read_text()).get("fitted_on", "?")
        fitted_on = (
            f"{stored}; {', '.join(wanted)} refitted {date.today().isoformat()} on "
            f"imagery.simulate pairs, seeds {args.fit_seeds}, {args.size} px"
        )
        report = json.loads(out.read_text()) if out.is_file() else {}
    not_fitted = []
    for sensor in ("s1", "s2"):
        kinds = [k for k in ("vessel", "cargo") if f"{sensor}/{k}" in wanted]
        if not kinds:
            continue
        fit = collect(seed_list(args.fit_seeds), sensor, args.size)
        check = collect(seed_list(args.check_seeds), sensor, args.size)
        for kind in kinds:
            train = fit[fit["kind"] == kind] if len(fit) else fit
            test = check[check["kind"] == kind] if len(check) else check
            report.pop(f"{sensor}/{kind}", None)
            if len(train) < 20 or train["right"].nunique() < 2:
                print(f"{sensor}/{kind}: too few flags to fit ({len(train)})")
                not_fitted.append(f"{sensor}/{kind}")
                continue
            coefficients = calibration.fit_logistic(
                calibration.features(train), train["right"].to_numpy()
            )
            models[f"{sensor}/{kind}"] = [round(float(c), 6) for c in coefficients]
            if len(test) == 0:
                continue
            x = calibration.features(test)
            calibrated = 1.0 / (1.0 + np.exp(-(coefficients[0] + x @ coefficients[1:])))
            right = test["right"].to_numpy()
            brier = float(np.mean((calibrated - right) ** 2))
            brier_raw = float(np.mean((test["evidence"].to_numpy() - right) ** 2))
            report[f"{sensor}/{kind}"] = {
                "fit_flags": len(train),
                "check_flags": len(test),
                "check_right_share": round(float(right.mean()), 3),
                "brier_calibrated": round(brier, 4),
                "brier_evidence": round(brier_raw, 4),
                "reliability": reliability(calibrated, right),
            }
            print(
                f"{sensor}/{kind}: fit on {len(train)} flags, checked on {len(test)} ({right.mean():.0%} right)"
            )
            print(f"  Brier score: calibrated {brier:.3f}, raw evidence {brier_raw:.3f}")
            print("  score bin   flags  mean score  share right")
            for name, count, mean, share in report[f"{sensor}/{kind}"]["reliability"]:
                print(f"  {name:<10} {count:>6} {mean:>11.2f} {share:>12.2f}")
    if not_fitted:
        print(f"not fitted: {', '.join(not_fitted)}; nothing written")
        return 1
    if args.write:
        doc = {
            "features": list(calibration.FEATURES),
            "fitted_on": fitted_on,
            "models": {m: models[m] for m in ALL_MODELS if m in models},
        }
        atomic_write_text(calibration.MODELS_PATH, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {calibration.MODELS_PATH}")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
