"""Vessel detection on real Sentinel-2 port scenes with annotated ships (sen2ships).

Runs ``imagery.vessels.detect_vessels`` on the Busan, Durban and Honolulu scenes in
``../shared/data/sen2ships`` and scores it against the COCO ship masks: a detection
matches a ship when its centre lies within 20 m of the ship's mask (one-to-one).

    .venv/bin/python benchmarks/sen2ships.py [--data DIR] [--json OUT]

The files are EO Browser 16-bit "raw" exports: their digital numbers are reflectance x
65535 (open sea B08 ~ 290, land B08 ~ 11 400 would be reflectance 1.14 at x 10000), so
they are scaled by 1/65535. They are in EPSG:3857, where a 10-unit pixel is about
8.2 m (Busan) to 9.2 m (Honolulu) on the ground; sizes are measured on the ground.
Contains modified Copernicus Sentinel data.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagery.evaluation import Score, coco_masks, match_points_to_masks  # noqa: E402
from imagery.grid import ground_pixel_size  # noqa: E402
from imagery.io import read_raster  # noqa: E402
from imagery.raster import Raster  # noqa: E402
from imagery.sensors import prepare_s2  # noqa: E402
from imagery.vessels import detect_vessels  # noqa: E402

PORTS = ("busan", "durban", "honolulu")
TOLERANCE_M = 20.0


def load_port(folder: Path) -> Raster:
    bands = [read_raster(folder / f"{name}.tif") for name in ("B02", "B03", "B04", "B08")]
    first = bands[0]
    stack = Raster(
        data=np.concatenate([b.data for b in bands]),
        transform=first.transform,
        crs=first.crs,
        nodata=None,
        band_names=("B02", "B03", "B04", "B08"),
    )
    return prepare_s2(stack, source=str(folder), scale=1.0 / 65535.0)


def score_port(folder: Path) -> tuple[Score, dict]:
    scene = load_port(folder)
    started = time.perf_counter()
    vessels = detect_vessels(scene)
    seconds = time.perf_counter() - started
    masks = coco_masks(next(folder.glob("*_coco.json")))
    inverse = ~scene.transform
    cols, rows = (
        inverse * (vessels["x"].to_numpy(), vessels["y"].to_numpy()) if len(vessels) else ([], [])
    )
    pixel_m = float(np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)))
    detected_rc = (
        np.column_stack([np.asarray(rows) - 0.5, np.asarray(cols) - 0.5])
        if len(vessels)
        else np.empty((0, 2))
    )
    score = match_points_to_masks(detected_rc, masks, tolerance_px=TOLERANCE_M / pixel_m)
    return score, {
        "ships": len(masks),
        "detections": len(vessels),
        "seconds": round(seconds, 2),
        "pixel_m": round(pixel_m, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sen2ships")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no sen2ships data at {args.data}", file=sys.stderr)
        return 2
    total = Score(0, 0, 0)
    rows = {}
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}"
    )
    print(
        f"{'port':<10} {'ships':>5} {'det':>4} {'tp':>3} {'fp':>3} {'fn':>3} {'P':>6} {'R':>6} {'F1':>6} {'s':>6}"
    )
    for port in PORTS:
        score, info = score_port(args.data / port)
        total = total + score
        rows[port] = {**score.to_dict(), **info}
        print(
            f"{port:<10} {info['ships']:>5} {info['detections']:>4} {score.tp:>3} {score.fp:>3} {score.fn:>3} "
            f"{score.precision:>6.3f} {score.recall:>6.3f} {score.f1:>6.3f} {info['seconds']:>6.2f}"
        )
    print(
        f"{'all':<10} {'':>5} {'':>4} {total.tp:>3} {total.fp:>3} {total.fn:>3} {total.precision:>6.3f} {total.recall:>6.3f} {total.f1:>6.3f}"
    )
    rows["all"] = total.to_dict()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
