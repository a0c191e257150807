"""Vessel detection on real Sentinel-2 port scenes with annotated ships (sen2ships).

Runs ``imagery.vessels.detect_vessels`` on every port folder of a sen2ships tree (by
default ``../shared/data/sen2ships``: Busan, Durban and Honolulu) and scores it against
the COCO ship masks: a detection matches a ship when its centre lies within 20 m of the
ship's mask (one-to-one). A port folder is one holding a COCO file (``*coco*.json``, also
in a subfolder, as in the published dataset's ``annotations/``) and the four 10 m bands
as GeoTIFFs whose names carry the band (``B02.tif`` or EO Browser's
``..._Sentinel-2_L2A_B02_(Raw).tiff``); B11, when there, is read too.

    .venv/bin/python benchmarks/sen2ships.py [--data DIR] [--json OUT] [--s2-scale S] [--zoom F]

Prints precision, recall and F1 per port and in total, with the default parameters,
then a leave-one-port-out check of the constants that were set looking at these
scenes: the berthed-score threshold ``berth_min_score``, the shortest vessel
``s2_min_length_m``, the smallest B08 step afloat ``s2_min_contrast`` and the berthed
candidates' distance from the quay-water mixing line ``berth_min_unmixed``. For each
port, the combination that maximises the pooled F1 of the two other ports is applied
to it. Writes everything to ``benchmarks/results/sen2ships.json``. Takes about five
minutes on two cores (each port is run for every length, contrast and distance tried).

The files are EO Browser 16-bit "raw" exports: their digital numbers are reflectance x
65535 (open sea B08 ~ 290, land B08 ~ 11 400 would be reflectance 1.14 at x 10000). They
are read as ``portwatch vessels`` reads them, with no scale given: the numbers tell it
(``imagery.sensors.s2_digital_number_scale``: 1/65535 for all three). They are in EPSG:3857, where a 10-unit pixel is about
8.2 m (Busan) to 9.2 m (Honolulu) on the ground; sizes are measured on the ground.

``--zoom F`` resamples each port's bands and ship masks by ``F`` (nearest neighbour, as
Sentinel Hub resamples by default) before detecting: the same ships on the finer pixels
that an EO Browser export of a port further from the equator has (a Web Mercator pixel
is 10 cos(latitude) m: 7.2 m at Genoa, 5.9 m at Hamburg, against Busan's 8.2 m). The
leave-one-port-out check is skipped, and the JSON goes to ``sen2ships_zoom<F>.json``.
Contains modified Copernicus Sentinel data.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from affine import Affine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagery import products  # noqa: E402
from imagery.errors import BandError  # noqa: E402
from imagery.evaluation import Score, coco_masks, match_points_to_masks  # noqa: E402
from imagery.grid import ground_pixel_size  # noqa: E402
from imagery.io import read_raster  # noqa: E402
from imagery.raster import Raster  # noqa: E402
from imagery.sensors import prepare_s2  # noqa: E402
from imagery.vessels import VesselParams, detect_vessels  # noqa: E402

TOLERANCE_M = 20.0
#: Constants tried by the leave-one-port-out check (the defaults among them).
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.30, 0.80, 0.05))
MIN_LENGTHS_M = (30.0, 45.0)
MIN_CONTRASTS = (0.01, 0.02)
MIN_UNMIXED = (0.0, 0.05, 0.1, 0.15)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


BANDS = ("B02", "B03", "B04", "B08")
OPTIONAL_BANDS = ("B11",)


def band_files(folder: Path) -> dict[str, Path]:
    """Files of ``folder`` by the band their name carries (``B02``, not ``B021`` or ``B02A``)."""
    wanted = (*BANDS, *OPTIONAL_BANDS)
    return {b: Path(paths[0]) for b, paths in products.band_files(folder).items() if b in wanted}


def coco_file(folder: Path) -> Path | None:
    """The port's COCO annotation file, in the folder or below it."""
    return next(iter(sorted(folder.rglob("*coco*.json"))), None)


def find_ports(data: Path) -> list[str]:
    """Folders of ``data`` with a COCO file and the four 10 m bands, sorted by name."""
    return [
        folder.name
        for folder in sorted(p for p in data.iterdir() if p.is_dir())
        if coco_file(folder) is not None and all(b in band_files(folder) for b in BANDS)
    ]


def load_port(folder: Path, s2_scale: float | None = None) -> Raster:
    """The 10 m bands (and B11 when there) of one sen2ships port as a prepared S2 scene.

    Read as a product folder (:mod:`imagery.products`), as ``portwatch vessels`` reads it.
    """
    try:
        raster = read_raster(folder, sensor="s2")
    except BandError as exc:
        raise FileNotFoundError(str(exc)) from exc
    return prepare_s2(raster, source=str(folder), scale=s2_scale)


