"""Sentinel-1 series: the omnibus steps judged as a pair's are (gain and looks on land),
and one date's missing data does not blind the other dates."""

from __future__ import annotations

from datetime import UTC, timedelta

import numpy as np
import pytest
from s1_scenes import june, speckled_s1
from scipy import ndimage

from imagery.errors import InputError
from imagery.omnibus import sequential_omnibus
from imagery.series import detect_series


def _db(value):
    return 10.0 ** (np.asarray(value) / 10.0)


def _port(size: int, shore: int, seed: int) -> np.ndarray:
    """Mean VV: calm sea west of column ``shore``, textured land east of it."""
    rng = np.random.default_rng(seed)
    texture = ndimage.gaussian_filter(rng.normal(size=(size, size)), 2.0)
    mean = _db(-11.0 + 20.0 * texture)
    mean[:, :shore] = _db(-16.0)
    return mean


def _scenes(means: list[np.ndarray], seed: int):
    return [
        speckled_s1(ndimage.gaussian_filter(m, 0.9), june(1) + timedelta(days=12 * t), seed + t)
        for t, m in enumerate(means)
    ]


def _flags(result) -> list[tuple[str, int]]:
    return sorted(zip(result.detections["kind"], result.detections["change_index"], strict=True))


def test_a_calm_sea_on_one_date_does_not_hide_a_stack_on_land():
    # Most of the scene is sea; on the third date the wind drops and the sea is 8 dB
    # darker. Gain and looks from every pixel took the sea's change for the calibration's
    # and its decorrelation for speckle (3 looks instead of ~40): the stack went unflagged.
    base = _port(320, 180, seed=5)
    means = []
    for t in range(4):
        m = base.copy()
        if t == 2:
            m[:, :180] = _db(-24.0)
        if t >= 1:
            m[100:108, 250:256] *= 4.0  # a stack set down on the second date
        means.append(m)
    result = detect_series(_scenes(means, 400), sensor="s1")
    assert result.parameters["looks"] > 20
    assert ("cargo", 1) in _flags(result)
    assert all(kind != "cargo" or index == 1 for kind, index in _flags(result))


def test_a_date_without_data_over_half_the_scene_leaves_the_others_judged():
    base = _port(240, 60, seed=5)
    base[:, :60] = _db(-20.0)
    means = []
    for t in range(5):
        m = base.copy()
        if t >= 1:
            m[50:80, 40:46] = _db(-3.0)  # a ship at anchor from the second date
        if t >= 2:
            m[60:68, 120:126] *= 8.0  # a stack from the third
        means.append(m)
    scenes = _scenes(means, 300)
    # The last pass's swath ends half way: no data over the top half, where both are.
    data = scenes[4].data.copy()
    data[:, :100] = np.nan
    scenes[4] = scenes[4].replace(data=data)
    result = detect_series(scenes, sensor="s1")
    assert ("vessel", 1) in _flags(result) and ("cargo", 2) in _flags(result)
    z_max = result.change.data[1]
    assert np.isfinite(z_max[:100]).mean() > 0.9


def test_a_series_refuses_two_scenes_of_one_pass():
    base = _port(160, 60, seed=1)
    scenes = _scenes([base, base, base], 10)
    scenes[2] = scenes[2].replace(time=scenes[1].time)
    with pytest.raises(InputError, match="both acquired"):
        detect_series(scenes, sensor="s1", names=["a.tif", "b.tif", "c.tif"])


def test_the_omnibus_leaves_a_missing_date_out_of_its_segment():
    rng = np.random.default_rng(0)
    looks = 30.0
    k, shape = 5, (200, 200)
    mean = np.ones((k, 1, *shape))
    mean[3:, :, :, 100:] = 8.0  # an increase of 9 dB at date 3 on the right half
    stack = mean * rng.gamma(looks, 1.0 / looks, mean.shape)
    stack[1, :, :100] = np.nan  # date 1 missing over the top half
    result = sequential_omnibus(stack, looks=looks, alpha=1e-6)
    # The steps into and out of the missing date: into it untested, out of it tested
    # against the dates present before.
    assert np.isnan(result.p_values[0, :100]).all()
    assert np.isfinite(result.p_values[1:, :100]).all()
    assert np.isfinite(result.p_values).all(axis=0)[100:].all()
    assert result.changed[2, :, 100:].mean() > 0.99
    # No change anywhere else: the false alarms stay near alpha per step.
    assert result.changed[:, :, :100].mean() < 1e-3
    assert result.changed[:2, :, 100:].mean() < 1e-3


def test_a_series_is_a_rioxarray_dataarray_in_utc():
    from datetime import timezone

    from imagery.series import to_series

    base = _port(64, 20, seed=2)
    scenes = _scenes([base, base, base], 20)
    # The same instant written in Korea's time zone is the same UTC time.
    seoul = timezone(timedelta(hours=9))
    scenes[1] = scenes[1].replace(time=scenes[1].time.astimezone(seoul))
    series = to_series(scenes)
    assert series.dims == ("time", "band", "y", "x")
    expected = [np.datetime64(s.time.astimezone(UTC).replace(tzinfo=None)) for s in scenes]
    assert list(series["time"].values) == expected
    assert series.rio.crs == scenes[0].crs
    assert series.rio.transform() == scenes[0].transform
    assert list(series["band"].values) == ["VV", "VH"]


def test_a_series_of_open_sea_is_compared_as_georeferenced():
    """A series over open sea is not refused for lack of land to register on (as a pair
    is not, `test_detect.py`): each ship is flagged on the pass it arrived on."""
    from s1_scenes import ANCHORED, anchorage

    scenes = [
        anchorage(ships=ANCHORED[:n], when=june(day), seed=day)
        for n, day in ((1, 1), (2, 13), (3, 25))
    ]
    result = detect_series(scenes, sensor="s1")
    assert [r["model"] for r in result.parameters["registrations"][1:]] == ["none", "none"]
    vessels = result.detections[result.detections["kind"] == "vessel"]
    assert sorted(vessels["change_time"]) == [june(13).isoformat(), june(25).isoformat()]
