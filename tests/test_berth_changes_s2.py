"""S2 ships that moored at (or left) a quay, found from the change they brought: a grey
deck alongside a grey quay merges with it in a single scene, but it was water before.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pytest
from s2_scenes import blurred_s2, with_scl
from scipy import ndimage

from imagery.change import s2_change
from imagery.detect import DetectParams, detect_aligned
from imagery.errors import InputError
from imagery.flags.berths import berth_changes
from imagery.flags.evidence import change_objects
from imagery.flags.masks import pair_masks
from imagery.flags.params import PAIR_VESSEL_PARAMS
from imagery.raster import Raster
from imagery.sensors import SCL_CLOUD_SHADOW
from imagery.water import water_mask

SIZE = 200
SHORE_COL = 100  # water west of it, quay and yards east
#: Surface reflectance B02 B03 B04 B08.
WATER = (0.05, 0.045, 0.025, 0.012)
QUAY = (0.10, 0.11, 0.12, 0.15)
DECK = (0.09, 0.10, 0.11, 0.14)  # a grey hull, as bright as the quay
SHIP = (slice(40, 56), slice(SHORE_COL - 3, SHORE_COL))  # 160 m x 30 m, touching the quay


def _port(*, ship: bool = False) -> np.ndarray:
    ground = np.empty((4, SIZE, SIZE), dtype=np.float64)
    ground[:] = np.array(QUAY)[:, None, None]
    ground[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    if ship:
        ground[:, SHIP[0], SHIP[1]] = np.array(DECK)[:, None, None]
    return ground


def _vessels(before: Raster, after: Raster, layer: str = "detections", **params):
    result = detect_aligned(before, after, params=DetectParams(min_score=0.0, **params))
    flags = getattr(result, layer)
    if layer == "detections":
        flags = flags[flags["kind"] == "vessel"]
    return [~before.transform * (p.x, p.y) for p in flags.geometry.centroid]


def _at_the_berth(points) -> int:
    return sum(38 <= row <= 58 and SHORE_COL - 6 <= col <= SHORE_COL + 2 for col, row in points)


def _search(before: Raster, after: Raster, sign: float = 1.0, *, water=None, **options):
    if water is None:
        water = water_mask(before) | water_mask(after)
    usable = before.valid_mask() & after.valid_mask()
    change = s2_change(before, after, strata=water, usable=usable)
    none = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=before.crs), crs=before.crs)
    params = DetectParams(**options)
    found = berth_changes(
        change, before, water, usable, none, none, params, sign=sign, scenes=(before, after)
    )
    return [~before.transform * (p.x, p.y) for p in found.geometry.centroid], found


def test_a_ship_moored_along_the_quay_is_an_arrival():
    before, after = blurred_s2(_port(), 1, 1), blurred_s2(_port(ship=True), 11, 2)
    points, found = _search(before, after)
    assert len(points) == 1 and _at_the_berth(points) == 1
    ship = found.iloc[0]
    assert 120 <= ship.length_m <= 220 and abs(((ship.heading_deg + 90) % 180) - 90) < 20
    assert ship.kind == "vessel" and 0 < ship.score <= 1
    assert _search(before, after, sign=-1.0)[0] == []  # it arrived, it did not leave
    assert _at_the_berth(_vessels(before, after)) == 1  # once in the pair pipeline


@pytest.mark.parametrize("seed", [2, 5])
def test_a_ship_moored_in_a_clouds_shadow_on_its_own_date_is_an_arrival(seed):
    # A cloud's shadow (SCL) over the berth on the after date only: the ship, dimmed with
    # the water beside it, still steps above that water. Only the date without the ship
    # in shadow could not tell (tests/test_shadow_s2.py). The berth search looked only at
    # ground clear on both dates (``usable``), which leaves out a shadow on one date.
    shadow = (slice(33, 63), slice(75, 115))  # 12 ha: a small cumulus's, not a veil's
    ground = _port(ship=True)
    ground[:, shadow[0], shadow[1]] *= 0.4  # diffuse light only
    before = with_scl(blurred_s2(_port(), 1, seed), SHORE_COL)
    after = with_scl(blurred_s2(ground, 11, seed + 1), SHORE_COL, {SCL_CLOUD_SHADOW: shadow})
    water = water_mask(before) | water_mask(after)
    params = DetectParams()
    masks = pair_masks(before, after, water, params)
    assert not masks.usable[SHIP].any() and masks.berth_arrivals[SHIP].all()
    change = s2_change(before, after, strata=water, usable=masks.usable, extent=masks.seen)
    none = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=before.crs), crs=before.crs)
    found = berth_changes(
        change, before, water, masks.berth_arrivals, none, none, params, scenes=(before, after)
    )
    assert _at_the_berth([~before.transform * (p.x, p.y) for p in found.geometry.centroid]) == 1
    assert _at_the_berth(_vessels(before, after)) == 1  # once in the pair pipeline


def test_the_same_ship_leaving_is_a_departure():
    before, after = blurred_s2(_port(ship=True), 1, 1), blurred_s2(_port(), 11, 2)
    assert _at_the_berth(_search(before, after, sign=-1.0)[0]) == 1
    assert _at_the_berth(_vessels(before, after, "departed")) == 1
    assert _at_the_berth(_vessels(before, after)) == 0


def test_only_seeds_of_two_by_two_pixels_start_a_change_object():
    # A line of single pixels of strong change (the mixed pixels of a shoreline shifted
    # by a fraction of a pixel) starts no object, whether or not a solid one lies
    # elsewhere in the image: what a window finds must not depend on its neighbours.
    grid = blurred_s2(_port(), 1, 1)
    z = np.zeros(grid.shape)
    z[np.arange(20, 60), np.arange(30, 70)] = 30.0  # a diagonal line, one pixel wide
    domain = np.ones(grid.shape, dtype=bool)
    assert change_objects(z, domain, grid, seed_z=4.5, grow_z=2.5)[0].empty
    z[150:154, 150:160] = 30.0  # a solid change elsewhere
    frame, grown = change_objects(z, domain, grid, seed_z=4.5, grow_z=2.5)
    assert len(frame) == 1 and not grown[20:60, 30:70].any()


def test_sentinel2_search_needs_both_scenes():
    before, after = blurred_s2(_port(), 1, 1), blurred_s2(_port(ship=True), 11, 2)
    water = water_mask(before) | water_mask(after)
    change = s2_change(before, after, strata=water)
    none = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=before.crs), crs=before.crs)
    with pytest.raises(InputError, match="scenes"):
        berth_changes(change, before, water, before.valid_mask(), none, none, DetectParams())


def test_a_ship_one_pixel_wide_is_an_arrival():
    # A 10 m wide hull alongside the quay is one column of pixels at 10 m: the seeds of
    # its change are a line, which a square opening would remove.
    ground = _port()
    ground[:, 120:128, SHORE_COL - 1] = np.array(DECK)[:, None]
    before, after = blurred_s2(_port(), 1, 1), blurred_s2(ground, 11, 2)
    points, found = _search(before, after)
    assert [(round(c), round(r)) for c, r in points if 116 <= r <= 132] and len(points) == 1
    assert 50 <= found.iloc[0].length_m <= 110


def _jetty(shift_px: float = 0.0) -> np.ndarray:
    """The port with a 250 m jetty, the image moved ``shift_px`` pixels east."""
    ground = _port()
    ground[:, 90:115, SHORE_COL - 20 : SHORE_COL] = np.array(QUAY)[:, None, None]
    return ndimage.shift(ground, (0.0, 0.0, shift_px), order=1, mode="nearest")


def test_a_quay_face_left_misregistered_by_0_2_pixel_is_not_a_ship():
    # Its first pixel of water brightens along the jetty's whole face (250 m, one pixel
    # wide): as long as a ship and as thin as a narrow one, explained by the shift.
    before = blurred_s2(_jetty(), 1, 1, blur_px=0.3)
    after = blurred_s2(_jetty(-0.2), 11, 2, blur_px=0.3)
    assert _search(before, after)[0] == []
    points = _search(before, after, berth_registration_px=0.0)[0]
    assert any(88 <= r <= 117 and SHORE_COL - 24 <= c <= SHORE_COL - 18 for c, r in points)


def test_water_beside_a_quay_is_averaged_over_water_only():
    # The yards brightened 30 % between the passes (the sun, the season); the water did
    # not change. A window over the shoreline must not carry the land's change into the
    # water's far smaller noise scale (sharp images: no light crosses the shoreline).
    brighter = _port()
    brighter[:, :, SHORE_COL:] *= 1.3
    before = blurred_s2(_port(), 1, 1, blur_px=0)
    after = blurred_s2(brighter, 11, 2, blur_px=0)
    water = np.zeros(before.shape, dtype=bool)
    water[:, :SHORE_COL] = True
    change = s2_change(before, after, strata=water)
    assert np.nanmedian(change.z[5:-5, SHORE_COL - 1]) < 1.0


#: Whitewater: bright in the visible, less so in the near infrared, which the water
#: within the foam absorbs.
FOAM = (0.30, 0.30, 0.28, 0.15)
#: Thinner whitewater over stirred-up water: its B08 step 0.7 of its B03 step, within
#: foam's measured 0.5-0.8 (Frouin et al. 1996), where a ship's is above 1.
THIN_FOAM = (0.30, 0.30, 0.28, 0.19)


@pytest.mark.parametrize(
    ("foam", "ratio_that_passes_it"),
    [
        (FOAM, 0.0),  # the same strip read without the foam test is a departure
        (THIN_FOAM, 0.6),  # at the old ratio, the middle of foam's range, it was one
    ],
)
def test_surf_along_the_shore_gone_by_the_second_pass_is_not_a_departure(
    foam, ratio_that_passes_it
):
    surf = _port()
    surf[:, SHIP[0], SHIP[1]] = np.array(foam)[:, None, None]
    before, after = blurred_s2(surf, 1, 1), blurred_s2(_port(), 11, 2)
    assert _search(before, after, sign=-1.0)[0] == []
    assert _at_the_berth(_vessels(before, after, "departed")) == 0
    passes = dataclasses.replace(PAIR_VESSEL_PARAMS, s2_foam_ratio=ratio_that_passes_it)
    assert _at_the_berth(_search(before, after, sign=-1.0, vessel=passes)[0]) == 1


def _with_b11(scene: Raster, b11: np.ndarray, seed: int) -> Raster:
    rng = np.random.default_rng(seed)
    swir = ndimage.gaussian_filter(b11, 0.6) + rng.normal(0.0, 0.002, b11.shape)
    return scene.replace(
        data=np.concatenate([scene.data, swir[None].astype(np.float32)]),
        band_names=(*scene.band_names, "B11"),
    )


def test_a_hull_step_dark_at_1_6_um_is_not_a_departure():
    # A strip along the quay that brightened B08 like a grey deck on the first date but
    # not B11 (a shoal or foam under the surface; water is black at 1.6 um) left by
    # the second: not a ship. The same strip bright in B11 too is one.
    b11_quay = np.full((SIZE, SIZE), 0.003)
    b11_quay[:, SHORE_COL:] = 0.2
    hull_b11 = b11_quay.copy()
    hull_b11[SHIP] = 0.12
    for strip_b11, departed in ((b11_quay, 0), (hull_b11, 1)):
        before = _with_b11(blurred_s2(_port(ship=True), 1, 1), strip_b11, 1)
        after = _with_b11(blurred_s2(_port(), 11, 2), b11_quay, 2)
        assert _at_the_berth(_search(before, after, sign=-1.0)[0]) == departed


@pytest.mark.parametrize(
    ("swir_per_nir", "departed_by_default", "departed_at_old_ratio"),
    [
        (0.22, 0, 1),  # whitewater: B11 about a quarter of B08 (Frouin et al. 1996)
        (0.6, 1, 1),  # a hull, B11 lowered by its 20 m pixels on a narrow beam
    ],
)
def test_a_step_with_a_quarter_of_its_b08_at_1_6_um_is_whitewater_not_a_departure(
    swir_per_nir, departed_by_default, departed_at_old_ratio
):
    # Surf on a breakwater, white in the visible and as bright in B08 as a grey deck,
    # gone by the second pass: its B11 step is a quarter of its B08 step, which the old
    # ratio (0.15) let through; a hull's is half or more.
    b11_quay = np.full((SIZE, SIZE), 0.003)
    b11_quay[:, SHORE_COL:] = 0.2
    strip_b11 = b11_quay.copy()
    strip_b11[SHIP] = 0.003 + swir_per_nir * (DECK[3] - WATER[3])
    before = _with_b11(blurred_s2(_port(ship=True), 1, 1), strip_b11, 1)
    after = _with_b11(blurred_s2(_port(), 11, 2), b11_quay, 2)
    assert _at_the_berth(_search(before, after, sign=-1.0)[0]) == departed_by_default
    old = dataclasses.replace(PAIR_VESSEL_PARAMS, s2_min_swir_ratio=0.15)
    assert _at_the_berth(_search(before, after, sign=-1.0, vessel=old)[0]) == departed_at_old_ratio


def _surf_port(*, whitewater: bool) -> np.ndarray:
    # Surf is uneven: beside the whitewater, a band of thin foam over sediment the waves
    # stirred up lifts B08 as a grey deck does (suspended sediment is bright in the red
    # and near infrared), and alone it passes for a hull.
    scene = _port()
    stirred = np.array(WATER) + 0.6 * (np.array(DECK) - np.array(WATER))
    scene[:, 57:67, SHORE_COL - 3 : SHORE_COL] = stirred[:, None, None]
    if whitewater:
        scene[:, 40:55, SHORE_COL - 3 : SHORE_COL] = np.array(FOAM)[:, None, None]
    return scene


def _in_the_band(points) -> int:
    return sum(55 <= row <= 69 and SHORE_COL - 6 <= col <= SHORE_COL + 2 for col, row in points)


def test_a_band_beside_whitewater_gone_by_the_second_pass_is_not_a_departure():
    after = blurred_s2(_port(), 11, 2)
    alone = blurred_s2(_surf_port(whitewater=False), 1, 1)
    assert _in_the_band(_vessels(alone, after, "departed")) == 1
    surf = blurred_s2(_surf_port(whitewater=True), 1, 1)
    # The berth search alone still finds the band (it is not merged with the foam);
    # the pair drops it for lying in the surf zone of the first date.
    assert _in_the_band(_search(surf, after, sign=-1.0)[0]) == 1
    assert _in_the_band(_vessels(surf, after, "departed")) == 0


def _oil_jetty(*, tanker: bool) -> np.ndarray:
    """A quay on the west, a 12 m trestle running 1 km out to an 80 m x 30 m loading
    platform, and, when ``tanker``, a 240 m x 40 m tanker moored along the platform."""
    ground = np.empty((4, 300, 300), dtype=np.float64)
    ground[:] = np.array(WATER)[:, None, None]
    ground[:, :, :40] = np.array(QUAY)[:, None, None]
    ground[:, 150, 40:140] = np.array(QUAY)[:, None]
    ground[:, 146:154, 140:143] = np.array(QUAY)[:, None, None]
    if tanker:
        ground[:, 138:162, 143:147] = np.array(DECK)[:, None, None]
    return ground


def test_a_tanker_moored_at_a_jetty_head_is_an_arrival_and_then_a_departure():
    """The trestle is water to the mask and bright: it used to join tanker, platform and
    trestle into one object a kilometre long, neither found nor flagged."""
    before, after = (
        blurred_s2(_oil_jetty(tanker=False), 1, 1),
        blurred_s2(_oil_jetty(tanker=True), 11, 2),
    )

    def at_the_head(points) -> int:
        return sum(136 <= row <= 164 and 140 <= col <= 149 for col, row in points)

    arrivals = _vessels(before, after)
    assert len(arrivals) == 1 and at_the_head(arrivals) == 1
    departures = _vessels(after, before, layer="departed")
    assert len(departures) == 1 and at_the_head(departures) == 1
