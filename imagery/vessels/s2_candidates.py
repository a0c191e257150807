"""Sentinel-2 candidates competing for pixels, and the suppression keeping one per ship."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class _Candidates:
    """Objects competing for pixels: flat pixel indices per object, scores and evidence."""

    pixels: list[np.ndarray]
    score: np.ndarray
    kind: np.ndarray  # 0 afloat, 1 berthed
    evidence: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @classmethod
    def empty(cls) -> _Candidates:
        return cls([], np.zeros(0), np.zeros(0, dtype=np.int8), {})

    def extend(self, other: _Candidates) -> None:
        mine, theirs = len(self.score), len(other.score)
        for key in sorted(set(self.evidence) | set(other.evidence)):
            self.evidence[key] = np.concatenate(
                [
                    self.evidence.get(key, np.full(mine, np.nan)),
                    other.evidence.get(key, np.full(theirs, np.nan)),
                ]
            )
        self.pixels.extend(other.pixels)
        self.score = np.concatenate([self.score, other.score])
        self.kind = np.concatenate([self.kind, other.kind])


def _minor_width_m(pixels: np.ndarray, cols: int, pixel_m: float) -> float:
    rows_, cols_ = np.divmod(pixels, cols)
    if pixels.size < 3:
        return pixel_m
    cov = np.cov(np.vstack([rows_, cols_]).astype(float)) + np.eye(2) / 12.0
    return float(np.sqrt(12.0 * max(float(np.linalg.eigvalsh(cov)[0]), 0.0))) * pixel_m


def _suppress(candidates: _Candidates, shape, *, pixel_m: float, max_width_m: float, overlap=0.3):
    """Greedy non-maximum suppression, best score first.

    A candidate whose pixels are more than ``overlap`` taken is dropped. A fragment that
    touches exactly one chosen object is absorbed into it when the union is no wider
    than ``max_width_m`` (one ship found in pieces by different directions or lines).

    Returns
    -------
    objects : list of ndarray
        Flat pixel indices of each chosen object.
    source : ndarray of int
        The candidate each object was chosen as.
    """
    rows, cols = shape
    owner = np.zeros(rows * cols, dtype=np.int32)
    objects: list[np.ndarray] = []
    source: list[int] = []
    offsets = np.array([-cols - 1, -cols, -cols + 1, -1, 1, cols - 1, cols, cols + 1])
    for i in np.argsort(-candidates.score, kind="stable"):
        pixels = candidates.pixels[i]
        taken = owner[pixels]
        if (taken > 0).mean() > overlap:
            continue
        pixels = pixels[taken == 0]
        around = (pixels[:, None] + offsets[None, :]).ravel()
        touching = np.unique(owner[around[(around >= 0) & (around < owner.size)]])
        touching = touching[touching > 0]
        if touching.size == 1:
            merged = np.concatenate([objects[touching[0] - 1], pixels])
            if _minor_width_m(merged, cols, pixel_m) <= max_width_m:
                objects[touching[0] - 1] = merged
                owner[pixels] = touching[0]
                continue
        objects.append(pixels)
        source.append(int(i))
        owner[pixels] = len(objects)
    return objects, np.array(source, dtype=int)
