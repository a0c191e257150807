"""History per AOI: every flag seen across runs, with when it arrived and when it left.

``OUT/<aoi>/history.gpkg`` (layer ``history``) holds one row per distinct flag. A
run's flags are matched to the rows like review marks are (same kind, centroids
within ``max(20 m, half the length)``, one-to-one, nearest first). Fields:

``id``, ``kind``, ``first_seen`` / ``last_seen`` (ISO ``YYYY-MM-DD``: the after-scene
date of the first run that flagged it; the latest date it was seen present, which is
the after date of a run that flagged it or the before date of the run that saw it
leave), ``runs`` (how many run folders detected it), ``run_folders`` (JSON
list of those folders, relative to the history file), ``last_status`` / ``last_note``
/ ``reviewed_in`` (the analyst's latest mark, status other than ``new``, and the run
folder it was made in; ``new`` while unreviewed), ``departed_seen`` (after-scene date of the
first run whose ``departed`` layer held it: the vessel had left by then) and
``departed_run``, plus the latest ``score``, ``length_m``, ``lon``, ``lat`` and
polygon.

A row whose vessel has departed is not matched again by later arrivals at the same
berth: a ship mooring where another left is a new row. Updating is idempotent:
running the same pair again adds no row and no count.

Folding a run folder first withdraws what that folder contributed before, so a folder
reprocessed with other results leaves no ghosts: it is taken off ``run_folders`` (and
``runs``), its ``departed_seen`` / ``departed_run`` stamps are cleared, and the run's
flags are then matched again (a flag still reported keeps its row and id). A row left
with no run folder, no departure and no analyst's mark (status other than ``new``, or
a note; a note left on a ``new`` flag reaches the history too) is removed; a marked row
is kept, with ``runs`` 0, as the record of its mark: no later run is matched to it.
``first_seen`` and ``last_seen`` are not stored per folder: a surviving row keeps them as
they were, even when they came from the withdrawn run. An id is never given twice: the
next one is kept with the layer (``NEXT_ID_KEY``), so a removed row's id, even the
highest, stays retired.

An analyst marks flags in a run folder's ``detections.gpkg`` (QGIS); :func:`sync_marks`
carries those marks into the history without running anything again
(``portwatch review sync``, and every batch run for the AOIs it wrote).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from imagery.atomic import locked
from imagery.errors import ReviewError
from imagery.review.marks import SEEN_FIELD, is_marked, match_flags, read_flags
from imagery.review.styles import history_style, to_qml, write_layer_styles
from imagery.vectors import write_geopackage

__all__ = ["HISTORY_FIELDS", "MarksSync", "sync_marks", "update_history"]

log = logging.getLogger(__name__)

LAYER = "history"
#: The layer's metadata item holding the next id to give (ids of removed rows are not
#: given again: analysts cite them).
NEXT_ID_KEY = "PORTWATCH_NEXT_ID"
HISTORY_FIELDS = (
    "id",
    "kind",
    "first_seen",
    "last_seen",
    "runs",
    "run_folders",
    "last_status",
    "last_note",
    "reviewed_in",
    "departed_seen",
    "departed_run",
    "score",
    "length_m",
    "lon",
    "lat",
)


def _empty(crs) -> gpd.GeoDataFrame:
    columns = {name: pd.Series(dtype=object) for name in HISTORY_FIELDS}
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _folders(value) -> list[str]:
    if isinstance(value, str) and value:
        try:
            return list(json.loads(value))
        except json.JSONDecodeError:
            return [v for v in value.split(";") if v]
    return []


def _take(flags: gpd.GeoDataFrame, j: int) -> dict:
    row = flags.iloc[j]
    return {
        "score": row.get("score"),
        "length_m": row.get("length_m"),
        "lon": row.get("lon"),
        "lat": row.get("lat"),
        "geometry": row.geometry,
    }


def _review(hist, i, flag, folder: str, order: Callable[[str], _Pass]) -> None:
    """Keep the analyst's latest mark: a status other than ``new`` wins over ``new`` (from
    any folder), and over another status from a folder of an earlier pass (``order``,
    :func:`_pass_order`); a note left on a ``new`` flag is kept while the row has no
    other status."""
    status = str(flag.get("status") or "new")
    if status == "new":
        note = str(flag.get("note") or "").strip()
        if note and str(hist.at[i, "last_status"] or "new") == "new":
            hist.at[i, "last_note"] = note
            hist.at[i, "reviewed_in"] = folder
        return
    reviewed_in = hist.at[i, "reviewed_in"]
    current = hist.at[i, "last_status"]
    unset = not isinstance(current, str) or current.strip() in ("", "new")
    # A note alone (status new) made in a later folder does not outrank a status.
    if unset or not isinstance(reviewed_in, str) or order(folder) >= order(reviewed_in):
        hist.at[i, "last_status"] = status
        hist.at[i, "last_note"] = flag.get("note", "")
        hist.at[i, "reviewed_in"] = folder


def _seen(flags) -> np.ndarray:
    """Per flag: detected by this run. A flag an analyst marked that the run no longer
    detects is kept in the run folder (``seen_in_last_run`` false) for its mark; it is no
    sighting, and carries only its mark into the history."""
    if SEEN_FIELD not in flags:  # written before the field existed: all seen
        return np.ones(len(flags), dtype=bool)
    return flags[SEEN_FIELD].fillna(True).astype(bool).to_numpy()


def _withdraw(hist, folder: str) -> tuple[set[int], set[int]]:
    """Take ``folder``'s earlier contribution off the rows (in place).

    Returns the ids of the rows it touched, and of those among them that only a
    departure of ``folder`` made (no run folder): they are no detection to match.
    """
    touched: set[int] = set()
    departure_only: set[int] = set()
    for i in hist.index:
        folders = _folders(hist.at[i, "run_folders"])
        stamped = hist.at[i, "departed_run"] == folder
        if folder not in folders and not stamped:
            continue
        row_id = int(hist.at[i, "id"])
        touched.add(row_id)
        if stamped:
            if not folders:
                departure_only.add(row_id)
            hist.at[i, "departed_seen"] = None
            hist.at[i, "departed_run"] = None
        if folder in folders:
            folders.remove(folder)
            hist.at[i, "run_folders"] = json.dumps(sorted(folders))
            hist.at[i, "runs"] = len(folders)
    return touched, departure_only


def _marked(hist) -> np.ndarray:
    """Per row: the analyst set a status other than ``new`` or wrote a note."""
    status = hist["last_status"].fillna("").astype(str).str.strip()
    note = hist["last_note"].fillna("").astype(str).str.strip()
    return (~status.isin(["", "new"]) | (note != "")).to_numpy()


def _orphans(hist, touched: set[int]) -> np.ndarray:
    """Per row: withdrawn rows left with no run folder, no departure and no mark."""
    ids = pd.to_numeric(hist["id"]).to_numpy()
    folderless = np.array([not _folders(v) for v in hist["run_folders"]], dtype=bool)
    return (
        np.isin(ids, list(touched))
        & folderless
        & hist["departed_seen"].isna().to_numpy()
        & ~_marked(hist)
    )


def _apply_detections(
    hist,
    flags,
    *,
    date: str,
    folder: str,
    tolerance_m: float,
    first_id: int,
    order: Callable[[str], _Pass],
    exclude: set[int] | None = None,
) -> int:
    """Match this run's flags to open rows; update them, add the rest. Returns (hist, added).

    Rows whose id is in ``exclude`` (departures this folder no longer reports) are not
    matched: they were never a sighting.
    """
    departed = hist["departed_seen"]
    open_rows = departed.isna() | (departed.astype(str) > date)
    open_rows &= ~pd.to_numeric(hist["id"]).isin(list(exclude or ()))
    eligible = np.flatnonzero(open_rows.to_numpy())
    pairs = match_flags(hist.iloc[eligible], flags, min_tolerance_m=tolerance_m)
    seen = _seen(flags)
    matched = set(np.flatnonzero(~seen))  # marks only: never a new row
    for i_sub, j in pairs:
        i = hist.index[eligible[i_sub]]
        matched.add(j)
        if not seen[j]:
            _review(hist, i, flags.iloc[j], folder, order)
            continue
        folders = _folders(hist.at[i, "run_folders"])
        if folder not in folders:
            folders.append(folder)
        latest = date >= str(hist.at[i, "last_seen"])
        hist.at[i, "run_folders"] = json.dumps(sorted(folders))
        hist.at[i, "runs"] = len(folders)
        hist.at[i, "first_seen"] = min(str(hist.at[i, "first_seen"]), date)
        hist.at[i, "last_seen"] = max(str(hist.at[i, "last_seen"]), date)
        _review(hist, i, flags.iloc[j], folder, order)
        if latest:
            for key, value in _take(flags, j).items():
                hist.at[i, key] = value
    added = [
        {
            "kind": flags.iloc[j]["kind"],
            "first_seen": date,
            "last_seen": date,
            "runs": 1,
            "run_folders": json.dumps([folder]),
            "last_status": flags.iloc[j]["status"],
            "last_note": flags.iloc[j].get("note", ""),
            "reviewed_in": folder if is_marked(flags.iloc[[j]])[0] else None,
            "departed_seen": None,
            "departed_run": None,
            **_take(flags, j),
        }
        for j in range(len(flags))
        if j not in matched
    ]
    return _append(hist, added, first_id), len(added)


def _apply_departed(
    hist,
    flags,
    *,
    before: str,
    after: str,
    folder: str,
    tolerance_m,
    first_id: int,
    order: Callable[[str], _Pass],
) -> int:
    """Stamp ``departed_seen`` on rows of vessels gone by ``after``. Returns (hist, added)."""
    first = hist["first_seen"].astype(str)
    departed = hist["departed_seen"]
    open_then = (first <= before) & (departed.isna() | (departed.astype(str) >= after))
    eligible = np.flatnonzero(open_then.to_numpy())
    pairs = match_flags(hist.iloc[eligible], flags, min_tolerance_m=tolerance_m)
    seen = _seen(flags)
    matched = set(np.flatnonzero(~seen))
    for i_sub, j in pairs:
        i = hist.index[eligible[i_sub]]
        matched.add(j)
        if not seen[j]:
            _review(hist, i, flags.iloc[j], folder, order)
            continue
        hist.at[i, "departed_seen"] = after
        hist.at[i, "departed_run"] = folder
        # It was still there on the before date of the pass that saw it gone.
        hist.at[i, "last_seen"] = max(str(hist.at[i, "last_seen"]), before)
        _review(hist, i, flags.iloc[j], folder, order)
    added = [
        {
            "kind": flags.iloc[j]["kind"],
            "first_seen": before,
            "last_seen": before,
            "runs": 0,
            "run_folders": json.dumps([]),
            "last_status": flags.iloc[j]["status"],
            "last_note": flags.iloc[j].get("note", ""),
            "reviewed_in": folder if is_marked(flags.iloc[[j]])[0] else None,
            "departed_seen": after,
            "departed_run": folder,
            **_take(flags, j),
        }
        for j in range(len(flags))
        if j not in matched
    ]
    return _append(hist, added, first_id), len(added)


def _next_id(hist, first_id: int) -> int:
    return max(first_id, int(pd.to_numeric(hist["id"]).max()) + 1 if len(hist) else 1)


def _stored_next_id(path: Path) -> int:
    """The next id recorded with the history layer; 1 when none is (older files)."""
    import pyogrio

    try:
        value = (pyogrio.read_info(path, layer=LAYER).get("layer_metadata") or {})[NEXT_ID_KEY]
        return max(1, int(value))
    except Exception:  # no file, no item, or a value edited away: the ids present decide
        return 1


def _append(hist: gpd.GeoDataFrame, rows: list[dict], first_id: int) -> gpd.GeoDataFrame:
    if not rows:
        return hist
    next_id = _next_id(hist, first_id)
    extra = gpd.GeoDataFrame(
        [{"id": next_id + k, **row} for k, row in enumerate(rows)],
        geometry="geometry",
        crs=hist.crs,
    )
    frames = [f for f in (hist, extra) if len(f)]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=hist.crs)


def update_history(
    path: str | os.PathLike,
    *,
    run_dir: str | os.PathLike,
    detections: gpd.GeoDataFrame,
    departed: gpd.GeoDataFrame,
    before_date: str,
    after_date: str,
    min_tolerance_m: float = 20.0,
) -> gpd.GeoDataFrame:
    """Fold one run's flags into the AOI's ``history.gpkg`` (atomically) and return it.

    Parameters
    ----------
    path : path-like
        ``OUT/<aoi>/history.gpkg``; created on the first run.
    run_dir : path-like
        The run folder, stored relative to ``path``'s folder.
    detections, departed : GeoDataFrame
        The run's flags with marks merged (``status``, ``note``).
    before_date, after_date : str
        ISO dates (``YYYY-MM-DD``) of the two scenes.
    """
    path = Path(path)
    # Batch workers fold runs of one AOI into its history at the same time: one at a time.
    with locked(path.with_name(f".{path.name}.lock")):
        return _update(
            path, run_dir, detections, departed, before_date, after_date, min_tolerance_m
        )


def _write(path: Path, hist: gpd.GeoDataFrame, next_id: int) -> None:
    """The history layer, its style and the next id to give, atomically."""
    qml = to_qml(history_style(HISTORY_FIELDS))
    write_geopackage(
        path,
        {LAYER: hist},
        before_commit=lambda tmp: write_layer_styles(tmp, {LAYER: qml}),
        layer_metadata={LAYER: {NEXT_ID_KEY: str(next_id)}},
    )


def _update(
    path: Path,
    run_dir: str | os.PathLike,
    detections: gpd.GeoDataFrame,
    departed: gpd.GeoDataFrame,
    before_date: str,
    after_date: str,
    min_tolerance_m: float,
) -> gpd.GeoDataFrame:
    folder = Path(os.path.relpath(Path(run_dir).resolve(), path.parent.resolve())).as_posix()
    previous = read_flags(path, LAYER)
    crs = detections.crs or departed.crs
    hist = _empty(crs) if previous is None else previous.copy()
    for name in HISTORY_FIELDS:
        if name not in hist:
            hist[name] = None
    hist = hist.reset_index(drop=True)
    flags_crs = hist.crs or crs
    gone = departed.to_crs(flags_crs) if len(departed) else departed
    new = detections.to_crs(flags_crs) if len(detections) else detections
    # A reprocessed folder may no longer report what it did: take its earlier sightings
    # and departures off first, match the run again (re-attaching what it still
    # reports to the same rows), then drop the rows nothing holds any more.
    # Rows kept only for an analyst's mark (no run folder, no departure) are records of
    # that mark, not sightings: no run matches them, or folding the same run twice
    # could move a flag from its row to one of them.
    kept = set(
        pd.to_numeric(hist["id"])[
            np.array([not _folders(v) for v in hist["run_folders"]], dtype=bool)
            & hist["departed_seen"].isna().to_numpy()
        ].astype(int)
    )
    first_id = _stored_next_id(path) if previous is not None else 1
    touched, departure_only = _withdraw(hist, folder)
    order = _pass_order(path.parent)
    hist, added_gone = _apply_departed(
        hist,
        gone.reset_index(drop=True),
        before=before_date,
        after=after_date,
        folder=folder,
        tolerance_m=min_tolerance_m,
        first_id=first_id,
        order=order,
    )
    hist, added = _apply_detections(
        hist,
        new.reset_index(drop=True),
        date=after_date,
        folder=folder,
        tolerance_m=min_tolerance_m,
        first_id=first_id,
        order=order,
        exclude=departure_only | kept,
    )
    added += added_gone
    orphans = _orphans(hist, touched)
    next_id = _next_id(hist, first_id)  # before the orphans go: their ids stay retired
    hist = hist[~orphans].reset_index(drop=True)
    hist["id"] = hist["id"].astype(np.int64)
    hist["runs"] = hist["runs"].astype(np.int64)
    for name in ("score", "length_m", "lon", "lat"):
        hist[name] = pd.to_numeric(hist[name], errors="coerce").astype(float)
    hist = hist[[*HISTORY_FIELDS, "geometry"]]
    _write(path, hist, next_id)
    log.info(
        "%s: %d rows (%d added, %d withdrawn by %s)",
        path,
        len(hist),
        added,
        int(orphans.sum()),
        folder,
    )
    return hist


@dataclasses.dataclass(frozen=True)
class MarksSync:
    """What :func:`sync_marks` did: how many rows took a mark, and the run folders whose
    ``detections.gpkg`` could not be read (each with the reason; their marks wait)."""

    rows: int
    unreadable: tuple[str, ...] = ()


def _folder_after_time(gpkg: Path) -> str | None:
    """The after scene's time (ISO 8601) a run folder's ``run`` table records."""
    import pyogrio

    try:
        table = pyogrio.read_dataframe(gpkg, layer="run", read_geometry=False)
        value = table["after_time"].iloc[0]
    except Exception:  # an older folder without the table: its departures by folder only
        return None
    return str(value) if isinstance(value, str) and value else None


def _folder_after_date(gpkg: Path) -> str | None:
    """The after-scene date (``YYYY-MM-DD``) a run folder's ``run`` table records."""
    value = _folder_after_time(gpkg)
    return value[:10] if value else None


