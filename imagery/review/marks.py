"""Review marks that survive reruns: match a run's flags to the previous file's.

An analyst marks flags in QGIS (``status`` new/confirmed/dismissed, ``note``). When
the same pair is processed again, each new flag is matched to a previous one of the
same kind whose centre (the ``lon``, ``lat`` it reports) lies within
``max(min_tolerance_m, half the longer of the two flags)``, one-to-one and nearest
first. A matched flag keeps its previous ``id``,
``status`` and ``note`` and takes the new run's geometry and measurements; an
unmatched new flag gets a fresh id and status ``new``; a previous flag the new run
no longer sees is dropped, unless the analyst touched it (status not ``new`` or a
note), in which case it is kept with ``seen_in_last_run = False``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import Transformer

from imagery.atomic import file_version
from imagery.errors import ReviewError

__all__ = [
    "MergeResult",
    "checkpoint_wal",
    "file_fingerprint",
    "is_marked",
    "match_flags",
    "merge_marks",
    "read_flags",
]

log = logging.getLogger(__name__)

SEEN_FIELD = "seen_in_last_run"


@dataclasses.dataclass(frozen=True)
class MergeResult:
    """Flags with marks merged, and what happened to them."""

    frame: gpd.GeoDataFrame
    new: int  # flags seen for the first time
    matched: int  # flags of this run matched to a previous flag (ids kept)
    kept_marks: int  # analyst marks carried over (matched or not)
    unseen_marks: int  # marked flags this run no longer detects, kept anyway

    @property
    def total(self) -> int:
        return len(self.frame)


def checkpoint_wal(path: str | os.PathLike) -> None:
    """Fold a GeoPackage's write-ahead log into the file, if it has one.

    QGIS opens GeoPackages in WAL mode, so an analyst's saved edits may sit in
    ``<file>-wal`` until QGIS closes the layer. Checkpointing first makes them part
    of the file we read, and keeps a stale ``-wal`` from being replayed onto the
    file that replaces it.
    """
    path = Path(path)
    if not Path(f"{path}-wal").exists():
        return
    try:
        con = sqlite3.connect(path, timeout=5)
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
    except sqlite3.Error as exc:
        log.warning("%s: could not checkpoint the write-ahead log (%s)", path, exc)


def file_fingerprint(path: str | os.PathLike) -> tuple:
    """The version (:func:`imagery.atomic.file_version`) of a GeoPackage and of its
    ``-wal``: changes when anyone writes to it. An edit of a page in place keeps the
    size, and a tool that keeps file times keeps the mtime, but not the ctime."""
    out = []
    for candidate in (Path(path), Path(f"{path}-wal")):
        try:
            out.append(file_version(candidate.stat()))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


def read_flags(path: str | os.PathLike, layer: str) -> gpd.GeoDataFrame | None:
    """The flags of ``layer`` in a previous ``detections.gpkg``; None if there are none.

    Raises
    ------
    ReviewError
        The file exists but cannot be read: better to stop than to overwrite an
        analyst's marks with a fresh file.
    """
    path = Path(path)
    if not path.exists():
        return None
    checkpoint_wal(path)
    try:
        layers = {name for name, _ in pyogrio.list_layers(path)}
        if layer not in layers:
            return None
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several unrelated types
        raise ReviewError(
            f"{path}: cannot read layer {layer!r} to carry its review marks over ({exc}); "
            "move the file away to start afresh"
        ) from exc
    return frame


def is_marked(frame: pd.DataFrame) -> np.ndarray:
    """Boolean per row: the analyst set a status other than ``new`` or wrote a note."""
    status = frame.get("status", pd.Series("new", index=frame.index)).fillna("new")
    note = frame.get("note", pd.Series("", index=frame.index)).fillna("").astype(str)
    return ((status.astype(str) != "new") | (note.str.strip() != "")).to_numpy()


def match_flags(
    previous: gpd.GeoDataFrame, current: gpd.GeoDataFrame, *, min_tolerance_m: float = 20.0
) -> list[tuple[int, int]]:
    """Pairs ``(previous row, current row)`` of the same flag, one-to-one, nearest first.

    Two flags match when they have the same ``kind`` and their centres lie within
    ``max(min_tolerance_m, max(length_prev, length_cur) / 2)`` metres (both frames in
    one projected CRS). A flag's centre is the ``lon``, ``lat`` it reports, else (a row
    without them) its polygon's centroid: a vessel drawn as a pixel outline by an
    earlier version and as its hull now keeps its reported centre.
    """
    if previous.empty or current.empty:
        return []
    pxy, cxy = _centres(previous), _centres(current)
    distance = np.hypot(*(pxy[:, None, :] - cxy[None, :, :]).transpose(2, 0, 1))
    plen = np.nan_to_num(previous["length_m"].to_numpy(dtype=float), nan=0.0)
    clen = np.nan_to_num(current["length_m"].to_numpy(dtype=float), nan=0.0)
    tolerance = np.maximum(min_tolerance_m, 0.5 * np.maximum(plen[:, None], clen[None, :]))
    same_kind = previous["kind"].to_numpy()[:, None] == current["kind"].to_numpy()[None, :]
    rows, cols = np.nonzero(same_kind & (distance <= tolerance))
    order = np.argsort(distance[rows, cols], kind="stable")
    used_prev: set[int] = set()
    used_cur: set[int] = set()
    pairs = []
    for i, j in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if i in used_prev or j in used_cur:
            continue
        used_prev.add(i)
        used_cur.add(j)
        pairs.append((i, j))
    return pairs


def _centres(frame: gpd.GeoDataFrame) -> np.ndarray:
    """(n, 2) centres in the frame's CRS: ``lon``/``lat`` where finite, else centroids."""
    centroids = frame.geometry.centroid
    xy = np.column_stack([centroids.x.to_numpy(), centroids.y.to_numpy()])
    if not {"lon", "lat"} <= set(frame.columns) or frame.crs is None:
        return xy
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(lon) & np.isfinite(lat)
    if known.any():
        to_map = Transformer.from_crs("EPSG:4326", frame.crs, always_xy=True)
        x, y = to_map.transform(lon[known], lat[known])
        xy[known] = np.column_stack([x, y])
    return xy


