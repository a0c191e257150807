"""Water of a Sentinel-1 pair against the simulator's true water: the union of the two
dates' masks against :func:`imagery.water.series_water`.

    .venv/bin/python benchmarks/water.py [--seeds 100-131] [--windy] [--json OUT]

Per pair (the catalogue's ports in turn, 512 px, on the nominal grid: the 1-3 px
misregistration of the simulated scenes is left in), the share of true land taken for
water and of true water taken for land; means over the pairs. Land taken for water is
never searched for cargo; water taken for land loses the vessels on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagery.aoi import load_catalogue  # noqa: E402
from imagery.sensors import prepare  # noqa: E402
from imagery.simulate import seed_list, seeds_argument, simulate_pair  # noqa: E402
from imagery.water import series_water, water_mask  # noqa: E402


def confusion(mask: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(share of true land called water, share of true water called land)."""
    return float((mask & ~truth).sum() / max(1, (~truth).sum())), float(
        (~mask & truth).sum() / max(1, truth.sum())
    )


def run(seeds: list[int], size: int = 512, *, windy: bool = False) -> dict:
    ports = sorted(load_catalogue().values(), key=lambda a: a.id)
    rows = []
    for i, seed in enumerate(seeds):
        aoi = ports[i % len(ports)]
        sim = simulate_pair(aoi, sensor="s1", seed=seed, size_px=size, windy=windy)
        scenes = [prepare(s, "s1") for s in sim.scenes[:2]]
        # Each date's mask as the pair pipeline makes it: enclosed water is judged on the pair's.
        waters = [water_mask(s, enclosed=False) for s in scenes]
        union = confusion(waters[0] | waters[1], sim.water)
        pair = confusion(series_water(scenes, waters), sim.water)
        rows.append({"seed": seed, "port": aoi.id, "union": union, "series_water": pair})
    means = {
        name: [round(float(np.mean([r[name][k] for r in rows])), 4) for k in (0, 1)]
        for name in ("union", "series_water")
    }
    return {"seeds": seeds, "size_px": size, "windy": windy, "mean": means, "pairs": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100-131", type=seeds_argument)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--windy", action="store_true", help="seas as bright as the land in VV")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report = run(seed_list(args.seeds), args.size, windy=args.windy)
    print(f"{len(report['seeds'])} S1 pairs at {args.size} px: mean share of")
    print(f"{'mask':<14} {'land as water':>14} {'water as land':>14}")
    for name, (land, water) in report["mean"].items():
        print(f"{name:<14} {land:>14.4f} {water:>14.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