@functools.total_ordering
@dataclasses.dataclass(frozen=True)
class _Pass:
    """A run folder's place among the passes (:func:`_pass_order`)."""

    folder: str
    time: datetime | None  # the after scene's, UTC; None when its run table gives none

    def _key(self, other: _Pass) -> tuple:
        if self.time is not None and other.time is not None:
            return (self.time, self.folder)
        return (self.folder,)

    def __lt__(self, other: _Pass) -> bool:
        return self._key(other) < other._key(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Pass) and self._key(other) == other._key(self)

    def __hash__(self) -> int:
        return hash(self.folder)


def _pass_order(root: Path) -> Callable[[str], _Pass]:
    """Order of the run folders beside a history (names relative to ``root``) by the
    pass each holds: two folders whose ``run`` tables both give the after scene's time
    are ranked by that time (UTC), then by name; otherwise by name, which begins with
    the date (a folder since removed, one written before the table existed, or one
    whose time cannot be read).

    Two passes of one day are named by which ran first (:func:`imagery.outputs.run_folder`:
    the plain date, then ``<date>-<sensor>``), not by when they passed: the times rank
    them.
    """

    @functools.cache
    def place(folder: str) -> _Pass:
        when = _folder_after_time(root / folder / "detections.gpkg")
        try:
            moment = datetime.fromisoformat(when) if when else None
            if moment is not None:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                moment = moment.astimezone(UTC)
        except (ValueError, TypeError, OverflowError):
            moment = None
        return _Pass(folder, moment)

    return place


