"""Batch jobs: every new pass of every watched port, from the imagery store to review packages.

A job is one pair: an acquisition in the store and the pass before it (for Sentinel-1,
the previous pass of the same relative orbit and direction, so both were seen from the
same geometry). ``plan_jobs`` lists them; ``run_batch`` runs them one at a time or on a
dask cluster (``dask.distributed``: a local cluster of processes, or any scheduler
address), writes each into ``OUT/<aoi>/<after-date>/`` and ``OUT/<aoi>/history.gpkg``,
and ends with a summary. A job that fails does not stop the others; its reason is kept.
Reruns are idempotent: a job whose run folder already records the same input checksums
is skipped (``force`` reruns it; analysts' marks survive either way).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path

from imagery.aoi import safe_id
from imagery.atomic import locked
from imagery.errors import OutputError, PortwatchError
from imagery.store import StoredScene, find_scenes, store_aoi, store_aois

__all__ = ["BatchReport", "Job", "JobResult", "plan_jobs", "run_batch", "run_job"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Job:
    """One pair to process."""

    aoi_id: str
    sensor: str
    before: Path
    after: Path
    before_sha256: str
    after_sha256: str
    after_date: date

    @property
    def name(self) -> str:
        return f"{self.aoi_id}/{self.sensor}/{self.after_date.isoformat()}"


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What became of one job."""

    job: Job
    status: str  # "done" | "skipped" | "failed"
    run_dir: Path | None = None
    new_vessels: int = 0
    new_cargo: int = 0
    departed: int = 0
    seconds: float = 0.0
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class BatchReport:
    """Every job's result, in plan order."""

    results: tuple[JobResult, ...]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> tuple[JobResult, ...]:
        return tuple(r for r in self.results if r.status == "failed")

    def summary(self) -> str:
        lines = [
            f"{len(self.results)} job(s): {self.count('done')} done, {self.count('skipped')} up to date, "
            f"{self.count('failed')} failed"
        ]
        for r in self.results:
            if r.status == "done":
                lines.append(
                    f"  done    {r.job.name}: {r.new_vessels} new vessels, {r.new_cargo} new cargo, "
                    f"{r.departed} departed ({r.seconds:.1f} s) -> {r.run_dir}"
                )
            elif r.status == "failed":
                lines.append(f"  FAILED  {r.job.name}: {r.reason}")
        return "\n".join(lines)


def _geometry_key(scene: StoredScene) -> tuple:
    if scene.sensor == "s1":
        return (scene.orbit_direction, scene.relative_orbit)
    return ()


def plan_jobs(
    store: str | Path,
    aoi_ids: Iterable[str],
    sensors: Sequence[str] = ("s1", "s2"),
    *,
    since: date | None = None,
) -> list[Job]:
    """Every (previous pass, pass) pair in the store, for each AOI and sensor.

    Parameters
    ----------
    store : path-like
        The imagery store (``imagery.store``).
    aoi_ids : iterable of str
    sensors : sequence of {"s1", "s2"}
    since : date, optional
        Only pairs whose after pass is on or after this day.
    """
    aoi_ids = list(aoi_ids)
    # Absolute, so that workers started elsewhere (a dask scheduler's) find the files.
    store = Path(store).resolve()
    held = store_aois(store)  # StoreError: no such store
    for aoi_id in aoi_ids:
        if safe_id(aoi_id) not in held:
            store_aoi(store, aoi_id)  # AOIError: unknown AOI id
    jobs = []
    for aoi_id in aoi_ids:
        for sensor in sensors:
            scenes = find_scenes(store, aoi_id, sensor)
            groups: dict[tuple, list[StoredScene]] = {}
            for scene in scenes:
                if scene.sensor == "s1" and scene.relative_orbit is None:
                    log.warning("%s: no relative orbit recorded; not paired", scene.path)
                    continue
                groups.setdefault(_geometry_key(scene), []).append(scene)
            for group in groups.values():
                group.sort(key=lambda s: s.time)
                for before, after in itertools.pairwise(group):
                    if since is not None and after.date < since:
                        continue
                    jobs.append(
                        Job(
                            aoi_id=aoi_id,
                            sensor=sensor,
                            before=before.path,
                            after=after.path,
                            before_sha256=before.sha256,
                            after_sha256=after.sha256,
                            after_date=after.date,
                        )
                    )
    jobs.sort(key=lambda j: (j.aoi_id, j.sensor, j.after_date))
    return jobs


def _stamp(job: Job) -> dict:
    return {
        "before": str(job.before),
        "after": str(job.after),
        "before_sha256": job.before_sha256,
        "after_sha256": job.after_sha256,
    }


def _up_to_date(run_dir: Path, job: Job) -> bool:
    from imagery.outputs import RUN_STAMP

    stamp = run_dir / RUN_STAMP
    if not (stamp.is_file() and (run_dir / "detections.gpkg").is_file()):
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (
        recorded.get("before_sha256") == job.before_sha256
        and recorded.get("after_sha256") == job.after_sha256
    )


