"""Scoring detections against truth: matching, precision, recall, F1.

Used by the benchmarks and the tests; kept in the package so anyone can score their
own runs the same way.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

__all__ = [
    "Score",
    "coco_masks",
    "decode_coco_rle",
    "half_with_most_water",
    "match_points_to_masks",
    "match_points_to_points",
    "match_points_to_polygons",
    "score_detections",
]


@dataclasses.dataclass(frozen=True)
class Score:
    """True positives, false positives and false negatives, with P, R and F1."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_dict(self) -> dict:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def half_with_most_water(water: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of the half of a grid (top, bottom, left or right) where
    ``water`` (bool, row x col: a simulator's truth) covers the largest share.

    Cuts a simulated port scene to its sea side, as a scene read over an anchorage or
    a port's approaches would be (``benchmarks/vessels.py --sea-half``)."""
    rows, cols = water.shape
    halves = [
        (slice(0, rows // 2), slice(0, cols)),
        (slice(rows // 2, rows), slice(0, cols)),
        (slice(0, rows), slice(0, cols // 2)),
        (slice(0, rows), slice(cols // 2, cols)),
    ]
    return max(halves, key=lambda half: float(water[half].mean()))


def _assign(cost: np.ndarray, tolerance: float) -> Score:
    n_det, n_true = cost.shape
    if n_det == 0 or n_true == 0:
        return Score(0, n_det, n_true)
    big = tolerance * 1e6 + 1.0
    finite = np.where(cost <= tolerance, cost, big)
    rows, cols = linear_sum_assignment(finite)
    tp = int(np.sum(finite[rows, cols] <= tolerance))
    return Score(tp, n_det - tp, n_true - tp)


def match_points_to_points(
    detected_xy: np.ndarray, true_xy: np.ndarray, *, tolerance: float
) -> Score:
    """One-to-one matching of detected to true points within ``tolerance`` (CRS units)."""
    detected_xy = np.asarray(detected_xy, dtype=float).reshape(-1, 2)
    true_xy = np.asarray(true_xy, dtype=float).reshape(-1, 2)
    cost = np.hypot(
        detected_xy[:, None, 0] - true_xy[None, :, 0], detected_xy[:, None, 1] - true_xy[None, :, 1]
    )
    return _assign(cost, tolerance)


def match_points_to_polygons(points_xy: np.ndarray, polygons, *, tolerance: float) -> Score:
    """One-to-one matching of detection centres to true footprints.

    A detection may match a true object when its centre lies within ``tolerance`` (CRS
    units) of the object's polygon (distance 0 inside it).
    """
    import shapely

    points_xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    polygons = np.asarray(list(polygons), dtype=object)
    if len(points_xy) == 0 or len(polygons) == 0:
        return Score(0, len(points_xy), len(polygons))
    points = shapely.points(points_xy)
    cost = shapely.distance(points[:, None], polygons[None, :])
    return _assign(cost, tolerance)


def score_detections(detections, truth, *, kind: str, tolerance_m: float = 20.0) -> Score:
    """Score flags of one ``kind`` against truth footprints of that kind (same CRS).

    ``detections`` needs a ``kind`` column and polygons; the detection's centre is its
    polygon's centroid. ``truth`` is a GeoDataFrame with ``kind`` and polygons.
    """
    det = detections[detections["kind"] == kind] if len(detections) else detections
    tru = truth[truth["kind"] == kind] if len(truth) else truth
    if (
        len(tru)
        and len(det)
        and truth.crs is not None
        and detections.crs is not None
        and truth.crs != detections.crs
    ):
        tru = tru.to_crs(detections.crs)
    centres = (
        np.column_stack([det.geometry.centroid.x, det.geometry.centroid.y])
        if len(det)
        else np.empty((0, 2))
    )
    return match_points_to_polygons(
        centres, list(tru.geometry) if len(tru) else [], tolerance=tolerance_m
    )


def match_points_to_masks(
    detected_rc: np.ndarray, masks: list[np.ndarray], *, tolerance_px: float
) -> Score:
    """One-to-one matching of detections (row, col) to object masks.

    A detection may match a ship when its centre lies within ``tolerance_px`` pixels of
    the ship's mask (distance 0 inside it).
    """
    detected_rc = np.asarray(detected_rc, dtype=float).reshape(-1, 2)
    cost = np.full((len(detected_rc), len(masks)), np.inf)
    if len(detected_rc) == 0 or not masks:
        return _assign(cost, tolerance_px)
    shape = masks[0].shape
    r = np.clip(np.round(detected_rc[:, 0]).astype(int), 0, shape[0] - 1)
    c = np.clip(np.round(detected_rc[:, 1]).astype(int), 0, shape[1] - 1)
    for j, mask in enumerate(masks):
        distance = ndimage.distance_transform_edt(~mask)
        cost[:, j] = distance[r, c]
    return _assign(cost, tolerance_px)


def decode_coco_rle(counts: list[int], size: tuple[int, int]) -> np.ndarray:
    """Decode an uncompressed COCO run-length encoding into a bool mask.

    COCO runs alternate background and foreground, starting with background, over the
    image flattened in column-major (Fortran) order.
    """
    height, width = size
    runs = np.asarray(counts, dtype=np.int64)
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    total = height * width
    if flat.size < total:
        flat = np.concatenate([flat, np.zeros(total - flat.size, dtype=bool)])
    return flat[:total].reshape((height, width), order="F")


def coco_masks(path: str | Path, *, category: str = "vessel") -> list[np.ndarray]:
    """Masks of every annotation of ``category`` in a COCO file (uncompressed RLE or polygons)."""
    doc = json.loads(Path(path).read_text())
    wanted = {c["id"] for c in doc["categories"] if c["name"] == category}
    masks = []
    for ann in doc["annotations"]:
        if ann["category_id"] not in wanted:
            continue
        seg = ann["segmentation"]
        if isinstance(seg, str):
            seg = json.loads(seg.replace("'", '"'))
        if isinstance(seg, dict):
            masks.append(decode_coco_rle(seg["counts"], tuple(seg["size"])))
        else:
            from PIL import Image, ImageDraw

            image = next(i for i in doc["images"] if i["id"] == ann["image_id"])
            canvas = Image.new("1", (image["width"], image["height"]), 0)
            draw = ImageDraw.Draw(canvas)
            for polygon in seg:
                draw.polygon(list(map(float, polygon)), fill=1)
            masks.append(np.array(canvas, dtype=bool))
    return masks