def sync_marks(path: str | os.PathLike, *, min_tolerance_m: float = 20.0) -> MarksSync:
    """Carry the analysts' marks saved in the run folders beside ``history.gpkg`` into it.

    Each run folder (``<dir>/detections.gpkg`` next to ``path``) is read, oldest pass
    first (:func:`_pass_order`), so that the latest pass's status wins as when runs are
    folded. A marked flag (a status other than ``new``, or a note) of layer
    ``detections`` is matched (:func:`imagery.review.marks.match_flags`) to the rows that
    folder sighted, one of layer ``departed`` to the rows that left by its after date
    (it, or another pass of that day, stamped the departure), and either to the rows
    kept only to record a mark made there. Nothing else changes: counts, dates, ids and outlines stay as the
    folds left them. The history is rewritten (atomically, under its lock) only when a
    mark changed. A run folder whose GeoPackage cannot be read is skipped and reported;
    the others are synced.

    Raises
    ------
    ReviewError
        ``path`` itself cannot be read.
    """
    path = Path(path)
    unreadable: list[str] = []
    with locked(path.with_name(f".{path.name}.lock")):
        previous = read_flags(path, LAYER)
        if previous is None:
            return MarksSync(0)
        hist = previous.reset_index(drop=True)
        before = hist[["last_status", "last_note", "reviewed_in"]].copy()
        folders = [_folders(v) for v in hist["run_folders"]]
        departed = hist["departed_seen"]
        record_only = np.array([not f for f in folders], dtype=bool) & departed.isna().to_numpy()
        order = _pass_order(path.parent)
        runs = {}
        for gpkg in path.parent.glob("*/detections.gpkg"):
            if gpkg.parent.name.startswith("."):
                continue  # a run being written stages in .<name>.*.tmp
            folder = Path(os.path.relpath(gpkg.parent.resolve(), path.parent.resolve())).as_posix()
            runs[folder] = gpkg
        for folder in sorted(runs, key=order):
            gpkg = runs[folder]
            try:
                layers = {layer: read_flags(gpkg, layer) for layer in ("detections", "departed")}
            except ReviewError as exc:
                log.warning("%s", exc)
                unreadable.append(str(exc))
                continue
            own_record = record_only & (hist["reviewed_in"] == folder).to_numpy()
            for layer, flags in layers.items():
                if flags is None or flags.empty:
                    continue
                flags = flags[is_marked(flags)]
                if flags.empty:
                    continue
                if hist.crs is not None and flags.crs is not None:
                    flags = flags.to_crs(hist.crs)
                if layer == "detections":
                    held = np.array([folder in f for f in folders], dtype=bool)
                else:
                    held = (hist["departed_run"] == folder).to_numpy()
                    after = _folder_after_date(gpkg)
                    if after is not None:
                        held = held | (departed.astype(str) == after).to_numpy()
                rows = np.flatnonzero(held | own_record)
                flags = flags.reset_index(drop=True)
                for i_sub, j in match_flags(
                    hist.iloc[rows], flags, min_tolerance_m=min_tolerance_m
                ):
                    _review(hist, hist.index[rows[i_sub]], flags.iloc[j], folder, order)
        after = hist[["last_status", "last_note", "reviewed_in"]]
        changed = ~(
            (before.fillna("").astype(str) == after.fillna("").astype(str)).all(axis=1)
        ).to_numpy()
        if changed.any():
            _write(path, hist[[*HISTORY_FIELDS, "geometry"]], _next_id(hist, _stored_next_id(path)))
            log.info("%s: marks of %d rows taken from the run folders", path, int(changed.sum()))
        return MarksSync(int(changed.sum()), tuple(unreadable))
