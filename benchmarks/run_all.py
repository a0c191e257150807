"""Run every benchmark in turn and keep their JSON results in benchmarks/results/.

.venv/bin/python benchmarks/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="Smaller runs (minutes instead of tens of minutes)."
    )
    args = parser.parse_args(argv)
    results = HERE / "results"
    jobs = [
        ["coregistration.py", *(["--quick"] if args.quick else [])],
        [
            "detection.py",
            "--json",
            str(results / "detection.json"),
            *(["--seeds", "9000-9003"] if args.quick else []),
        ],
        [
            "vessels.py",
            "--json",
            str(results / "vessels.json"),
            *(["--seeds", "9100-9103"] if args.quick else []),
        ],
        ["sen2ships.py", "--json", str(results / "sen2ships.json")],
        [
            "second_opinion.py",
            "--json",
            str(results / "second_opinion.json"),
            *(["--seeds", "1-4"] if args.quick else []),
        ],
        [
            "water.py",
            "--json",
            str(results / "water.json"),
            *(["--seeds", "100-107"] if args.quick else []),
        ],
        [
            "windows.py",
            "--json",
            str(results / "windows.json"),
            *(["--seeds", "21", "--sensors", "s1"] if args.quick else ["--pairs"]),
        ],
    ]
    if (HERE / "tile.py").exists():
        jobs.append(["tile.py", *(["--quick"] if args.quick else [])])
    failed = []
    for job in jobs:
        print(f"== {' '.join(job)}", flush=True)
        if subprocess.call([sys.executable, str(HERE / job[0]), *job[1:]]) != 0:
            failed.append(job[0])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