def merge_marks(
    previous: gpd.GeoDataFrame | None,
    current: gpd.GeoDataFrame,
    *,
    min_tolerance_m: float = 20.0,
) -> MergeResult:
    """Carry review marks from ``previous`` onto ``current`` (see the module docstring).

    Parameters
    ----------
    previous : GeoDataFrame or None
        The layer as the analyst left it (``id``, ``kind``, ``length_m``, ``status``,
        ``note``, geometry), or None on a first run.
    current : GeoDataFrame
        This run's flags (detection fields and polygons), same CRS as ``previous``.
    min_tolerance_m : float
        Smallest matching distance between centroids, metres.

    Returns
    -------
    MergeResult
        ``frame`` holds every field of ``current`` plus ``status``, ``note`` and
        ``seen_in_last_run``, sorted by ``id``.
    """
    cur = current.copy().reset_index(drop=True)
    cur["status"] = "new"
    cur["note"] = ""
    cur[SEEN_FIELD] = True
    if previous is None or previous.empty:
        cur["id"] = np.arange(1, len(cur) + 1, dtype=np.int64)
        return MergeResult(_tidy(cur), new=len(cur), matched=0, kept_marks=0, unseen_marks=0)
    prev = previous.to_crs(cur.crs) if cur.crs is not None else previous
    prev = prev.reset_index(drop=True)
    if "status" not in prev:
        prev["status"] = "new"
    prev["status"] = prev["status"].fillna("new")
    if "note" not in prev:
        prev["note"] = ""
    prev["note"] = prev["note"].fillna("")
    pairs = match_flags(prev, cur, min_tolerance_m=min_tolerance_m)
    marked = is_marked(prev)
    ids = np.zeros(len(cur), dtype=np.int64)
    prev_rows = np.array([i for i, _ in pairs], dtype=np.int64)
    cur_rows = np.array([j for _, j in pairs], dtype=np.int64)
    if pairs:
        ids[cur_rows] = prev["id"].to_numpy(dtype=np.int64)[prev_rows]
        cur.loc[cur_rows, "status"] = prev["status"].to_numpy()[prev_rows]
        cur.loc[cur_rows, "note"] = prev["note"].to_numpy()[prev_rows]
    fresh = np.setdiff1d(np.arange(len(cur)), cur_rows)
    next_id = int(prev["id"].max()) + 1 if len(prev) else 1
    ids[fresh] = np.arange(next_id, next_id + len(fresh))
    cur["id"] = ids
    unseen = np.setdiff1d(np.nonzero(marked)[0], prev_rows)
    kept = prev.iloc[unseen].copy()
    kept[SEEN_FIELD] = False
    kept = kept[[c for c in kept.columns if c in cur.columns]]
    frames = [cur] if kept.empty else [cur, kept]
    merged = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=cur.crs)
    kept_marks = int(marked[prev_rows].sum()) + len(unseen) if pairs else len(unseen)
    log.info(
        "marks: %d matched, %d new, %d marks kept (%d no longer detected)",
        len(pairs),
        len(fresh),
        kept_marks,
        len(unseen),
    )
    return MergeResult(
        _tidy(merged),
        new=len(fresh),
        matched=len(pairs),
        kept_marks=kept_marks,
        unseen_marks=len(unseen),
    )


def _tidy(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.sort_values("id", kind="stable").reset_index(drop=True)
    frame["id"] = frame["id"].astype(np.int64)
    frame[SEEN_FIELD] = frame[SEEN_FIELD].astype(bool)
    frame["note"] = frame["note"].fillna("").astype(str)
    frame["status"] = frame["status"].fillna("new").astype(str)
    return frame
