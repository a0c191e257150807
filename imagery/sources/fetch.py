"""Search, then fetch every acquisition over an AOI into the imagery store.

One acquisition failing (after its retries) does not stop the others; the
:class:`FetchSummary` says what was fetched, skipped (already in the store and valid),
empty (no valid pixel over the AOI, not stored) and failed, with the reason. A scene
already in the store is checked first (sidecar, size, SHA-256, every block readable)
and its sidecar's request compared with the one that would be sent now (grid bounds,
CRS, size, evalscript hash, processing: :data:`~imagery.sources.process.REQUEST_KEYS`):
valid matching ones are not requested again; damaged ones, and ones fetched for another
AOI polygon or evalscript, are fetched again and replaced (atomically, file by file).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Literal

from imagery.aoi import AOI
from imagery.errors import PortwatchError
from imagery.sources.catalog import Acquisition, search
from imagery.sources.client import collection, make_client, open_session, sh_config
from imagery.sources.config import Settings, load_settings
from imagery.sources.process import REQUEST_KEYS, fetch_raster, input_data, planned_request
from imagery.store import check_scene, read_scene, remember_aoi, scene_path, write_scene

__all__ = ["FetchEvent", "FetchResult", "FetchSummary", "fetch_scenes"]

log = logging.getLogger(__name__)

Status = Literal["fetching", "fetched", "skipped", "empty", "failed"]


@dataclasses.dataclass(frozen=True)
class FetchResult:
    """What happened to one acquisition."""

    acquisition: Acquisition
    status: Status
    path: Path | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class FetchEvent:
    """Passed to the ``progress`` hook: before (``fetching``) and after each acquisition."""

    index: int
    total: int
    result: FetchResult


@dataclasses.dataclass(frozen=True)
class FetchSummary:
    """All results of a fetch run, in acquisition order."""

    results: tuple[FetchResult, ...]

    def _with(self, status: Status) -> list[FetchResult]:
        return [r for r in self.results if r.status == status]

    @property
    def fetched(self) -> list[FetchResult]:
        return self._with("fetched")

    @property
    def skipped(self) -> list[FetchResult]:
        return self._with("skipped")

    @property
    def empty(self) -> list[FetchResult]:
        return self._with("empty")

    @property
    def failed(self) -> list[FetchResult]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    def headline(self) -> str:
        return (
            f"{len(self.results)} acquisition(s): {len(self.fetched)} fetched, "
            f"{len(self.skipped)} skipped (already stored), {len(self.empty)} empty, "
            f"{len(self.failed)} failed"
        )


def _still_valid(path: Path, acq: Acquisition, aoi: AOI, fetch_kwargs: dict) -> bool:
    """True when the stored ``path`` is intact and was fetched with today's request.

    Logs why it is not: a damaged file, or sidecar request fields (grid, CRS, size,
    evalscript, processing) that differ from the request that would be sent now.
    """
    problems = check_scene(path)
    if problems:
        log.warning("%s; fetching it again", problems[0])
        return False
    data_in = input_data(
        acq, fetch_kwargs["collection"], max_cloud_pct=fetch_kwargs.get("max_cloud_pct")
    )
    planned = planned_request(acq, aoi, data_in)
    stored = read_scene(path).metadata.get("request") or {}
    changed = [key for key in REQUEST_KEYS if stored.get(key) != planned[key]]
    if changed:
        log.warning(
            "%s: stored for another request (%s differ from AOI %s now); fetching it again",
            path,
            ", ".join(changed),
            aoi.path or aoi.id,
        )
        return False
    return True


def _fetch_one(
    acq: Acquisition,
    aoi: AOI,
    store: Path,
    *,
    settings: Settings,
    fetch_kwargs: dict,
) -> FetchResult:
    try:
        path = scene_path(store, aoi.id, acq.sensor, acq.start, acq.platform, acq.orbit)
        if path.exists() and _still_valid(path, acq, aoi, fetch_kwargs):
            return FetchResult(acq, "skipped", path)
        raster, request = fetch_raster(acq, aoi, settings=settings, **fetch_kwargs)
        if not raster.valid_mask().any():
            return FetchResult(acq, "empty", None, "no valid pixel over the AOI")
        write_scene(
            path,
            raster,
            aoi_id=aoi.id,
            platform=acq.platform,
            orbit_direction=acq.orbit_direction,
            relative_orbit=acq.relative_orbit,
            acquisition=acq.to_dict(),
            request={**request, **settings.public_dict()},
        )
    except PortwatchError as exc:
        reason = str(exc).removeprefix(f"{acq.label}: ")
        return FetchResult(acq, "failed", None, settings.redact(reason))
    except Exception as exc:  # one broken acquisition must not end the batch
        log.exception("%s: unexpected failure", acq.label)
        return FetchResult(acq, "failed", None, settings.redact(f"{type(exc).__name__}: {exc}"))
    return FetchResult(acq, "fetched", path)


def fetch_scenes(
    aoi: AOI,
    sensor: str,
    start: date,
    end: date,
    store: str | os.PathLike,
    *,
    settings: Settings | None = None,
    max_cloud_pct: float | None = None,
    orbit: int | None = None,
    direction: str | None = None,
    progress: Callable[[FetchEvent], None] | None = None,
) -> FetchSummary:
    """Fetch every ``sensor`` acquisition over ``aoi`` from ``start`` to ``end`` into ``store``.

    Parameters
    ----------
    aoi : AOI
    sensor : {"s1", "s2"}
    start, end : date
        Inclusive UTC days.
    store : path-like
        Root of the imagery store; created when missing.
    settings : Settings, optional
        From :func:`~imagery.sources.config.load_settings` by default.
    max_cloud_pct : float, optional
        Sentinel-2: skip products cloudier than this, percent.
    orbit, direction : optional
        Keep one relative orbit / orbit direction (Sentinel-1 pairs for change must
        share both).
    progress : callable, optional
        Called with a :class:`FetchEvent` before and after each acquisition.

    Returns
    -------
    FetchSummary

    Raises
    ------
    ConfigError
        Missing or refused credentials.
    DownloadError
        The catalog search failed (nothing was fetched).
    """
    settings = (settings or load_settings()).require_credentials()
    store = Path(store)
    remember_aoi(store, aoi)
    session = open_session(settings)
    acquisitions = search(
        aoi,
        sensor,
        start,
        end,
        settings=settings,
        max_cloud_pct=max_cloud_pct,
        orbit=orbit,
        direction=direction,
        session=session,
    )
    fetch_kwargs = {
        "client": make_client(settings, session),
        "config": sh_config(settings),
        "collection": collection(sensor, settings),
        "max_cloud_pct": max_cloud_pct,
    }
    results = []
    total = len(acquisitions)
    for i, acq in enumerate(acquisitions, start=1):
        if progress:
            progress(FetchEvent(i, total, FetchResult(acq, "fetching")))
        result = _fetch_one(acq, aoi, store, settings=settings, fetch_kwargs=fetch_kwargs)
        log.info(
            "%s: %s%s", acq.label, result.status, f" ({result.reason})" if result.reason else ""
        )
        results.append(result)
        if progress:
            progress(FetchEvent(i, total, result))
    return FetchSummary(tuple(results))
