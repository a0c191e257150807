"""The demo: simulated passes over two ports, detection, and a summary an analyst can act on.

Runs with no account and no network: it simulates a Sentinel-1 pair over Rajin and a
Sentinel-2 pair over Vostochny (``imagery.simulate``), writes them as GeoTIFFs, reads
them back like any user's files, runs the whole detection path and writes the review
outputs under ``OUT/<aoi>/<after-date>/``. Because the scenes are simulated, the truth
is known, and the summary says how many flags were right.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

from imagery.aoi import get_aoi, safe_id
from imagery.detect import PairResult, detect_pair
from imagery.evaluation import Score, score_detections
from imagery.io import read_raster

__all__ = ["DEMO_PAIRS", "DemoRun", "run_demo"]

log = logging.getLogger(__name__)

#: (AOI id, sensor, seed) of the demo pairs.
DEMO_PAIRS: tuple[tuple[str, str, int], ...] = (("rajin", "s1", 11), ("vostochny", "s2", 23))


@dataclasses.dataclass(frozen=True)
class DemoRun:
    """One demo pair: where its files are and how the flags compare with the truth."""

    aoi_id: str
    aoi_name: str
    sensor: str
    scenes_dir: Path
    run_dir: Path
    result: PairResult
    files: dict[str, Path]
    scores: dict[str, Score]
    seconds: float


def run_demo(
    out_dir: str | Path,
    *,
    size_px: int = 512,
    pairs: tuple[tuple[str, str, int], ...] = DEMO_PAIRS,
    progress: Callable[[str], None] | None = None,
) -> list[DemoRun]:
    """Simulate, detect and write the demo pairs under ``out_dir``.

    Returns
    -------
    list of DemoRun
    """
    from imagery.outputs import write_run_folder
    from imagery.simulate import simulate_pair, write_simulation

    out = Path(out_dir)
    runs = []
    for aoi_id, sensor, seed in pairs:
        started = time.perf_counter()
        aoi = get_aoi(aoi_id)
        if progress:
            progress(f"simulating a {sensor.upper()} pair over {aoi.name}")
        sim = simulate_pair(aoi, sensor=sensor, seed=seed, size_px=size_px)
        scenes_dir = out / "scenes" / f"{safe_id(aoi.id)}-{sensor}"
        paths = write_simulation(sim, scenes_dir)
        if progress:
            progress(f"detecting what is new at {aoi.name}")
        before = read_raster(paths["before"])
        after = read_raster(paths["after"])
        result = detect_pair(
            before, after, sensor=sensor, aoi=aoi, names=(str(paths["before"]), str(paths["after"]))
        )
        files = write_run_folder(result, out, aoi=aoi)
        truth = sim.truth[0]
        scores = {
            kind: score_detections(result.detections, truth, kind=kind, tolerance_m=20.0)
            for kind in ("vessel", "cargo")
        }
        runs.append(
            DemoRun(
                aoi_id=aoi.id,
                aoi_name=aoi.name,
                sensor=sensor,
                scenes_dir=scenes_dir,
                run_dir=files["run_dir"],
                result=result,
                files=files,
                scores=scores,
                seconds=time.perf_counter() - started,
            )
        )
    return runs
