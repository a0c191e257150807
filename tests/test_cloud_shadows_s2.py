"""Cloud shadows in S2 scenes without SCL: found by moving the clouds' mask to where the
ground under it is darkest (:func:`imagery.clouds.cloud_shadows`), and kept out of the
new vessels a pair flags, as SCL's shadow is."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from s2_scenes import blurred_s2
from s2_scenes import flagged_at as _flagged
from scipy import ndimage

import imagery.clouds as clouds
from imagery.clouds import cloud_shadows, s2_cloud_shadows, s2_clouds
from imagery.detect import DetectParams, detect_aligned

SIZE = 300
SHORE_COL = 200  # water west of it, land east
WATER = (0.05, 0.045, 0.025, 0.012)
LAND = (0.09, 0.10, 0.11, 0.16)
#: Cumulus: bright and flat in every band (Bohren & Huffman 1983).
CLOUD = (0.55, 0.55, 0.56, 0.58)
#: The diffuse light left in a shadow, as a share of the sunlit reflectance.
SHADOW_FACTOR = 0.4


def _blob(centre: tuple[int, int], radii: tuple[int, int]) -> np.ndarray:
    """An irregular cumulus: an ellipse with a second, smaller one bulging from it."""
    rows, cols = np.mgrid[:SIZE, :SIZE]
    (r0, c0), (a, b) = centre, radii
    body = ((rows - r0) / a) ** 2 + ((cols - c0) / b) ** 2 <= 1.0
    bulge = ((rows - r0 - a // 2) / (a // 2)) ** 2 + ((cols - c0 - b) / (b // 2)) ** 2 <= 1.0
    return body | bulge


def _moved(mask: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """``mask`` moved ``dr`` rows down and ``dc`` columns right, nothing wrapping round."""
    moved = np.roll(np.roll(mask, dr, axis=0), dc, axis=1)
    rows, cols = np.mgrid[: mask.shape[0], : mask.shape[1]]
    inside = (rows - dr >= 0) & (rows - dr < mask.shape[0]) & (cols - dc >= 0)
    return moved & inside & (cols - dc < mask.shape[1])


def _near(mask: np.ndarray) -> np.ndarray:
    """Within the clouds' buffer of ``mask``."""
    reach = round(clouds.S2_CLOUD_BUFFER_M / 10.0) + 2  # and the PSF's blur
    return ndimage.binary_dilation(mask, iterations=reach)