def run_job(
    job: Job, out_root: str | Path, *, force: bool = False, chips: bool = True
) -> JobResult:
    """Run one pair into ``OUT/<aoi>/<after-date>/``; failures are returned, not raised."""
    from imagery.detect import detect_pair
    from imagery.io import read_raster
    from imagery.outputs import run_folder, write_run_folder

    started = time.perf_counter()
    try:
        aoi = store_aoi(job.before.parents[2], job.aoi_id)  # <store>/<aoi>/<sensor>/<scene>
        before = read_raster(job.before, sensor=job.sensor)
        after = read_raster(job.after, sensor=job.sensor)
        run_dir = run_folder(out_root, aoi.id, after.time, job.sensor)
        if not force and _up_to_date(run_dir, job):
            return JobResult(job, "skipped", run_dir=run_dir)
        result = detect_pair(
            before, after, sensor=job.sensor, aoi=aoi, names=(str(job.before), str(job.after))
        )
        run_dir = write_run_folder(result, out_root, aoi=aoi, chips=chips, inputs=_stamp(job))[
            "run_dir"
        ]
    except PortwatchError as exc:
        log.warning("%s failed: %s", job.name, exc)
        return JobResult(job, "failed", reason=str(exc), seconds=time.perf_counter() - started)
    except Exception as exc:  # a full disk, a bug: this pair fails, the batch goes on
        log.exception("%s failed", job.name)
        return JobResult(
            job,
            "failed",
            reason=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - started,
        )
    kinds = result.detections["kind"].value_counts().to_dict()
    return JobResult(
        job,
        "done",
        run_dir=run_dir,
        new_vessels=int(kinds.get("vessel", 0)),
        new_cargo=int(kinds.get("cargo", 0)),
        departed=len(result.departed),
        seconds=time.perf_counter() - started,
    )


def run_batch(
    jobs: Sequence[Job],
    out_root: str | Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    force: bool = False,
    chips: bool = True,
    progress: Callable[[JobResult], None] | None = None,
) -> BatchReport:
    """Run ``jobs``; serially, on a local dask cluster (``workers > 1``) or on ``scheduler``.

    Each job reads its own files and returns a small :class:`JobResult`, so nothing
    large crosses between processes. Results come back in plan order.

    One batch at a time writes into ``out_root`` (a lock on ``out_root/.batch.lock``):
    a second one, a cron run overlapping a slow one, is refused at once. At the end the
    marks analysts saved in the AOIs' run folders are carried into their histories.

    Raises
    ------
    OutputError
        Another batch is writing into ``out_root``.
    """
    if not jobs:
        return BatchReport(())
    out_root = Path(out_root).resolve()
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(locked(out_root / ".batch.lock", wait=False))
        except BlockingIOError as exc:
            raise OutputError(
                f"{out_root}: another portwatch batch is writing here; this one stops "
                "(run it when that one has ended)"
            ) from exc
        report = _run_batch(jobs, out_root, workers, scheduler, force, chips, progress)
        _sync_marks(out_root, {job.aoi_id for job in jobs})
        return report


def _sync_marks(out_root: Path, aoi_ids: set[str]) -> None:
    """Carry the analysts' marks saved in the AOIs' run folders into their histories
    (:func:`imagery.review.history.sync_marks`); a folder that cannot be read is
    reported, not fatal: the runs themselves are done."""
    from imagery.review.history import sync_marks

    for aoi_id in sorted(aoi_ids):
        history = out_root / safe_id(aoi_id) / "history.gpkg"
        if not history.is_file():
            continue
        try:
            for problem in sync_marks(history).unreadable:
                log.warning("%s: marks not carried into the history: %s", history, problem)
        except Exception as exc:  # a full disk, a damaged history: the report still returns
            log.warning("%s: marks not carried into the history: %s", history, exc)


def _run_batch(
    jobs: Sequence[Job],
    out_root: Path,
    workers: int,
    scheduler: str | None,
    force: bool,
    chips: bool,
    progress: Callable[[JobResult], None] | None,
) -> BatchReport:
    if workers <= 1 and scheduler is None:
        results = []
        for job in jobs:
            results.append(run_job(job, out_root, force=force, chips=chips))
            if progress:
                progress(results[-1])
        return BatchReport(tuple(results))
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        # One thread per process: numpy and GDAL parallelise badly inside one job.
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(scheduler or cluster)
    try:
        futures = {
            client.submit(run_job, job, out_root, force=force, chips=chips, pure=False): i
            for i, job in enumerate(jobs)
        }
        results: list[JobResult | None] = [None] * len(jobs)
        for future in as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except Exception as exc:  # a worker died: keep going, report it
                results[index] = JobResult(jobs[index], "failed", reason=f"worker error: {exc}")
            if progress:
                progress(results[index])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return BatchReport(tuple(r for r in results if r is not None))
