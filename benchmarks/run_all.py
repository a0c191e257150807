"""Run every benchmark in turn and keep their JSON results in benchmarks/results/.

.venv/bin/python benchmarks/run_all.py [--quick]

Each benchmark runs as ``benchmarks/README.md`` gives its command, so the JSON files it
writes are the ones the README's tables quote. ``--quick`` runs smaller sets in minutes
and writes to ``benchmarks/results/quick/`` (not kept in git): a quick run never
replaces the committed results of a full one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
QUICK_RESULTS = RESULTS / "quick"


def benchmark_jobs(quick: bool, results: Path | None = None) -> list[list[str]]:
    """The benchmarks to run, each as ``[script, *arguments]``, writing into ``results``
    (default ``benchmarks/results``, or ``benchmarks/results/quick`` when ``quick``)."""
    if results is None:
        results = QUICK_RESULTS if quick else RESULTS

    def out(name: str) -> list[str]:
        return ["--json", str(results / name)]

    jobs = [
        ["coregistration.py", *(["--quick"] if quick else []), *out("coregistration.json")],
        ["detection.py", "--seeds", "9100-9103" if quick else "9100-9119", *out("detection.json")],
        ["vessels.py", "--seeds", "9100-9103" if quick else "9100-9119", *out("vessels.json")],
        ["sen2ships.py", *out("sen2ships.json")],
        ["second_opinion.py", "--seeds", "1-4" if quick else "1-20", *out("second_opinion.json")],
        ["water.py", "--seeds", "100-107" if quick else "100-131", *out("water.json")],
        [
            "windows.py",
            *(["--seeds", "21", "--sensors", "s1"] if quick else ["--pairs"]),
            *out("windows.json"),
        ],
    ]
    if (HERE / "tile.py").exists():
        jobs.append(["tile.py", *(["--quick"] if quick else []), *out("tile.json")])
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smaller runs (minutes instead of tens of minutes), written to benchmarks/results/quick.",
    )
    args = parser.parse_args(argv)
    failed = []
    for job in benchmark_jobs(args.quick):
        print(f"== {' '.join(job)}", flush=True)
        if subprocess.call([sys.executable, str(HERE / job[0]), *job[1:]]) != 0:
            failed.append(job[0])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
