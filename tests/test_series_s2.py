"""A Sentinel-2 series judges each step as the pair pipeline judges a pair."""

from __future__ import annotations

import numpy as np
from s2_scenes import blurred_s2
from scipy import ndimage
from test_thin_hulls_s2 import DECK, LAND, SIZE, WATER

from imagery.detect import DetectParams, detect_pair
from imagery.series import detect_series


def _ground(*, hull: bool) -> np.ndarray:
    """Water to the west, textured yards to the east (the same on every date, so the
    dates co-register); with ``hull``, a 130 m ship 12 m wide at anchor."""
    texture = ndimage.gaussian_filter(np.random.default_rng(7).normal(size=(SIZE, SIZE)), 2.0)
    ground = np.empty((4, SIZE, SIZE))
    ground[:] = np.array(LAND)[:, None, None] * (1.0 + 4.0 * texture)
    ground[:, :, :120] = np.array(WATER)[:, None, None]
    if hull:
        for k, row in enumerate(range(100, 110)):
            ground[:, row, 80 - k] = np.array(DECK)
            ground[:, row, 81 - k] = 0.5 * np.array(DECK) + 0.5 * np.array(WATER)
    return np.clip(ground, 0.0, None)


def _centres(flags, scene):
    return sorted(
        (round(c, 1), round(r, 1))
        for c, r in (~scene.transform * (p.x, p.y) for p in flags.geometry.centroid)
    )


def test_each_step_of_a_series_flags_what_the_pair_flags():
    quiet = _ground(hull=False)
    moored = _ground(hull=True)
    moored[:, 20:60, 150:190] += 0.06  # a veil of haze over the yards at the second pass
    scenes = [
        blurred_s2(quiet, 1, 1, blur_px=0.4),
        blurred_s2(moored, 11, 2, blur_px=0.4),
        blurred_s2(quiet, 21, 3, blur_px=0.4),
    ]
    params = DetectParams()
    series = detect_series(scenes, sensor="s2", params=params)
    for j in (1, 2):
        pair = detect_pair(scenes[j - 1], scenes[j], sensor="s2", params=params)
        for layer in ("detections", "departed"):
            step = getattr(series, layer)
            step = step[step["change_index"] == j]
            # The same flags, up to the sub-pixel difference of the two registrations.
            mine, theirs = _centres(step, scenes[0]), _centres(getattr(pair, layer), scenes[0])
            assert len(mine) == len(theirs)
            assert all(
                np.hypot(a[0] - b[0], a[1] - b[1]) <= 1.0 for a, b in zip(mine, theirs, strict=True)
            )
    # The hull came at the second pass and left at the third.
    arrived = series.detections[series.detections["kind"] == "vessel"]
    assert list(arrived["change_index"]) == [1]
    assert list(series.departed["change_index"]) == [2]


def _textured(ground: np.ndarray, shore_col: int) -> np.ndarray:
    """``ground`` widened by as much land again to the east, with the same yard texture
    east of ``shore_col`` on every date, so that the dates co-register."""
    out = np.concatenate([ground, np.repeat(ground[:, :, -1:], ground.shape[2], axis=2)], axis=2)
    shape = out.shape[1:]
    texture = ndimage.gaussian_filter(np.random.default_rng(7).normal(size=shape), 2.0)
    out[:, :, shore_col:] *= 1.0 + 4.0 * texture[None, :, shore_col:]
    return np.clip(out, 0.0, None)


def test_a_series_drops_flags_in_the_surf_as_the_pair_does():
    # The band beside whitewater of tests/test_berth_changes_s2.py on the first of three
    # dates: gone by the second, it is no departure, in the series as in the pair;
    # without the whitewater beside it, it is one in both.
    from test_berth_changes_s2 import SHORE_COL, _in_the_band, _port, _surf_port

    params = DetectParams(min_score=0.0)
    for whitewater, found in ((True, 0), (False, 1)):
        first = _surf_port(whitewater=whitewater)
        scenes = [
            blurred_s2(_textured(ground, SHORE_COL), day, seed)
            for ground, day, seed in ((first, 1, 1), (_port(), 11, 2), (_port(), 21, 3))
        ]
        series = detect_series(scenes, sensor="s2", params=params)
        assert _in_the_band(_centres(series.departed, scenes[0])) == found
        pair = detect_pair(scenes[0], scenes[1], sensor="s2", params=params)
        assert _in_the_band(_centres(pair.departed, scenes[0])) == found
