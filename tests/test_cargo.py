"""S1 cargo: a new stack spreads its added backscatter over several resolution cells;
a single new scatterer (a vehicle, a crane, a lone container) fills one."""

from __future__ import annotations

import dataclasses

import numpy as np
from s1_scenes import june, speckled_s1
from scipy import ndimage

from imagery.detect import DetectParams, detect_aligned
from imagery.raster import Raster

SIZE = 240
SHORE_COL = 60  # water west of it, yards east
STACK = (slice(60, 67), slice(120, 125))  # 70 m x 50 m
SCATTERER = (170, 130)
PSF_SIGMA_PX = 0.9  # S1 IW: about 9 m


def _scene(reflectivity: np.ndarray, day: int, seed: int) -> Raster:
    return speckled_s1(ndimage.gaussian_filter(reflectivity, PSF_SIGMA_PX), june(day), seed)


def _pair() -> tuple[Raster, Raster]:
    before = np.full((SIZE, SIZE), 0.01)
    before[:, SHORE_COL:] = 0.1
    after = before.copy()
    after[STACK] *= 6.0
    after[SCATTERER] = 60.0  # one strong point target
    return _scene(before, 1, 1), _scene(after, 13, 2)


def _cargo_cells(params: DetectParams) -> set[tuple[int, int]]:
    before, after = _pair()
    found = detect_aligned(before, after, params=params).detections
    cargo = found[found["kind"] == "cargo"]
    cells = set()
    for point in cargo.geometry.centroid:
        col, row = ~before.transform * (point.x, point.y)
        cells.add((int(row), int(col)))
    return cells


def _near(cells: set[tuple[int, int]], row: float, col: float, px: float = 3.0) -> bool:
    return any(abs(r - row) <= px and abs(c - col) <= px for r, c in cells)


def test_a_new_stack_is_cargo_and_a_single_scatterer_is_not():
    cells = _cargo_cells(DetectParams())
    assert _near(cells, 63, 122)
    assert not _near(cells, *SCATTERER)


def test_without_the_cell_test_the_scatterer_is_flagged():
    cells = _cargo_cells(dataclasses.replace(DetectParams(), cargo_max_cell_share=1.0))
    assert _near(cells, 63, 122)
    assert _near(cells, *SCATTERER)


def test_an_after_scene_without_vh_is_tested_on_vv():
    before, after = _pair()
    found = detect_aligned(before, after.select(["VV"]), params=DetectParams()).detections
    cargo = found[found["kind"] == "cargo"]
    cells = {
        (int(r), int(c))
        for c, r in (~before.transform * (p.x, p.y) for p in cargo.geometry.centroid)
    }
    assert _near(cells, 63, 122)
    assert not _near(cells, *SCATTERER)