def score_vessels(vessels, scene: Raster, masks: list[np.ndarray]) -> Score:
    """Match detection centres to ship masks within ``TOLERANCE_M`` on the ground."""
    pixel_m = float(np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)))
    if len(vessels):
        cols, rows = ~scene.transform * (vessels["x"].to_numpy(), vessels["y"].to_numpy())
        # x, y are pixel centres; the masks index pixels.
        detected_rc = np.column_stack([np.asarray(rows) - 0.5, np.asarray(cols) - 0.5])
    else:
        detected_rc = np.empty((0, 2))
    return match_points_to_masks(detected_rc, masks, tolerance_px=TOLERANCE_M / pixel_m)


def zoomed(scene: Raster, masks: list[np.ndarray], factor: float):
    """``scene`` and its ship ``masks`` resampled nearest-neighbour onto pixels ``factor``
    times finer (coarser below 1), over the same ground (the last partial pixel dropped)."""
    rows, cols = (max(1, int(n * factor)) for n in scene.shape)
    # The source pixel under each new pixel's centre.
    pick_rows = np.minimum(((np.arange(rows) + 0.5) / factor).astype(int), scene.height - 1)
    pick_cols = np.minimum(((np.arange(cols) + 0.5) / factor).astype(int), scene.width - 1)
    grid = np.ix_(pick_rows, pick_cols)
    data = scene.data[(slice(None), *grid)]
    transform = scene.transform * Affine.scale(1.0 / factor)
    return scene.replace(data=data, transform=transform), [m[grid] for m in masks]


def run_port(
    folder: Path, params: VesselParams, s2_scale: float | None = None, zoom: float = 1.0
) -> dict:
    """Detect once with every berthed candidate kept; thresholds are applied afterwards."""
    scene = load_port(folder, s2_scale)
    masks = coco_masks(coco_file(folder))
    if zoom != 1.0:
        scene, masks = zoomed(scene, masks, zoom)
    open_params = dataclasses.replace(params, berth_min_score=0.0)
    started = time.perf_counter()
    vessels = detect_vessels(scene, params=open_params)
    seconds = time.perf_counter() - started
    pixel_m = float(np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)))
    return {
        "scene": scene,
        "masks": masks,
        "vessels": vessels,
        "seconds": seconds,
        "pixel_m": pixel_m,
        "shape": scene.shape,
    }


def at_threshold(run: dict, threshold: float) -> tuple[Score, object]:
    vessels = run["vessels"]
    if len(vessels):
        keep = (vessels["setting"] != "berthed") | (vessels["score"] >= threshold)
        vessels = vessels.loc[keep]
    return score_vessels(vessels, run["scene"], run["masks"]), vessels


def leave_one_port_out(
    data: Path, params: VesselParams, runs: dict[str, dict], s2_scale: float | None = None
) -> dict:
    """For each port: the constants best on the other two, and the port's score with them."""
    table: dict[tuple, dict[str, Score]] = {}
    for length, contrast, unmixed in itertools.product(MIN_LENGTHS_M, MIN_CONTRASTS, MIN_UNMIXED):
        trial = dataclasses.replace(
            params, s2_min_length_m=length, s2_min_contrast=contrast, berth_min_unmixed=unmixed
        )
        same = trial == dataclasses.replace(params)
        for port in runs:
            run = runs[port] if same else run_port(data / port, trial, s2_scale)
            for t in THRESHOLDS:
                table.setdefault((length, contrast, unmixed, t), {})[port] = at_threshold(run, t)[0]
    out = {}
    default = (
        params.s2_min_length_m,
        params.s2_min_contrast,
        params.berth_min_unmixed,
        params.berth_min_score,
    )
    for held in runs:

        def pooled(key, held=held):
            return sum((table[key][p] for p in runs if p != held), Score(0, 0, 0)).f1

        # Ties go to the defaults, then to the closest threshold.
        best = max(table, key=lambda k: (pooled(k), k == default, -abs(k[3] - default[3])))
        out[held] = {
            "s2_min_length_m": best[0],
            "s2_min_contrast": best[1],
            "berth_min_unmixed": best[2],
            "berth_min_score": best[3],
            "train_f1": round(pooled(best), 4),
            **table[best][held].to_dict(),
        }
    return out


