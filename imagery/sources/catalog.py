"""Search the Sentinel Hub Catalog API (STAC) for acquisitions over an AOI.

The catalog lists products (S1 slices, S2 MGRS tiles). Products of one pass, i.e. of
the same platform, orbit direction and relative orbit and within
:data:`PASS_GAP_S` of each other, are grouped into one :class:`Acquisition`, whatever
their UTC date (a pass may straddle midnight; it is named by its first product): that is
what one Process API request over the AOI returns.

Orbit metadata comes from the STAC ``sat:`` extension (``sat:orbit_state``,
``sat:relative_orbit``, ``sat:absolute_orbit``) and falls back to the product id
(``S1A_IW_GRDH_1SDV_<start>_<stop>_<absolute orbit>_...``,
``S2B_MSIL2A_<time>_N0509_R032_T52TGN_...``). When only the absolute orbit is known the
relative orbit is derived (175 orbits per 12-day repeat cycle; offsets from the
Sentinel-1 Mission Performance Centre, ESA STEP forum, 2017):

* S1A: ``(absolute - 73) % 175 + 1``
* S1B: ``(absolute - 27) % 175 + 1``

No offset is published for S1C here, so an S1C product without ``sat:relative_orbit``
keeps ``relative_orbit=None`` (stored as ``ASCA<absolute orbit>``, never paired).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import warnings
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any

from sentinelhub import CRS as SHCRS
from sentinelhub import Geometry, SentinelHubCatalog, SentinelHubSession
from sentinelhub.exceptions import MissingDataInRequestException, SHRateLimitWarning

from imagery.aoi import AOI
from imagery.errors import InputError
from imagery.io import parse_time
from imagery.sources.client import (
    DownloadClient,
    collection,
    make_client,
    open_session,
    sh_config,
)
from imagery.sources.config import Settings, load_settings
from imagery.sources.retry import ErrorBody, body_message, call_with_retries
from imagery.store import PASS_GAP_S, normalise_direction, orbit_label

__all__ = ["PASS_GAP_S", "Acquisition", "StacClient", "group_items", "relative_orbit", "search"]

log = logging.getLogger(__name__)


_S1_ABS_ORBIT = re.compile(r"_(\d{6})_[0-9A-F]{6}_[0-9A-F]{4}$")
_S2_REL_ORBIT = re.compile(r"_R(\d{3})_")
_S2_TILE = re.compile(r"_T(\d{2}[A-Z]{3})_")
_PLATFORM = re.compile(r"^(S[12][A-Z])_")
_S1_OFFSETS = {"S1A": 73, "S1B": 27}


@dataclasses.dataclass(frozen=True)
class Acquisition:
    """One pass of one satellite over the AOI.

    Attributes
    ----------
    sensor : {"s1", "s2"}
    platform : str
        ``S1A``, ``S1B``, ``S1C``, ``S2A``, ``S2B``, ``S2C``.
    start, end : datetime
        UTC sensing times of the first and last product of the pass.
    orbit_direction : {"ASCENDING", "DESCENDING"} or None
    relative_orbit : int or None
        1-175 for S1, 1-143 for S2.
    absolute_orbit : int or None
    cloud_cover : float or None
        Mean ``eo:cloud_cover`` of the products, percent (S2).
    tile : str or None
        MGRS tile of the first S2 product.
    item_ids : tuple of str
        Catalog ids of the products in the pass.
    """

    sensor: str
    platform: str
    start: datetime
    end: datetime
    orbit_direction: str | None = None
    relative_orbit: int | None = None
    absolute_orbit: int | None = None
    cloud_cover: float | None = None
    tile: str | None = None
    item_ids: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.item_ids[0] if self.item_ids else f"{self.platform}_{self.start:%Y%m%dT%H%M%S}"

    @property
    def date(self) -> date:
        return self.start.date()

    @property
    def orbit(self) -> str:
        """Orbit label used in store file names: ``ASC127``, ``DSC054``, ``R032``
        (``ASCA002800`` for an S1 pass of unknown relative orbit)."""
        return orbit_label(
            self.sensor,
            direction=self.orbit_direction,
            relative_orbit=self.relative_orbit,
            tile=self.tile,
            absolute_orbit=self.absolute_orbit if self.sensor == "s1" else None,
        )

    @property
    def label(self) -> str:
        return f"{self.date.isoformat()} {self.platform} {self.orbit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sensor": self.sensor,
            "datetime": _iso(self.start),
            "end_datetime": _iso(self.end),
            "platform": self.platform,
            "orbit_direction": self.orbit_direction,
            "relative_orbit": self.relative_orbit,
            "absolute_orbit": self.absolute_orbit,
            "orbit": self.orbit,
            "cloud_cover": self.cloud_cover,
            "tile": self.tile,
            "items": list(self.item_ids),
        }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def relative_orbit(platform: str, absolute_orbit: int) -> int | None:
    """Sentinel-1 relative orbit (1-175) from the absolute orbit; None if unknown for ``platform``."""
    offset = _S1_OFFSETS.get(platform.upper())
    if offset is None:
        return None
    return (int(absolute_orbit) - offset) % 175 + 1


def _platform(item: dict) -> str:
    text = str(item.get("properties", {}).get("platform") or "")
    match = re.fullmatch(r"sentinel-?([12])([a-z])", text.strip().lower())
    if match:
        return f"S{match.group(1)}{match.group(2).upper()}"
    match = _PLATFORM.match(str(item.get("id", "")))
    if match:
        return match.group(1)
    raise InputError(f"catalog item {item.get('id')!r} names no Sentinel platform")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_item(item: dict, sensor: str) -> Acquisition:
    props = item.get("properties") or {}
    item_id = str(item.get("id", ""))
    when = parse_time(str(props.get("datetime") or ""))
    if when is None:
        raise InputError(f"catalog item {item_id!r} has no readable datetime")
    platform = _platform(item)
    fields: dict[str, Any] = {}
    if sensor == "s1":
        absolute = _int_or_none(props.get("sat:absolute_orbit"))
        if absolute is None:
            match = _S1_ABS_ORBIT.search(item_id)
            absolute = int(match.group(1)) if match else None
        relative = _int_or_none(props.get("sat:relative_orbit"))
        if relative is None and absolute is not None:
            relative = relative_orbit(platform, absolute)
        state = props.get("sat:orbit_state")
        fields.update(
            orbit_direction=normalise_direction(state) if state else None,
            relative_orbit=relative,
            absolute_orbit=absolute,
        )
    else:
        relative = _int_or_none(props.get("sat:relative_orbit"))
        if relative is None:
            match = _S2_REL_ORBIT.search(item_id)
            relative = int(match.group(1)) if match else None
        tile = props.get("s2:mgrs_tile") or props.get("mgrs:tile")
        if not tile:
            match = _S2_TILE.search(item_id)
            tile = match.group(1) if match else None
        cloud = props.get("eo:cloud_cover")
        fields.update(
            relative_orbit=relative,
            absolute_orbit=_int_or_none(props.get("sat:absolute_orbit")),
            cloud_cover=float(cloud) if cloud is not None else None,
            tile=tile,
            orbit_direction=normalise_direction(props["sat:orbit_state"])
            if props.get("sat:orbit_state")
            else None,
        )
    return Acquisition(
        sensor=sensor, platform=platform, start=when, end=when, item_ids=(item_id,), **fields
    )


def _same_pass(a: Acquisition, b: Acquisition) -> bool:
    # No same-date condition: a pass whose slices straddle 00:00 UTC is still one pass
    # (named by its first slice's day), never two scenes to pair with each other.
    return (a.platform, a.orbit_direction, a.relative_orbit) == (
        b.platform,
        b.orbit_direction,
        b.relative_orbit,
    ) and (b.start - a.end).total_seconds() <= PASS_GAP_S


def _merge(group: list[Acquisition]) -> Acquisition:
    first = group[0]
    clouds = [g.cloud_cover for g in group if g.cloud_cover is not None]
    return dataclasses.replace(
        first,
        start=min(g.start for g in group),
        end=max(g.end for g in group),
        cloud_cover=round(sum(clouds) / len(clouds), 2) if clouds else None,
        item_ids=tuple(i for g in group for i in g.item_ids),
    )


def group_items(items: Iterable[dict], sensor: str) -> list[Acquisition]:
    """Turn catalog items (STAC features) into acquisitions, one per pass, sorted by time.

    Duplicate item ids (the same product listed twice) are dropped; an item without a
    readable time or platform is skipped with a warning.
    """
    seen: set[str] = set()
    parsed = []
    for item in items:
        if item.get("id") in seen:
            continue
        seen.add(item.get("id"))
        try:
            parsed.append(_parse_item(item, sensor))
        except InputError as exc:
            log.warning("skipping catalog item: %s", exc)
    parsed.sort(key=lambda a: (a.start, a.platform))
    groups: list[list[Acquisition]] = []
    for acq in parsed:
        for group in groups[-4:]:  # passes of other platforms may interleave within minutes
            if _same_pass(group[-1], acq):
                group.append(acq)
                break
        else:
            groups.append([acq])
    return [_merge(g) for g in groups]


class StacClient(DownloadClient):
    """The download client for Catalog searches: every answer must be a STAC page.

    sentinelhub-py reads ``page["context"]["next"]`` and ``page["features"]`` blindly,
    so a 200 holding an error document ended a run with ``KeyError('context')``. A page
    without ``features`` raises :class:`~imagery.sources.retry.ErrorBody` with the
    server's message; a page without the (optional) STAC ``context`` extension is taken
    as the last page.
    """

    def get_json_dict(self, url: str, *args: Any, **kwargs: Any) -> dict:
        try:
            page = super().get_json_dict(url, *args, **kwargs)
        except (ValueError, MissingDataInRequestException) as exc:
            raise ErrorBody(f"HTTP 200 but not a JSON object ({exc})") from exc
        return _stac_page(page)


def _stac_page(page: dict) -> dict:
    if not isinstance(page.get("features"), list):
        raise ErrorBody(f"{body_message(200, 'OK', page)} (not a STAC page: no 'features')")
    if not isinstance(page.get("context"), dict):
        page = {**page, "context": {}}
    return page


def _time_interval(start: date, end: date) -> tuple[datetime, datetime]:
    if end < start:
        raise InputError(f"end date {end} is before start date {start}")
    return (
        datetime.combine(start, time(0, 0), tzinfo=UTC),
        datetime.combine(end, time.max, tzinfo=UTC),  # inclusive: to 23:59:59.999999
    )


def search(
    aoi: AOI,
    sensor: str,
    start: date,
    end: date,
    *,
    settings: Settings | None = None,
    max_cloud_pct: float | None = None,
    orbit: int | None = None,
    direction: str | None = None,
    session: SentinelHubSession | None = None,
    page_size: int = 100,
) -> list[Acquisition]:
    """Acquisitions of ``sensor`` over ``aoi`` between ``start`` and ``end`` (inclusive, UTC days).

    Parameters
    ----------
    aoi : AOI
    sensor : {"s1", "s2"}
        ``s1``: Sentinel-1 IW GRD, dual polarisation VV+VH, high resolution.
        ``s2``: Sentinel-2 L2A.
    start, end : date
    settings : Settings, optional
        From :func:`~imagery.sources.config.load_settings` by default.
    max_cloud_pct : float, optional
        Keep S2 products with ``eo:cloud_cover`` at most this, percent (0-100).
    orbit : int, optional
        Keep only this relative orbit.
    direction : str, optional
        Keep only this orbit direction (``ASCENDING``/``ASC``, ``DESCENDING``/``DSC``).
    session : SentinelHubSession, optional
        Reuse an authenticated session; one is opened otherwise.
    page_size : int, default 100
        Catalog page size; the search follows ``next`` links until the end.

    Returns
    -------
    list of Acquisition
        One per pass, sorted by time.
    """
    if max_cloud_pct is not None and not 0 <= max_cloud_pct <= 100:
        raise InputError(f"max cloud cover must be 0-100 percent, got {max_cloud_pct}")
    if max_cloud_pct is not None and sensor != "s2":
        raise InputError("max cloud cover applies to Sentinel-2 (s2) only")
    interval = _time_interval(start, end)
    settings = (settings or load_settings()).require_credentials()
    data_collection = collection(sensor, settings)
    session = session or open_session(settings)
    catalog = SentinelHubCatalog(config=sh_config(settings))
    catalog.client = make_client(settings, session, cls=StacClient)
    query = f"eo:cloud_cover <= {max_cloud_pct:g}" if max_cloud_pct is not None else None

    def run() -> list[dict]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SHRateLimitWarning)  # our rate limiter logs waits
            return list(
                catalog.search(
                    data_collection,
                    time=interval,
                    geometry=Geometry(aoi.geometry, SHCRS.WGS84),
                    filter=query,
                    limit=page_size,
                )
            )

    items = call_with_retries(run, settings=settings, what=f"catalog search over {aoi.id}")
    acquisitions = group_items(items, sensor)
    if max_cloud_pct is not None:
        acquisitions = [
            a for a in acquisitions if a.cloud_cover is None or a.cloud_cover <= max_cloud_pct
        ]
    if orbit is not None:
        acquisitions = [a for a in acquisitions if a.relative_orbit == orbit]
    if direction is not None:
        wanted = normalise_direction(direction)
        acquisitions = [a for a in acquisitions if a.orbit_direction == wanted]
    log.info(
        "%d %s acquisition(s) over %s from %d catalog item(s)",
        len(acquisitions),
        sensor,
        aoi.id,
        len(items),
    )
    return acquisitions
