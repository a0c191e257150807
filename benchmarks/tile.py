"""Full-tile pair detection: time and peak memory of a 10980 x 10980 dual-pol S1 pair.

    .venv/bin/python benchmarks/tile.py [--size 10980] [--chunk 1536] [--workers 2] [--quick]
                                        [--package]

The pair is built by tiling a simulated 1098 x 1098 px Sentinel-1 pair (imagery.simulate)
10 x 10 times, written as float32 GeoTIFFs (964 MB each) in a temporary folder. The run
(``imagery.tiled.detect_pair_files``: co-registration from the files, then windowed
detection) happens in a child process, so its peak resident memory (ru_maxrss) is its own.
With ``--package`` the child also writes the display COGs as the windows run and then
the review package (``imagery.outputs.write_pair_outputs``), as ``portwatch detect`` does
for a pair of whole tiles.
Prints wall time per stage, peak memory and flag counts with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_pair(folder: Path, size: int) -> tuple[Path, Path]:
    import numpy as np
    import rasterio

    from imagery.aoi import get_aoi
    from imagery.simulate import simulate_pair

    base = max(256, size // 10)
    reps = -(-size // base)
    sim = simulate_pair(get_aoi("vostochny"), sensor="s1", seed=77, size_px=base)
    paths = []
    for name, scene in zip(("before", "after"), sim.scenes, strict=True):
        path = folder / f"{name}.tif"
        profile = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": 2,
            "dtype": "float32",
            "crs": scene.crs,
            "transform": scene.transform,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "BIGTIFF": "YES",
        }
        row_block = np.tile(scene.data, (1, 1, reps))[:, :, :size]
        with rasterio.open(path, "w", **profile) as ds:
            ds.set_band_description(1, "VV")
            ds.set_band_description(2, "VH")
            ds.update_tags(ACQUISITION_TIME=scene.time.isoformat())
            for r in range(reps):
                top = r * base
                rows = min(base, size - top)
                if rows <= 0:
                    break
                ds.write(row_block[:, :rows], window=rasterio.windows.Window(0, top, size, rows))
        paths.append(path)
    return paths[0], paths[1]


def child(before: str, after: str, out: str, chunk: int, workers: int, package: bool) -> None:
    from imagery.tiled import detect_pair_files

    started = time.perf_counter()
    folder = Path(out).parent
    displays = (folder / "before_display.tif", folder / "after_display.tif") if package else None
    result = detect_pair_files(
        before,
        after,
        sensor="s1",
        change_path=out,
        chunk_px=chunk,
        workers=workers,
        display_paths=displays,
    )
    seconds = dict(result.seconds)
    if package:
        # What `portwatch detect BEFORE AFTER --out RUN` adds for a whole tile.
        from imagery.outputs import write_pair_outputs

        packaged = time.perf_counter()
        write_pair_outputs(result, folder / "run")
        seconds["package"] = time.perf_counter() - packaged
    total = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kinds = result.detections["kind"].value_counts().to_dict() if len(result.detections) else {}
    print(
        json.dumps(
            {
                "seconds_total": round(total, 1),
                "seconds": {k: round(v, 1) for k, v in seconds.items()},
                "package": package,
                "peak_rss_mb": round(peak_mb),
                "windows": result.parameters["windows"],
                "new_vessels": int(kinds.get("vessel", 0)),
                "new_cargo": int(kinds.get("cargo", 0)),
                "departed": len(result.departed),
                "shift_px": [
                    round(result.registration.shift_x_px, 3),
                    round(result.registration.shift_y_px, 3),
                ],
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--chunk", type=int, default=1536)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="A 2745 px pair instead.")
    parser.add_argument(
        "--package",
        action="store_true",
        help="Also write the review package, as `portwatch detect BEFORE AFTER --out RUN` does "
        "(display COGs written as the windows run, chips, project, report).",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/tile[_package].json")
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, args.chunk, args.workers, args.package)
        return 0
    if args.json is None:
        name = "tile_package.json" if args.package else "tile.json"
        args.json = ROOT / "benchmarks" / "results" / name
    size = 2745 if args.quick else args.size
    with tempfile.TemporaryDirectory(prefix="portwatch-tile-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        before, after = build_pair(folder, size)
        print(
            f"built a {size} x {size} dual-pol pair in {time.perf_counter() - started:.0f} s ({os.path.getsize(before) / 1e6:.0f} MB each)"
        )
        cmd = [
            sys.executable,
            __file__,
            "--chunk",
            str(args.chunk),
            "--workers",
            str(args.workers),
            *(["--package"] if args.package else []),
            "--child",
            str(before),
            str(after),
            str(folder / "change.tif"),
        ]
        output = (
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            .stdout.strip()
            .splitlines()[-1]
        )
    report = json.loads(output)
    report.update(
        size_px=size,
        chunk_px=args.chunk,
        workers=args.workers,
        machine=f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
    )
    print(json.dumps(report, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
