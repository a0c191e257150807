"""S2 cargo under haze: a patch of haze or of a thin cloud's fringe come over the yards
brightens every band, B08 no more than B02, and is not a stack; painted containers set
down beside it are."""

from __future__ import annotations

import numpy as np
import pytest
from s2_scenes import blurred_s2
from shapely.geometry import Point
from test_cargo_s2 import RED_CONTAINERS, SHORE_COL, SIZE, STACK, WATER
from test_shadow_cargo_s2 import PAVEMENT, _cargo_near

from imagery.detect import DetectParams, detect_aligned
from imagery.spectral import green_vegetation

#: A haze patch about 150 m across with a soft edge, well under a cloud mask's patch
#: size. Its added reflectance falls off with wavelength (Angstrom exponent about 1.5).
HAZE_CENTRE = (135, 110)
HAZE_SIGMA_PX = 5.0
HAZE_STEP = (0.030, 0.024, 0.018, 0.011)  # B02 B03 B04 B08 at the core
#: A thin cloud's fringe: about grey, too faint for the grey-veil test (0.04 in B02).
FRINGE_STEP = (0.024, 0.026, 0.025, 0.022)
HAZE = (slice(128, 143), slice(103, 118))
BLUE_CONTAINERS = (0.14, 0.10, 0.07, 0.30)  # blue pigments reflect the near infrared


def _pair(containers, veil=HAZE_STEP) -> tuple:
    before = np.empty((4, SIZE, SIZE), dtype=np.float64)
    before[:] = np.array(PAVEMENT)[:, None, None]
    before[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    after = before.copy()
    after[:, STACK[0], STACK[1]] = np.array(containers)[:, None, None]
    rows, cols = np.mgrid[:SIZE, :SIZE]
    r2 = (rows - HAZE_CENTRE[0]) ** 2 + (cols - HAZE_CENTRE[1]) ** 2
    core = np.minimum(2.0 * np.exp(-r2 / (2 * HAZE_SIGMA_PX**2)), 1.0)
    land = cols >= SHORE_COL
    after += np.array(veil)[:, None, None] * (core * land)[None]
    return blurred_s2(before, 1, 3), blurred_s2(after, 11, 4)


@pytest.mark.parametrize("veil", [HAZE_STEP, FRINGE_STEP])
@pytest.mark.parametrize("containers", [RED_CONTAINERS, BLUE_CONTAINERS])
def test_haze_is_not_cargo_and_painted_containers_are(containers, veil):
    before, after = _pair(containers, veil)
    found = detect_aligned(before, after, params=DetectParams(min_score=0.0)).detections
    assert _cargo_near(found, before, HAZE) == 0
    assert _cargo_near(found, before, STACK) == 1


#: The empty-ground test's "added" part as it was before it asked for more than noise
#: (any chroma gain, a tenth of the land's texture): a veil then passes it.
LENIENT_ADDED = {"cargo_min_texture_gain": 0.1, "cargo_added_chroma_gain": 0.0}


@pytest.mark.parametrize("veil", [HAZE_STEP, FRINGE_STEP])
def test_without_the_haze_test_the_haze_passes_for_a_stack(veil):
    before, after = _pair(RED_CONTAINERS, veil)
    params = DetectParams(min_score=0.0, cargo_haze_veil=False, **LENIENT_ADDED)
    found = detect_aligned(before, after, params=params).detections
    assert _cargo_near(found, before, HAZE) == 1
    assert _cargo_near(found, before, STACK) == 1


@pytest.mark.parametrize("veil", [HAZE_STEP, FRINGE_STEP])
def test_a_veil_adds_neither_texture_nor_colour(veil):
    """Haze or a cloud's fringe softens the ground and greys it: the empty-ground test's
    demand that a stack add texture or colour takes it too, each test alone is enough."""
    before, after = _pair(RED_CONTAINERS, veil)
    for params in (
        DetectParams(min_score=0.0, cargo_haze_veil=False),
        DetectParams(min_score=0.0, **LENIENT_ADDED),
    ):
        found = detect_aligned(before, after, params=params).detections
        assert _cargo_near(found, before, HAZE) == 0
        assert _cargo_near(found, before, STACK) == 1


def _stack_only(ground, containers) -> tuple:
    before = np.empty((4, SIZE, SIZE), dtype=np.float64)
    before[:] = np.array(ground)[:, None, None]
    before[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    after = before.copy()
    after[:, STACK[0], STACK[1]] = np.array(containers)[:, None, None]
    return blurred_s2(before, 1, 5), blurred_s2(after, 11, 6)


def test_a_stack_brightening_every_band_most_in_b08_is_cargo():
    asphalt = (0.06, 0.06, 0.065, 0.08)
    orange_containers = (0.08, 0.15, 0.30, 0.35)  # every band up, B08 most
    before, after = _stack_only(asphalt, orange_containers)
    found = detect_aligned(before, after, params=DetectParams(min_score=0.0)).detections
    assert _cargo_near(found, before, STACK) == 1


def test_the_haze_test_alone_leaves_a_grey_darkening():
    # Dark grey containers on concrete darken every band alike. With the grey veil
    # test off (cargo_veil_step 0), the haze test, which takes only brightenings, keeps
    # them: no flat change is vetoed for want of a threshold.
    dark_grey_containers = (0.05, 0.05, 0.05, 0.06)
    before, after = _stack_only(PAVEMENT, dark_grey_containers)
    grey_off = DetectParams(min_score=0.0, cargo_veil_step=0.0)
    found = detect_aligned(before, after, params=grey_off).detections
    assert _cargo_near(found, before, STACK) == 1


def test_blue_containers_bright_in_the_near_infrared_are_not_vegetation():
    """NDVI 0.62 like leaves, but brightest in blue: the stack is searched for cargo,
    and its flag covers it (NDVI alone cut the stack out of its own change, leaving a
    ring of blurred edge pixels around it)."""
    before, after = _stack_only(PAVEMENT, BLUE_CONTAINERS)
    found = detect_aligned(before, after, params=DetectParams(min_score=0.0)).detections
    cargo = found[found["kind"] == "cargo"]
    rows, cols = STACK
    centre = Point(
        *(before.transform * ((cols.start + cols.stop) / 2, (rows.start + rows.stop) / 2))
    )
    assert cargo.geometry.contains(centre).sum() == 1


def test_vegetation_is_high_ndvi_not_clearly_bluer_than_green():
    spectra = [
        (0.04, 0.08, 0.04, 0.40),  # leaves
        (0.035, 0.03, 0.02, 0.25),  # dark canopy in shade, B02 lifted past B03 by skylight
        BLUE_CONTAINERS,  # paint: NDVI 0.62, B02 0.04 over B03
        (0.10, 0.11, 0.12, 0.15),  # pavement: NDVI 0.11
    ]
    exact = np.array(spectra, dtype=np.float32).T[:, None, :]  # band, one row, a column each
    scene = blurred_s2(exact, 1, 7, blur_px=0).replace(data=exact)
    assert green_vegetation(scene, 0.4).ravel().tolist() == [True, True, False, False]
