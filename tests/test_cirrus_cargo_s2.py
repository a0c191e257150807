"""S2 cargo under thin cirrus on one date: the veil is matched away (a local linear fit,
:func:`imagery.change.match_through_veil`) and a stack set down under it is flagged;
the yard's unchanged stacks under the same veil are not."""

from __future__ import annotations

import numpy as np
from s2_scenes import blurred_s2, with_scl
from test_cargo_s2 import RED_CONTAINERS, SHORE_COL, SIZE, WATER
from test_shadow_cargo_s2 import PAVEMENT, _cargo_near

from imagery.change import local_linear_match, match_through_veil
from imagery.detect import DetectParams, detect_aligned
from imagery.flags.masks import cirrus_veil
from imagery.sensors import SCL_CIRRUS

#: The yard's standing stacks, there on both dates: (rows, cols) and colour.
STANDING = [
    ((slice(30, 38), slice(60, 70)), (0.20, 0.21, 0.22, 0.25)),  # white and grey boxes
    ((slice(90, 96), slice(120, 134)), (0.07, 0.09, 0.16, 0.22)),
    ((slice(140, 150), slice(70, 76)), (0.05, 0.06, 0.05, 0.07)),  # dark grey
    ((slice(160, 166), slice(150, 162)), (0.15, 0.11, 0.08, 0.28)),
]
NEW_STACK = (slice(120, 128), slice(100, 106))  # 80 m x 60 m, under the veil
#: Cirrus over the yard east of this column on the after date only.
VEIL_COL = 80
#: The veil's reflectance and its transmittance loss per unit thickness, and its
#: thickness across the yard (thin cirrus: a few hundredths of reflectance added).
VEIL_REFLECTANCE = (0.22, 0.21, 0.20, 0.19)
VEIL_LOSS = 0.4


def _veil_thickness() -> np.ndarray:
    rows, cols = np.mgrid[:SIZE, :SIZE]
    thickness = 0.10 + 0.05 * np.sin(rows / 40.0) + 0.03 * (cols - VEIL_COL) / SIZE
    return np.where(cols >= VEIL_COL, thickness, 0.0)


def _pair(*, new_stack: bool = True):
    before = np.empty((4, SIZE, SIZE), dtype=np.float64)
    before[:] = np.array(PAVEMENT)[:, None, None]
    before[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    for (rows, cols), colour in STANDING:
        before[:, rows, cols] = np.array(colour)[:, None, None]
    after = before.copy()
    if new_stack:
        after[:, NEW_STACK[0], NEW_STACK[1]] = np.array(RED_CONTAINERS)[:, None, None]
    tau = _veil_thickness()
    after = after * (1.0 - VEIL_LOSS * tau)[None] + np.array(VEIL_REFLECTANCE)[:, None, None] * tau
    veil = (slice(None), slice(VEIL_COL, SIZE))
    return (
        with_scl(blurred_s2(before, 1, 21), SHORE_COL),
        with_scl(blurred_s2(after, 11, 22), SHORE_COL, {SCL_CIRRUS: veil}),
    )


def test_a_stack_set_down_under_cirrus_is_found_and_nothing_else():
    before, after = _pair()
    found = detect_aligned(before, after, params=DetectParams(min_score=0.0)).detections
    assert _cargo_near(found, before, NEW_STACK) == 1
    assert (found["kind"] == "cargo").sum() == 1


def test_the_yard_under_cirrus_is_not_cargo():
    before, after = _pair(new_stack=False)
    found = detect_aligned(before, after, params=DetectParams(min_score=0.0)).detections
    assert (found["kind"] == "cargo").sum() == 0


def test_with_the_match_off_cirrus_is_masked_as_cloud():
    before, after = _pair()
    params = DetectParams(min_score=0.0, cirrus_match_m=0.0)
    found = detect_aligned(before, after, params=params).detections
    assert (found["kind"] == "cargo").sum() == 0


def test_the_veil_is_cirrus_on_land_away_from_cloud_and_shadow():
    before, after = _pair()
    excluded = np.ones((SIZE, SIZE), dtype=bool)
    veil = cirrus_veil(before, after, excluded, DetectParams())
    assert veil[:, VEIL_COL:].all()
    assert not veil[:, : VEIL_COL - 7].any()  # the cirrus grown by the 60 m buffer
    cloud = (slice(100, 110), slice(150, 160))
    marks = {SCL_CIRRUS: (slice(None), slice(VEIL_COL, SIZE)), 8: cloud}
    clouded = with_scl(after.select(["B02", "B03", "B04", "B08"]), SHORE_COL, marks)
    veil = cirrus_veil(before, clouded, excluded, DetectParams())
    assert not veil[97:113, 147:163].any()  # the cloud grown by the buffer too
    assert veil[100:110, 120:130].all()
    assert not cirrus_veil(before, after, excluded, DetectParams(cirrus_match_m=0.0)).any()


def test_a_local_line_is_recovered_and_a_change_does_not_bend_it():
    rng = np.random.default_rng(5)
    shape = (120, 120)
    ground = rng.uniform(0.05, 0.3, shape)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    gain = 0.9 + 0.0005 * rows  # 5 % a kilometre
    offset = 0.02 + 0.00005 * cols
    veiled = gain * ground + offset + rng.normal(0.0, 0.002, shape)
    changed = ground.copy()
    changed[50:58, 60:66] += 0.25  # a stack on the other date
    fit = np.ones(shape, dtype=bool)
    a, b, fitted = local_linear_match(changed, veiled, fit, 25, min_count=200)
    assert fitted[20:100, 20:100].all()
    matched = a * veiled + b
    inner = (slice(20, 100), slice(20, 100))
    unchanged = np.ones(shape, dtype=bool)
    unchanged[50:58, 60:66] = False
    error = np.abs(matched - ground)[inner][unchanged[inner]]
    assert np.median(error) < 0.004
    assert np.abs(matched - ground)[44:64, 54:72][unchanged[44:64, 54:72]].max() < 0.02
    # The stack stands out of the matched date by what was set down.
    assert np.median((changed - matched)[50:58, 60:66]) > 0.2


def test_matching_leaves_missing_data_missing_and_the_rest_untouched():
    before, after = _pair()
    data = after.data.copy()
    data[:, 60:64, 120:124] = np.nan  # a hole in the after scene, under the veil
    holed = after.replace(data=data)
    veil = np.zeros((SIZE, SIZE), dtype=bool)
    veil[:, VEIL_COL:] = True
    matched, done = match_through_veil(holed, before, veil, window_px=25)
    assert np.isnan(matched.band("B08")[60:64, 120:124]).all()
    assert done[100:110, 120:130].all()
    np.testing.assert_array_equal(
        matched.band("B08")[:, :VEIL_COL], holed.band("B08")[:, :VEIL_COL]
    )
    np.testing.assert_array_equal(matched.band("SCL"), holed.band("SCL"))
    # Off its rim the veil is gone: the matched yard is within noise of the before date.
    inner = (slice(20, 180), slice(VEIL_COL + 20, SIZE - 20))
    step = (matched.band("B04") - before.band("B04"))[inner]
    assert np.nanmedian(np.abs(step)) < 0.005