def _scene(cloud: np.ndarray, shadow: np.ndarray | None, seed: int = 1):
    ground = np.empty((4, SIZE, SIZE))
    ground[:] = np.array(LAND)[:, None, None]
    ground[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    if shadow is not None:
        ground[:, shadow] *= SHADOW_FACTOR
    ground[:, cloud] = np.array(CLOUD)[:, None]
    water = np.zeros((SIZE, SIZE), dtype=bool)
    water[:, :SHORE_COL] = True
    return blurred_s2(ground, 1, seed), water


@pytest.mark.parametrize(
    ("centre", "offset"),
    # The sun from the south-east (a northern summer morning), from the north-east (a
    # southern one), and low from the west.
    [((150, 150), (-45, -60)), ((150, 150), (70, -30)), ((150, 60), (20, 110))],
)
def test_a_cloud_shadow_is_found_where_the_cloud_moved_darkens_the_ground(centre, offset):
    cloud = _blob(centre, (30, 40))
    shadow = _moved(cloud, *offset) & ~cloud
    scene, water = _scene(cloud, shadow)
    found_clouds = s2_clouds(scene, water=water, buffer_m=0.0)
    assert found_clouds[cloud].mean() > 0.95
    found = cloud_shadows(scene, cloud, water=water)
    overlap = (found & shadow).sum() / (found | shadow).sum()
    assert overlap > 0.85
    # Without SCL, these are the scene's shadows, and its clouds' mask holds them.
    assert s2_cloud_shadows(scene, water=water)[shadow].mean() > 0.9
    assert s2_clouds(scene, water=water)[shadow].mean() > 0.95
    # A ship is seen in a shadow: what hides one leaves it out.
    assert not s2_clouds(scene, water=water, opaque=True)[shadow & ~_near(cloud)].any()
    # What SCL calls shadow (none here) is taken instead, when the scene has SCL.
    from s2_scenes import with_scl

    assert not s2_cloud_shadows(with_scl(scene, SHORE_COL), water=water).any()


def test_the_shadow_of_a_clouds_thin_fringe_is_found_with_the_thick_clouds(monkeypatch):
    # Over land, a fringe 200 m wide of thin cloud (it lets 0.6 of the ground's light
    # through and reflects a quarter of a thick cloud's: under the thick-cloud test)
    # casts a lighter shadow (0.6 of the sunlit ground, not 0.4) beyond the thick one's.
    core = _blob((180, 245), (22, 25))
    whole = ndimage.binary_dilation(core, iterations=20)
    offset = (-60, -70)
    scene, water = _scene(core, _moved(core, *offset) & ~whole)
    fringe_shadow = _moved(whole, *offset) & ~_moved(core, *offset) & ~whole
    data = scene.data.copy()
    fringe = whole & ~core
    data[:, fringe_shadow] *= 0.6
    data[:, fringe] = 0.6 * data[:, fringe] + 0.25 * np.array(CLOUD, dtype=np.float32)[:, None]
    scene = scene.replace(data=data)
    thick = s2_clouds(scene, water=water, buffer_m=0.0, opaque=True)
    assert not thick[fringe & ~ndimage.binary_dilation(core, iterations=2)].any()
    beyond = fringe_shadow & ~ndimage.binary_dilation(
        _moved(core, *offset), iterations=round(clouds.S2_SHADOW_GROW_M / 10.0) + 1
    )
    assert beyond.sum() > 500
    assert cloud_shadows(scene, thick, water=water)[beyond].mean() > 0.9
    monkeypatch.setattr(clouds, "S2_SHADOW_EXTENT_DARKENING", 2.0)
    assert cloud_shadows(scene, thick, water=water)[beyond].mean() < 0.1


def _two_waters(cloud: np.ndarray, shadow: np.ndarray | None):
    """Turbid water over the north two thirds, clear water 40 % darker south of it."""
    scene, water = _scene(cloud, shadow)
    data = scene.data.copy()
    clear = np.zeros(water.shape, dtype=bool)
    clear[200:, :SHORE_COL] = True
    data[:, clear & ~cloud] *= 0.6
    return scene.replace(data=data), water, clear


def test_clear_water_darker_than_turbid_is_no_shadow(monkeypatch):
    # A broad dark patch is as dark wherever the clouds' mask lies on it; a shadow only
    # where the mask has been moved by the sun's offset.
    cloud = _blob((70, 100), (25, 30))
    scene, water, _ = _two_waters(cloud, None)
    assert not cloud_shadows(scene, cloud, water=water).any()
    monkeypatch.setattr(clouds, "S2_SHADOW_MAX_SPREAD", 10.0)
    assert cloud_shadows(scene, cloud, water=water).any()


def test_a_shadow_reaching_dark_clear_water_does_not_flood_it():
    cloud = _blob((70, 100), (25, 30))
    shadow = _moved(cloud, 110, 20) & ~cloud
    scene, water, clear = _two_waters(cloud, shadow)
    found = cloud_shadows(scene, cloud, water=water)
    assert found[shadow].mean() > 0.9
    reach_px = (clouds.S2_SHADOW_EXTENT_M + clouds.S2_SHADOW_GROW_M) / 10.0 + 8  # and a block
    far = ndimage.distance_transform_edt(~shadow) > reach_px
    assert (clear & far).any()
    assert not found[far].any()


def test_a_cloud_whose_shadow_falls_off_the_scene_casts_none_on_it():
    cloud = _blob((150, 150), (30, 40))
    scene, water = _scene(cloud, None)
    assert not cloud_shadows(scene, cloud, water=water).any()
    # Nor does a clear scene.
    clear, _ = _scene(np.zeros_like(cloud), None)
    assert not s2_cloud_shadows(clear, water=water).any()


def test_dark_ground_the_moved_cloud_does_not_fit_is_no_shadow():
    # A dark patch of another shape and size (a basin of clear deep water, a dark
    # roof) darkens a part of the moved cloud at some offset, not enough of it.
    cloud = _blob((150, 150), (30, 40))
    dark = np.zeros_like(cloud)
    dark[40:52, 20:120] = True
    scene, water = _scene(cloud, dark)
    assert not cloud_shadows(scene, cloud, water=water).any()


#: A barge 120 m x 20 m, 40 m off the quay face, there on both dates; a cloud out on the
#: water on the first date shadows it.
BARGE = (slice(120, 132), slice(SHORE_COL - 6, SHORE_COL - 4))
BARGE_DECK = (0.07, 0.07, 0.07, 0.06)
CLOUD_OFFSET = (-90, -110)  # the cloud, from its shadow


def _barge_pair(seed: int):
    shadow = _blob((125, 180), (35, 30))
    cloud = _moved(shadow, *CLOUD_OFFSET)
    shadow &= ~cloud
    scenes = []
    for day, cast in ((1, True), (11, False)):
        ground = np.empty((4, SIZE, SIZE))
        ground[:] = np.array(LAND)[:, None, None]
        ground[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
        ground[:, BARGE[0], BARGE[1]] = np.array(BARGE_DECK)[:, None, None]
        if cast:
            ground[:, shadow] *= SHADOW_FACTOR
            ground[:, cloud] = np.array(CLOUD)[:, None]
        scenes.append(blurred_s2(ground, day, seed + day))
    return scenes


@pytest.mark.parametrize("seed", [1, 2])
def test_without_scl_a_barge_in_a_cloud_shadow_on_the_first_date_is_not_a_new_ship(
    seed, monkeypatch
):
    before, after = _barge_pair(seed)
    result = detect_aligned(before, after, params=DetectParams(min_score=0.0))
    assert _flagged(result.vessels_after, before, BARGE) == 1  # the lit date sees it
    vessels = result.detections[result.detections["kind"] == "vessel"]
    assert _flagged(vessels, before, BARGE) == 0
    # With the test of each flag's step between the dates off (the barge's dimmed grey
    # deck fails foam's ratio too), the shadow alone keeps the barge out; not found,
    # the dimmed barge steps like an arrival.
    params = DetectParams(
        min_score=0.0, vessel=dataclasses.replace(DetectParams().vessel, s2_foam_ratio=0.0)
    )
    found = detect_aligned(before, after, params=params).detections
    assert _flagged(found[found["kind"] == "vessel"], before, BARGE) == 0
    monkeypatch.setattr(clouds, "S2_SHADOW_MIN_DARKENING", 2.0)
    blind = detect_aligned(before, after, params=params).detections
    assert _flagged(blind[blind["kind"] == "vessel"], before, BARGE) == 1


def test_a_pair_searches_each_dates_shadows_once(monkeypatch):
    # The cloud mask, the arrival rule and the clouds' reach all need them.
    before, after = _barge_pair(1)
    calls = []
    search = clouds.cloud_shadows

    def counted(*args, **kwargs):
        calls.append(1)
        return search(*args, **kwargs)

    monkeypatch.setattr(clouds, "cloud_shadows", counted)
    result = detect_aligned(before, after, params=DetectParams(min_score=0.0))
    assert len(calls) == 2
    vessels = result.detections[result.detections["kind"] == "vessel"]
    assert _flagged(vessels, before, BARGE) == 0


def test_without_scl_a_flat_puff_far_from_the_thick_cloud_is_no_ship(monkeypatch):
    # Without SCL only the thick core of a cloud field is found; its puffs lie farther
    # off. A flat bright puff about 630 m from the core's edge is judged a puff (it steps
    # no more in B08 than 1.5 times in B02); a red hull nearer still, bright in the near
    # infrared, is not.
    from test_vessels import ANCHORED, RED_HULL, inside, px, s2_layout, s2_scene

    from imagery.vessels import detect_vessels

    reflectance = s2_layout()
    rows, cols = np.indices(reflectance.shape[1:])
    centre, radius = (px(700), px(2900)), px(250)
    core = np.hypot(rows - centre[0], cols - centre[1]) <= radius
    reflectance[:, core] = np.array(CLOUD, dtype=np.float32)[:, None]
    puff = (slice(px(680), px(720)), slice(px(1900), px(2020)))
    reflectance[:, puff[0], puff[1]] = np.array((0.30, 0.30, 0.30, 0.31))[:, None, None]
    red = (slice(px(1000), px(1025)), slice(px(2150), px(2300)))
    reflectance[:, red[0], red[1]] = np.array(RED_HULL)[:, None, None]
    scene = s2_scene(reflectance, seed=3)
    found = detect_vessels(scene)
    assert inside(found, scene, red).any() and inside(found, scene, ANCHORED).any()
    assert not inside(found, scene, puff).any()
    monkeypatch.setattr(clouds, "S2_FRAGMENT_NO_SCL_M", clouds.S2_SCL_FRAGMENT_M)
    assert inside(detect_vessels(scene), scene, puff).any()
