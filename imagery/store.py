"""The local imagery store: downloaded scenes as COGs with JSON sidecars.

Layout::

    STORE/<aoi>/<sensor>/<YYYY-MM-DD>_<platform>_<orbit>.tif
    STORE/<aoi>/<sensor>/<YYYY-MM-DD>_<platform>_<orbit>.json

``<aoi>`` is the AOI id through :func:`imagery.aoi.safe_id`; ``<sensor>`` is ``s1`` or
``s2``; ``<orbit>`` is ``ASC127`` / ``DSC054`` for Sentinel-1 (direction and relative
orbit; ``ASCA002800`` with the absolute orbit when the relative one is unknown) and
``R032`` for Sentinel-2 (relative orbit; the MGRS tile when unknown).

The sidecar records the request (no credentials), the acquisition metadata, and the
SHA-256 and size of the ``.tif``. A scene is *valid* when its sidecar reads, the size
and checksum match, and GDAL reads every block. Both files are written atomically, the
sidecar last, so a ``.tif`` without a sidecar is an interrupted write.

Lookups for the detection stage: :func:`find_scenes`, :func:`resolve` (one scene by
AOI, sensor and date) and :func:`pair_for` (an after scene and the most recent earlier
scene of the same Sentinel-1 relative orbit and direction).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import rasterio
from rasterio.errors import RasterioError

from imagery import __version__
from imagery.aoi import safe_id
from imagery.atomic import atomic_write_text
from imagery.errors import InputError, StoreError
from imagery.io import ORBIT_DIRECTION_TAG, write_raster
from imagery.raster import SENSORS, Raster

__all__ = [
    "PASS_GAP_S",
    "SIDECAR_SCHEMA",
    "StoredScene",
    "check_scene",
    "find_scenes",
    "list_scenes",
    "normalise_direction",
    "orbit_label",
    "pair_for",
    "pair_on",
    "read_scene",
    "resolve",
    "same_pass",
    "scene_path",
    "sha256_file",
    "store_aois",
    "verify_store",
    "write_scene",
]

log = logging.getLogger(__name__)

SIDECAR_SCHEMA = "portwatch.scene/1"
#: Products (and scenes) of one platform closer than this, seconds, are one pass: a
#: satellite is back over a place one orbit (about 100 min) later at the earliest.
PASS_GAP_S = 600.0
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})_([A-Z0-9]+)_([A-Za-z0-9]+)\.tif$")
_DIRECTIONS = {
    "ASCENDING": "ASCENDING",
    "ASC": "ASCENDING",
    "A": "ASCENDING",
    "DESCENDING": "DESCENDING",
    "DSC": "DESCENDING",
    "DES": "DESCENDING",
    "DESC": "DESCENDING",
    "D": "DESCENDING",
}


def normalise_direction(direction: str) -> str:
    """``ASCENDING`` or ``DESCENDING`` from any common spelling (``asc``, ``dsc``, ``descending``)."""
    try:
        return _DIRECTIONS[str(direction).strip().upper()]
    except KeyError:
        raise InputError(
            f"orbit direction must be ascending or descending, got {direction!r}"
        ) from None


def orbit_label(
    sensor: str,
    *,
    direction: str | None = None,
    relative_orbit: int | None = None,
    tile: str | None = None,
    absolute_orbit: int | None = None,
) -> str:
    """The ``<orbit>`` part of a scene file name.

    Sentinel-1: ``ASC127`` / ``DSC054`` (``UNK`` for an unknown direction). When the
    relative orbit is unknown (S1C without ``sat:relative_orbit``) the absolute orbit
    names the pass, ``ASCA002800``, so two passes of one day (adjacent orbits, ~100 min
    apart at high latitude) do not share a file; ``ASC`` alone when both are unknown.
    Sentinel-2: ``R032``, else the MGRS tile (``T52TGN``), else ``R000``.
    """
    _check_sensor(sensor)
    if sensor == "s1":
        if direction is None:
            prefix = "UNK"
        else:
            prefix = "ASC" if normalise_direction(direction) == "ASCENDING" else "DSC"
        if relative_orbit is not None:
            return f"{prefix}{int(relative_orbit):03d}"
        return prefix if absolute_orbit is None else f"{prefix}A{int(absolute_orbit):06d}"
    if relative_orbit is not None:
        return f"R{int(relative_orbit):03d}"
    if tile:
        return "T" + re.sub(r"[^A-Za-z0-9]", "", tile).upper().removeprefix("T")
    return "R000"


def _check_sensor(sensor: str) -> None:
    if sensor not in SENSORS:
        raise InputError(f"sensor must be one of {SENSORS}, got {sensor!r}")


def _as_date(when: date | datetime | str) -> date:
    if isinstance(when, datetime):
        return when.astimezone(UTC).date() if when.tzinfo else when.date()
    if isinstance(when, date):
        return when
    try:
        return date.fromisoformat(str(when).strip()[:10])
    except ValueError:
        raise InputError(f"date must be YYYY-MM-DD, got {when!r}") from None


def scene_path(
    store: str | os.PathLike,
    aoi_id: str,
    sensor: str,
    when: date | datetime | str,
    platform: str,
    orbit: str,
) -> Path:
    """``STORE/<aoi>/<sensor>/<YYYY-MM-DD>_<platform>_<orbit>.tif``."""
    _check_sensor(sensor)
    platform = re.sub(r"[^A-Z0-9]", "", platform.upper())
    orbit = re.sub(r"[^A-Za-z0-9]", "", orbit)
    if not platform or not orbit:
        raise InputError(f"platform {platform!r} and orbit {orbit!r} must be non-empty")
    name = f"{_as_date(when).isoformat()}_{platform}_{orbit}.tif"
    return Path(store) / safe_id(aoi_id) / sensor / name


def sidecar_path(tif: str | os.PathLike) -> Path:
    return Path(tif).with_suffix(".json")


def sha256_file(path: str | os.PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class StoredScene:
    """A scene in the store, as its sidecar describes it.

    Attributes
    ----------
    path : Path
        The ``.tif``.
    aoi_id, sensor, platform, orbit : str
        ``orbit`` is the file-name label (``ASC127``, ``R032``).
    time : datetime
        UTC acquisition time.
    orbit_direction : str or None
        ``ASCENDING`` / ``DESCENDING``.
    relative_orbit : int or None
    sha256 : str
    size_bytes : int
    metadata : dict
        The whole sidecar.
    """

    path: Path
    aoi_id: str
    sensor: str
    time: datetime
    platform: str
    orbit: str
    orbit_direction: str | None
    relative_orbit: int | None
    sha256: str
    size_bytes: int
    metadata: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def date(self) -> date:
        return self.time.date()

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "aoi": self.aoi_id,
            "sensor": self.sensor,
            "date": self.date.isoformat(),
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "platform": self.platform,
            "orbit": self.orbit,
            "orbit_direction": self.orbit_direction,
            "relative_orbit": self.relative_orbit,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }


#: Beside each AOI's scenes: the AOI they were fetched for, so that a user's own AOI
#: file (not in the catalogue) can be found again by its id.
AOI_FILE = "aoi.geojson"


def remember_aoi(store: str | os.PathLike, aoi) -> Path:
    """Write ``STORE/<aoi>/aoi.geojson`` (atomically) so the store knows its AOI."""
    path = Path(store) / safe_id(aoi.id) / AOI_FILE
    return atomic_write_text(path, json.dumps(aoi.to_geojson(), indent=2))


def store_aoi(store: str | os.PathLike, id_or_path: str):
    """The AOI for ``id_or_path``: a GeoJSON file, a catalogue id, or an id the store
    remembers (``STORE/<id>/aoi.geojson``)."""
    from imagery.aoi import get_aoi, load_aoi
    from imagery.errors import AOIError

    try:
        return get_aoi(id_or_path)
    except AOIError:
        remembered = Path(store) / safe_id(str(id_or_path)) / AOI_FILE
        if remembered.is_file():
            return load_aoi(remembered)
        raise


def write_scene(
    path: str | os.PathLike,
    raster: Raster,
    *,
    aoi_id: str,
    platform: str,
    orbit_direction: str | None = None,
    relative_orbit: int | None = None,
    acquisition: dict[str, Any] | None = None,
    request: dict[str, Any] | None = None,
) -> StoredScene:
    """Write ``raster`` as a COG at ``path`` and its sidecar beside it, both atomically.

    Parameters
    ----------
    path : path-like
        Target ``.tif``, normally from :func:`scene_path`.
    raster : Raster
        Needs ``time`` and ``sensor``; band names become band descriptions.
    aoi_id, platform : str
    orbit_direction, relative_orbit : optional
        Recorded for pairing (Sentinel-1).
    acquisition, request : dict, optional
        Catalog metadata and the Process API request (no credentials), kept verbatim.

    Returns
    -------
    StoredScene
    """
    path = Path(path)
    if raster.time is None or raster.sensor is None:
        raise InputError(f"{path}: a stored scene needs the raster's time and sensor")
    tags = {"PLATFORM": platform, "AOI": aoi_id}
    if orbit_direction:
        tags[ORBIT_DIRECTION_TAG] = normalise_direction(orbit_direction)
    if relative_orbit is not None:
        tags["RELATIVE_ORBIT"] = str(relative_orbit)
    write_raster(raster, path, tags=tags)
    valid = raster.valid_mask()
    sidecar = {
        "schema": SIDECAR_SCHEMA,
        "file": path.name,
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "portwatch_version": __version__,
        "aoi": aoi_id,
        "sensor": raster.sensor,
        "time": raster.time.isoformat().replace("+00:00", "Z"),
        "platform": platform,
        "orbit": path.stem.split("_", 2)[-1],
        "orbit_direction": normalise_direction(orbit_direction) if orbit_direction else None,
        "relative_orbit": relative_orbit,
        "raster": {
            "width": raster.width,
            "height": raster.height,
            "bands": list(raster.band_names),
            "dtype": str(raster.dtype),
            "nodata": None if raster.nodata is None else str(raster.nodata),
            "crs": raster.crs.to_string(),
            "transform": list(raster.transform)[:6],
            "valid_fraction": round(float(valid.mean()), 4),
        },
        "acquisition": acquisition or {},
        "request": request or {},
    }
    atomic_write_text(sidecar_path(path), json.dumps(sidecar, indent=2) + "\n")
    return _scene_from_sidecar(path, sidecar)


def _load_sidecar(tif: Path) -> dict[str, Any]:
    side = sidecar_path(tif)
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(
            f"{tif}: no sidecar {side.name} (interrupted write?); fetch it again"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{side}: sidecar unreadable ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SIDECAR_SCHEMA:
        raise StoreError(f"{side}: not a portwatch scene sidecar (schema {SIDECAR_SCHEMA})")
    return doc


def _scene_from_sidecar(tif: Path, doc: dict[str, Any]) -> StoredScene:
    try:
        when = datetime.fromisoformat(str(doc["time"]).replace("Z", "+00:00")).astimezone(UTC)
        return StoredScene(
            path=tif,
            aoi_id=str(doc["aoi"]),
            sensor=str(doc["sensor"]),
            time=when,
            platform=str(doc["platform"]),
            orbit=str(doc["orbit"]),
            orbit_direction=doc.get("orbit_direction"),
            relative_orbit=doc.get("relative_orbit"),
            sha256=str(doc["sha256"]),
            size_bytes=int(doc["size_bytes"]),
            metadata=doc,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{sidecar_path(tif)}: sidecar lacks or garbles {exc}") from exc


def read_scene(path: str | os.PathLike) -> StoredScene:
    """The :class:`StoredScene` of a ``.tif`` from its sidecar (no checksum check)."""
    tif = Path(path)
    return _scene_from_sidecar(tif, _load_sidecar(tif))


def _read_every_block(tif: Path) -> None:
    with rasterio.open(tif) as ds:
        for _, window in ds.block_windows(1):
            ds.read(window=window)


def check_scene(path: str | os.PathLike, *, read_pixels: bool = True) -> list[str]:
    """Problems with a stored scene; an empty list means it is valid.

    Checks, in order: the ``.tif`` exists; the sidecar reads; the size and SHA-256 match
    the sidecar; GDAL opens the file and (``read_pixels``) reads every block.
    """
    tif = Path(path)
    if not tif.is_file():
        return [f"{tif}: missing"]
    try:
        scene = read_scene(tif)
    except StoreError as exc:
        return [str(exc)]
    size = tif.stat().st_size
    if size != scene.size_bytes:
        return [
            f"{tif}: {size} bytes but the sidecar says {scene.size_bytes} (truncated or replaced)"
        ]
    if sha256_file(tif) != scene.sha256:
        return [f"{tif}: SHA-256 does not match the sidecar (corrupt or replaced)"]
    try:
        if read_pixels:
            _read_every_block(tif)
        else:
            with rasterio.open(tif):
                pass
    except RasterioError as exc:
        return [f"{tif}: GDAL cannot read it ({str(exc).splitlines()[0]})"]
    return []


def _tifs(store: Path, aoi_id: str | None, sensor: str | None) -> Iterable[Path]:
    aoi_dirs = (
        [store / safe_id(aoi_id)] if aoi_id else sorted(p for p in store.iterdir() if p.is_dir())
    )
    for aoi_dir in aoi_dirs:
        for sensor_name in [sensor] if sensor else SENSORS:
            folder = aoi_dir / sensor_name
            if folder.is_dir():
                yield from sorted(p for p in folder.glob("*.tif") if not p.name.startswith("."))


def _store_dir(store: str | os.PathLike) -> Path:
    root = Path(store)
    if not root.is_dir():
        raise StoreError(f"{root}: no such imagery store (a folder made by `portwatch fetch`)")
    return root


def store_aois(store: str | os.PathLike) -> list[str]:
    """Ids of the AOIs ``store`` holds (its folders), sorted.

    Raises
    ------
    StoreError
        ``store`` is not a folder.
    """
    return sorted(p.name for p in _store_dir(store).iterdir() if p.is_dir())


def list_scenes(
    store: str | os.PathLike, *, aoi_id: str | None = None, sensor: str | None = None
) -> list[StoredScene]:
    """Scenes with a readable sidecar, sorted by AOI, sensor and time (no checksum check)."""
    root = _store_dir(store)
    if sensor is not None:
        _check_sensor(sensor)
    scenes = []
    for tif in _tifs(root, aoi_id, sensor):
        try:
            scenes.append(read_scene(tif))
        except StoreError as exc:
            log.debug("skipping %s", exc)
    return sorted(scenes, key=lambda s: (s.aoi_id, s.sensor, s.time, s.orbit))


def verify_store(store: str | os.PathLike, *, read_pixels: bool = True) -> tuple[int, list[str]]:
    """Check every scene in ``store``.

    Returns
    -------
    (checked, problems) : (int, list of str)
        Number of ``.tif`` files checked, and one line per problem (also sidecars whose
        ``.tif`` is missing).
    """
    root = _store_dir(store)
    problems: list[str] = []
    checked = 0
    for tif in _tifs(root, None, None):
        checked += 1
        problems.extend(check_scene(tif, read_pixels=read_pixels))
    for side in sorted(root.glob("*/*/*.json")):
        if not side.name.startswith(".") and not side.with_suffix(".tif").exists():
            problems.append(f"{side}: sidecar without its .tif")
    return checked, problems


def _matches_orbit(scene: StoredScene, orbit: int | str | None) -> bool:
    if orbit is None:
        return True
    if isinstance(orbit, int) or str(orbit).isdigit():
        return scene.relative_orbit == int(orbit)
    return scene.orbit.upper() == str(orbit).upper()


def find_scenes(
    store: str | os.PathLike,
    aoi_id: str,
    sensor: str,
    *,
    date: date | datetime | str | None = None,
    orbit: int | str | None = None,
    direction: str | None = None,
) -> list[StoredScene]:
    """Scenes of ``aoi_id`` and ``sensor``, oldest first, optionally filtered.

    Parameters
    ----------
    store : path-like
    aoi_id : str
    sensor : {"s1", "s2"}
    date : date, datetime or "YYYY-MM-DD", optional
        UTC acquisition day.
    orbit : int or str, optional
        Relative orbit number (``127``) or file-name label (``"ASC127"``, ``"R032"``).
    direction : str, optional
        ``ascending``/``asc`` or ``descending``/``dsc``.
    """
    day = _as_date(date) if date is not None else None
    wanted_dir = normalise_direction(direction) if direction is not None else None
    return [
        s
        for s in list_scenes(store, aoi_id=aoi_id, sensor=sensor)
        if (day is None or s.date == day)
        and _matches_orbit(s, orbit)
        and (wanted_dir is None or s.orbit_direction == wanted_dir)
    ]


def _require_valid(scene: StoredScene) -> StoredScene:
    problems = check_scene(scene.path, read_pixels=False)
    if problems:
        raise StoreError(f"{problems[0]}; run `portwatch fetch` again to replace it")
    return scene


def _describe(scenes: list[StoredScene]) -> str:
    return ", ".join(f"{s.date} {s.platform} {s.orbit}" for s in scenes) or "none"


def resolve(
    store: str | os.PathLike,
    aoi_id: str,
    sensor: str,
    date: date | datetime | str,
    *,
    orbit: int | str | None = None,
    direction: str | None = None,
) -> Path:
    """The path of the one valid scene of ``aoi_id``/``sensor`` on ``date``.

    Raises
    ------
    StoreError
        No scene that day (the message lists the days the store has), several (give
        ``orbit`` or ``direction``), or the scene fails its size/checksum check.
    """
    day = _as_date(date)
    found = find_scenes(store, aoi_id, sensor, date=day, orbit=orbit, direction=direction)
    if not found:
        have = find_scenes(store, aoi_id, sensor)
        raise StoreError(
            f"{store}: no {sensor} scene of {aoi_id} on {day}; the store has: {_describe(have)}"
        )
    if len(found) > 1:
        raise StoreError(
            f"{store}: {len(found)} {sensor} scenes of {aoi_id} on {day} ({_describe(found)}); "
            "choose one by orbit or direction"
        )
    return _require_valid(found[0]).path


def pair_on(
    store: str | os.PathLike,
    aoi_id: str,
    sensor: str,
    before_date: date | datetime | str,
    after_date: date | datetime | str,
    *,
    orbit: int | str | None = None,
    direction: str | None = None,
    same_orbit: bool | None = None,
) -> tuple[StoredScene, StoredScene]:
    """The (before, after) pair on two given dates.

    As :func:`pair_for`, but the before scene is the one on ``before_date``; with
    ``same_orbit`` (default for Sentinel-1) it must share the after scene's relative
    orbit and direction, and a before date seen only from another geometry is refused
    (give the scene files themselves to compare across orbits).

    Raises
    ------
    StoreError
        No scene on either date, several where ``orbit``/``direction`` do not choose,
        none of the after scene's orbit on ``before_date``, or a failed check.
    """
    target = _one_scene(store, aoi_id, sensor, after_date, orbit=orbit, direction=direction)
    if same_orbit is None:
        same_orbit = sensor == "s1"
    if not same_orbit:
        earlier = _one_scene(store, aoi_id, sensor, before_date, orbit=orbit, direction=direction)
        return _in_order(earlier, target)
    if target.relative_orbit is None:
        raise StoreError(f"{target.path}: relative orbit unknown, cannot pick a same-orbit pair")
    day = _as_date(before_date)
    that_day = find_scenes(store, aoi_id, sensor, date=day)
    same = [
        s
        for s in that_day
        if s.relative_orbit == target.relative_orbit and s.orbit_direction == target.orbit_direction
    ]
    if not same:
        seen = _describe(that_day) if that_day else "no scene"
        raise StoreError(
            f"{store}: no {sensor} scene of {aoi_id} on {day} from orbit {target.orbit} "
            f"(the after scene's; that day has {seen}): Sentinel-1 change needs one relative "
            "orbit and direction; pick another before date, or give the two files to compare "
            "across orbits"
        )
    return _in_order(same[-1], target)


def same_pass(a: StoredScene, b: StoredScene) -> bool:
    """True when ``a`` and ``b`` are of one pass of one satellite.

    A store written before passes straddling 00:00 UTC were kept whole may hold such a
    pass as two scenes, one per day; they see the same instant and are no change pair.
    """
    return (
        a.sensor == b.sensor
        and a.platform == b.platform
        and abs((a.time - b.time).total_seconds()) <= PASS_GAP_S
    )


def _in_order(before: StoredScene, after: StoredScene) -> tuple[StoredScene, StoredScene]:
    if same_pass(before, after):
        raise StoreError(
            f"{before.path}: the before scene is of the same {before.platform} pass as the "
            f"after scene {after.path.name} (a pass across 00:00 UTC); pick an earlier date"
        )
    if before.time >= after.time:
        raise StoreError(
            f"{before.path}: the before scene ({before.date}) is not earlier than the after "
            f"scene ({after.date})"
        )
    return _require_valid(before), _require_valid(after)


def _one_scene(store, aoi_id, sensor, when, *, orbit, direction) -> StoredScene:
    found = find_scenes(store, aoi_id, sensor, date=when, orbit=orbit, direction=direction)
    if not found:
        raise StoreError(
            f"{store}: no {sensor} scene of {aoi_id} on {_as_date(when)}; the store has: "
            f"{_describe(find_scenes(store, aoi_id, sensor))}"
        )
    if len(found) > 1:
        raise StoreError(
            f"{store}: {len(found)} {sensor} scenes of {aoi_id} on {found[0].date} "
            f"({_describe(found)}); choose one by orbit or direction"
        )
    return found[0]


def pair_for(
    store: str | os.PathLike,
    aoi_id: str,
    sensor: str,
    after_date: date | datetime | str,
    *,
    orbit: int | str | None = None,
    direction: str | None = None,
    same_orbit: bool | None = None,
) -> tuple[StoredScene, StoredScene]:
    """The (before, after) pair for change detection ending on ``after_date``.

    ``after`` is the scene on ``after_date`` (narrowed by ``orbit``/``direction`` when the
    day has several). ``before`` is the most recent earlier scene of another pass
    (:func:`same_pass`); with ``same_orbit`` (default for Sentinel-1) it must share the
    after scene's relative orbit and direction, so both were seen from the same geometry.

    Raises
    ------
    StoreError
        No after scene, no earlier scene of that orbit, or either fails its checks.
    """
    target = _one_scene(store, aoi_id, sensor, after_date, orbit=orbit, direction=direction)
    if same_orbit is None:
        same_orbit = sensor == "s1"
    earlier = [
        s
        for s in find_scenes(store, aoi_id, sensor)
        if s.time < target.time and not same_pass(s, target)
    ]
    if same_orbit:
        if target.relative_orbit is None:
            raise StoreError(
                f"{target.path}: relative orbit unknown, cannot pick a same-orbit pair"
            )
        earlier = [
            s
            for s in earlier
            if s.relative_orbit == target.relative_orbit
            and s.orbit_direction == target.orbit_direction
        ]
    if not earlier:
        which = f" of orbit {target.orbit}" if same_orbit else ""
        raise StoreError(f"{store}: no {sensor} scene of {aoi_id}{which} before {target.date}")
    return _require_valid(earlier[-1]), _require_valid(target)
