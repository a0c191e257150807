#!/usr/bin/env python3
"""Cron entry point: fetch the last days' passes of every watched port, then process them.

    scripts/nightly.py --store /data/portwatch/store --root /data/portwatch/results [--days 3] [--workers 2]

Logic lives in ``imagery.sources`` (fetch) and ``imagery.batch`` (detect); this script
only wires them with the portwatch command line, so cron sees one exit status: 0 when
every fetch and every pair succeeded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime, timedelta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--aoi", action="append", default=[], help="AOI id (repeat); default: the catalogue"
    )
    parser.add_argument("--sensor", action="append", default=[], choices=["s1", "s2"])
    args = parser.parse_args(argv)
    portwatch = [sys.executable, "-m", "imagery.cli.main"]
    if not args.aoi:
        from imagery.aoi import load_catalogue

        args.aoi = sorted(load_catalogue())
    sensors = args.sensor or ["s1", "s2"]
    end = datetime.now(UTC).date()
    start = end - timedelta(days=args.days)
    status = 0
    for aoi in args.aoi:
        for sensor in sensors:
            cmd = [
                *portwatch,
                "fetch",
                "--aoi",
                aoi,
                "--sensor",
                sensor,
                "--start",
                str(start),
                "--end",
                str(end),
                "--store",
                args.store,
            ]
            status |= subprocess.call(cmd)
    cmd = [
        *portwatch,
        "batch",
        "--store",
        args.store,
        "--root",
        args.root,
        "--since",
        str(start),
        "--workers",
        str(args.workers),
    ]
    for aoi in args.aoi:
        cmd += ["--aoi", aoi]
    status |= subprocess.call(cmd)
    return 1 if status else 0


if __name__ == "__main__":
    raise SystemExit(main())