def _report_leave_one_port_out(args, params: VesselParams, runs: dict) -> dict:
    """Run and print :func:`leave_one_port_out`; its rows with the pooled total."""
    lopo = leave_one_port_out(args.data, params, runs, args.s2_scale)
    lopo_total = sum((Score(v["tp"], v["fp"], v["fn"]) for v in lopo.values()), Score(0, 0, 0))
    print(
        "\nleave one port out: s2_min_length_m, s2_min_contrast, berth_min_unmixed and"
        " berth_min_score chosen on the two other ports"
    )
    print(
        f"{'held out':<10} {'len':>4} {'contr':>5} {'mix':>5} {'thr':>5} {'trainF1':>7} {'tp':>3} "
        f"{'fp':>3} {'fn':>3} {'P':>6} {'R':>6} {'F1':>6}"
    )
    for port, v in lopo.items():
        print(
            f"{port:<10} {v['s2_min_length_m']:>4.0f} {v['s2_min_contrast']:>5.2f} "
            f"{v['berth_min_unmixed']:>5.2f} {v['berth_min_score']:>5.2f} {v['train_f1']:>7.3f} "
            f"{v['tp']:>3} {v['fp']:>3} {v['fn']:>3} {v['precision']:>6.3f} {v['recall']:>6.3f} "
            f"{v['f1']:>6.3f}"
        )
    print(
        f"{'all':<10} {'':>4} {'':>5} {'':>5} {'':>5} {'':>7} {lopo_total.tp:>3} {lopo_total.fp:>3} "
        f"{lopo_total.fn:>3} {lopo_total.precision:>6.3f} {lopo_total.recall:>6.3f} "
        f"{lopo_total.f1:>6.3f}"
    )
    return {**lopo, "all": lopo_total.to_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sen2ships")
    parser.add_argument(
        "--s2-scale",
        type=float,
        default=None,
        help="read the folders at this reflectance per digital number (default: as their "
        "numbers tell, as portwatch vessels does; 1e-4 reads them as L2A)",
    )
    parser.add_argument(
        "--zoom",
        type=float,
        default=1.0,
        help="resample the ports by this factor (nearest) first: finer pixels, as exports "
        "of ports at higher latitudes have; skips the leave-one-port-out check",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.zoom <= 0:
        parser.error("--zoom must be positive")
    if args.json is None:
        name = "sen2ships.json" if args.zoom == 1.0 else f"sen2ships_zoom{args.zoom:g}.json"
        args.json = ROOT / "benchmarks" / "results" / name
    if not args.data.is_dir():
        print(f"no sen2ships data at {args.data}", file=sys.stderr)
        return 2
    params = VesselParams()
    cpu = _cpu_name()
    print(f"machine: {cpu}, {os.cpu_count()} cores, python {platform.python_version()}")
    ports = find_ports(args.data)
    if not ports:
        print(
            f"no port folders (COCO file and bands B02 B03 B04 B08) in {args.data}", file=sys.stderr
        )
        return 2
    runs = {port: run_port(args.data / port, params, args.s2_scale, args.zoom) for port in ports}

    header = f"{'port':<10} {'ships':>5} {'det':>4} {'tp':>3} {'fp':>3} {'fn':>3} {'P':>6} {'R':>6} {'F1':>6} {'s':>6}"
    print(f"\ndefault parameters (berth_min_score = {params.berth_min_score})")
    print(header)
    total = Score(0, 0, 0)
    rows: dict[str, dict] = {}
    for port, run in runs.items():
        score, vessels = at_threshold(run, params.berth_min_score)
        total = total + score
        kinds = vessels["setting"].value_counts().to_dict() if len(vessels) else {}
        rows[port] = {
            **score.to_dict(),
            "ships": len(run["masks"]),
            "detections": len(vessels),
            "afloat": int(kinds.get("afloat", 0)),
            "berthed": int(kinds.get("berthed", 0)),
            "seconds": round(run["seconds"], 2),
            "pixels": list(run["shape"]),
            "pixel_m": round(run["pixel_m"], 2),
        }
        print(
            f"{port:<10} {len(run['masks']):>5} {len(vessels):>4} {score.tp:>3} {score.fp:>3} "
            f"{score.fn:>3} {score.precision:>6.3f} {score.recall:>6.3f} {score.f1:>6.3f} "
            f"{run['seconds']:>6.2f}"
        )
    rows["all"] = total.to_dict()
    print(
        f"{'all':<10} {'':>5} {'':>4} {total.tp:>3} {total.fp:>3} {total.fn:>3} "
        f"{total.precision:>6.3f} {total.recall:>6.3f} {total.f1:>6.3f}"
    )

    lopo: dict = {}
    if args.zoom == 1.0:
        lopo = _report_leave_one_port_out(args, params, runs)
    else:
        print("\n(zoomed: the leave-one-port-out check is skipped)")
    unthresholded = sum((at_threshold(r, 0.0)[0] for r in runs.values()), Score(0, 0, 0))
    print(f"\n(defaults without the berthed-score threshold: F1 {unthresholded.f1:.3f})")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": {
                    "cpu": cpu,
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                },
                "tolerance_m": TOLERANCE_M,
                "params": params.to_dict(),
                "default": rows,
                "zoom": args.zoom,
                "leave_one_port_out": lopo,
            },
            indent=2,
        )
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
