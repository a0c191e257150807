"""S2 cargo: a stack of painted containers is cargo; a puff of cloud drifting over the
yards, grey in the visible and too small for a cloud mask, is a veil (no SCL here)."""

from __future__ import annotations

import dataclasses

import numpy as np
from s2_scenes import blurred_s2

from imagery.detect import DetectParams, detect_aligned
from imagery.raster import Raster

SIZE = 200
SHORE_COL = 40  # water west of it, paved yards east
#: Surface reflectance B02 B03 B04 B08.
WATER = (0.05, 0.045, 0.025, 0.012)
PAVEMENT = (0.10, 0.11, 0.12, 0.15)
RED_CONTAINERS = (0.06, 0.07, 0.20, 0.26)
STACK = (slice(50, 58), slice(100, 106))  # 80 m x 60 m
PUFF_CENTRE = (140, 120)
PUFF_SIGMA_PX = 4.0  # a puff about 150 m across with a soft edge
PUFF_PEAK = 0.18  # added to every band: cloud is white


def _ground(size: int = SIZE) -> np.ndarray:
    ground = np.empty((4, size, size), dtype=np.float64)
    ground[:] = np.array(PAVEMENT)[:, None, None]
    ground[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    return ground


def _puff() -> np.ndarray:
    rows, cols = np.mgrid[:SIZE, :SIZE]
    r2 = (rows - PUFF_CENTRE[0]) ** 2 + (cols - PUFF_CENTRE[1]) ** 2
    return PUFF_PEAK * np.minimum(2.0 * np.exp(-r2 / (2 * PUFF_SIGMA_PX**2)), 1.0)


def _pair() -> tuple[Raster, Raster]:
    before, after = _ground(), _ground()
    after[:, STACK[0], STACK[1]] = np.array(RED_CONTAINERS)[:, None, None]
    after += _puff()[None]
    return blurred_s2(before, 1, 1), blurred_s2(after, 11, 2)


def _cargo_at(params: DetectParams) -> tuple[bool, bool]:
    before, after = _pair()
    found = detect_aligned(before, after, params=params).detections
    cells = [
        (row, col)
        for col, row in (
            ~before.transform * (p.x, p.y)
            for p in found[found["kind"] == "cargo"].geometry.centroid
        )
    ]

    def near(row: float, col: float, px: float = 6.0) -> bool:
        return any(abs(r - row) <= px and abs(c - col) <= px for r, c in cells)

    return near(53.5, 102.5), near(*PUFF_CENTRE)


#: Every flag is kept, whatever its calibrated score: the veil test is what is tested.
ALL = DetectParams(min_score=0.0)


def test_painted_stack_is_cargo_and_a_cloud_puff_is_not():
    stack, puff = _cargo_at(ALL)
    assert stack and not puff


def test_without_the_veil_tests_the_puff_is_flagged():
    stack, puff = _cargo_at(dataclasses.replace(ALL, cargo_veil_step=0.0, cargo_haze_veil=False))
    assert stack and puff


def test_the_grey_veil_test_alone_takes_the_puff():
    # The puff lifts every band alike (white), B08 no more than B02: the haze test
    # takes it too; each test alone is enough.
    stack, puff = _cargo_at(dataclasses.replace(ALL, cargo_haze_veil=False))
    assert stack and not puff
    stack, puff = _cargo_at(dataclasses.replace(ALL, cargo_veil_step=0.0))
    assert stack and not puff


def test_a_grey_step_under_the_veil_threshold_is_not_a_grey_veil():
    """The puff's grey step (0.18 at its core) is under a threshold of 0.25: without the
    haze test it is flagged, as a stack of grey containers with a smaller step would be."""
    stack, puff = _cargo_at(dataclasses.replace(ALL, cargo_veil_step=0.25, cargo_haze_veil=False))
    assert stack and puff


def test_b11_on_one_date_only_is_left_out_of_the_pair():
    """A scene stored before B11 was downloaded, paired with a newer one: both dates are
    judged without the SWIR test, so the flags are those of a pair without B11."""
    before, after = _pair()
    swir = before.data[3:4] * 0.8  # B11 about as bright as B08 on pavement
    richer = before.replace(
        data=np.concatenate([before.data, swir]), band_names=(*before.band_names, "B11")
    )
    plain = detect_aligned(before, after, params=ALL)
    mixed = detect_aligned(richer, after, params=ALL)
    assert mixed.before.band_names == before.band_names
    assert plain.detections.drop(columns="geometry").equals(
        mixed.detections.drop(columns="geometry")
    )


#: A block of painted containers a little brighter than the pavement in the visible.
PAINTED_BLOCK = (0.08, 0.09, 0.22, 0.28)


def _removal_pair() -> tuple[Raster, Raster]:
    """A stack taken away: containers before, pavement after."""
    before, after = _ground(), _ground()
    before[:, STACK[0], STACK[1]] = np.array(PAINTED_BLOCK)[:, None, None]
    return blurred_s2(before, 1, 1), blurred_s2(after, 11, 2)


def test_a_stack_taken_away_is_not_new_cargo():
    """The optical change test has no direction: the removal changes the yard as much as
    the stack's arrival did. At 10 m the block is as smooth as pavement, so only the
    loss of its colour and edges tells that it left."""
    before, after = _removal_pair()
    found = detect_aligned(before, after, params=ALL).detections
    assert not (found["kind"] == "cargo").any()
    # The same change read the other way round (the stack set down) is cargo.
    reverse = detect_aligned(after, before, params=ALL).detections
    assert (reverse["kind"] == "cargo").sum() == 1


def test_without_the_gain_test_a_stack_taken_away_is_flagged():
    before, after = _removal_pair()
    off = dataclasses.replace(ALL, cargo_min_texture_gain=None)
    found = detect_aligned(before, after, params=off).detections
    centres = [
        ~before.transform * (p.x, p.y) for p in found[found["kind"] == "cargo"].geometry.centroid
    ]
    # On the block (rows 50-57, columns 100-105). The rim of the change, two pixels out,
    # where the change test's window reaches and the texture's does not, may come too.
    assert any(abs(row - 53.5) <= 1.0 and abs(col - 102.5) <= 1.0 for col, row in centres)


#: A yard of stacked containers beside open pavement: each 10 m pixel a mix of boxes.
YARD = (slice(70, 90), slice(90, 150))
NEW_STACK = (slice(92, 98), slice(112, 122))  # 60 m x 100 m, a lane of two pixels from the yard


def _churn_pair(size: int = SIZE) -> tuple[Raster, Raster]:
    """Between the dates the yard's stacks were raised and lowered (their shadows darken
    it by a third, colours unchanged) and a stack of red containers was set down on the
    pavement beside it."""
    palette = np.array(
        [
            (0.24, 0.25, 0.26, 0.30),  # white boxes
            (0.03, 0.035, 0.04, 0.06),  # the gaps between stacks, in shadow
            RED_CONTAINERS,
            (0.12, 0.09, 0.05, 0.14),  # blue boxes
        ]
    )
    pick = np.random.default_rng(5).integers(0, len(palette), (20, 60))
    before, after = _ground(size), _ground(size)
    before[:, YARD[0], YARD[1]] = np.moveaxis(palette[pick], -1, 0)
    after[:, YARD[0], YARD[1]] = 0.67 * before[:, YARD[0], YARD[1]]
    after[:, NEW_STACK[0], NEW_STACK[1]] = np.array(RED_CONTAINERS)[:, None, None]
    return blurred_s2(before, 1, 1), blurred_s2(after, 11, 2)


def _cargo_cells(params: DetectParams) -> list[tuple[float, float]]:
    before, after = _churn_pair()
    found = detect_aligned(before, after, params=params).detections
    return [
        (row, col)
        for col, row in (
            ~before.transform * (p.x, p.y)
            for p in found[found["kind"] == "cargo"].geometry.centroid
        )
    ]


def test_a_stack_set_down_beside_a_churning_yard_is_flagged_on_itself():
    """The yard's churn and the new stack are one change object at 10 m, centred in the
    yard; only the pixels that were open ground may form cargo, so the stack stands
    alone and its flag lies on it."""
    cells = _cargo_cells(ALL)
    assert any(abs(r - 94.5) <= 1.5 and abs(c - 116.5) <= 1.5 for r, c in cells)
    # The yard itself was not open ground: nothing is flagged inside it.
    assert not any(70 <= r < 90 and 90 <= c < 150 for r, c in cells)


def test_with_the_open_ground_test_off_the_flag_is_the_yard_and_the_stack_merged():
    """Every pixel open and no size limit: one flag, the yard and the stack together,
    centred in the yard."""
    everything = dataclasses.replace(
        ALL,
        cargo_max_before_texture=float("inf"),
        cargo_max_area_m2=float("inf"),
        cargo_max_length_m=float("inf"),
    )
    cells = _cargo_cells(everything)
    assert cells
    assert not any(abs(r - 94.5) <= 1.5 and abs(c - 116.5) <= 1.5 for r, c in cells)
    assert any(70 <= r < 90 and 90 <= c < 150 for r, c in cells)


def test_a_cloud_shadow_gone_from_a_yard_is_not_cut_into_stacks():
    """The before date had a cloud's shadow over 300 m x 400 m of yard crossed by busy
    lanes (no SCL to mask it): the shadow's change is one object too wide for a stack.
    Cut along the lanes, whose texture is not open ground, it would be strips of stack
    size."""
    region = (slice(100, 130), slice(60, 100))
    before, after = _ground(), _ground()
    lanes = np.zeros((SIZE, SIZE), dtype=bool)
    lanes[region[0].start : region[0].stop : 8, region[1]] = True
    traffic = np.where(np.indices((SIZE, SIZE)).sum(axis=0) % 2, 0.25, 0.04)
    for ground in (before, after):
        ground[:, lanes] = traffic[lanes]
    # Shadow keeps the blue skylight and loses the direct sun.
    before[:, region[0], region[1]] *= np.array([0.75, 0.55, 0.55, 0.55])[:, None, None]
    found = detect_aligned(blurred_s2(before, 1, 1), blurred_s2(after, 11, 2), params=ALL)
    assert not (found.detections["kind"] == "cargo").any()


def test_a_churn_object_is_cut_into_its_strong_stack_scale_parts():
    """A change object of a yard's churn holding a stack's strong change (peak score 9)
    beside a weaker hump (peak 5, a mean under the seed score of 4.5 once cut) is cut at
    the saddle between them: only the stack's part comes back."""
    from imagery.flags.cargo import _stack_parts
    from imagery.objects import label_objects, measure_objects

    grid = blurred_s2(_ground(), 1, 1)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    z = np.zeros((SIZE, SIZE))
    for (r, c), peak in (((80, 100), 9.0), ((80, 109), 5.0)):
        z += peak * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 3.0**2))
    labels, n = label_objects(z > ALL.cargo_grow_z)
    churn = measure_objects(labels, n, transform=grid.transform, crs=grid.crs)
    import geopandas as gpd

    churn = gpd.GeoDataFrame(churn, geometry="geometry", crs=grid.crs)
    assert len(churn) == 1 and churn["area_m2"].iloc[0] >= 2 * ALL.cargo_min_area_m2
    parts = _stack_parts(churn, z, grid, ALL)
    assert len(parts) == 1
    col, row = ~grid.transform * (
        parts.geometry.iloc[0].centroid.x,
        parts.geometry.iloc[0].centroid.y,
    )
    assert abs(row - 80) <= 2 and abs(col - 100) <= 3
    assert parts["z_mean"].iloc[0] >= ALL.cargo_z
    # Uncut, the object's mean score is the churn's, not the stack's.
    whole = measure_objects(labels, n, transform=grid.transform, crs=grid.crs, values={"z": z})
    assert whole["z_mean"].iloc[0] < parts["z_mean"].iloc[0]


#: Side of the scenes that may vouch for a clear sky (``CLOUDLESS_MIN_SIDE_M``, 3 km).
WIDE = 320


def test_a_pair_is_cloudless_only_where_a_wide_scene_shows_no_cloud():
    from imagery.flags.masks import pair_masks
    from imagery.water import water_mask

    before, after = _churn_pair(WIDE)
    clouded = after.data.copy()
    clouded[:4, 250:295, 240:295] += 0.45  # 450 m x 550 m of thick white cloud
    small = _churn_pair()  # 2 km: a cloud it does not hold may shade it
    for (first, second), cloudless in (
        ((before, after), True),
        ((before, after.replace(data=clouded)), False),
        (small, False),
    ):
        assert not second.has_band("SCL")
        masks = pair_masks(first, second, water_mask(first), ALL)
        assert masks.cloudless is cloudless


def test_a_small_cloud_s_shadow_gone_from_a_yard_is_cut_but_flags_nothing(monkeypatch):
    """A cumulus outside the scene (or too small for the masks) shaded 200 m x 300 m of a
    yard crossed by busy lanes on the before date; no SCL, and no cloud the masks see, so
    the pair counts as cloudless and its churn is cut. The parts are lanes under a shadow
    gone, no stacks set down on open ground: none is flagged."""
    import imagery.flags.cargo as cargo_module

    parts = []
    real = cargo_module._stack_parts

    def recorded(*args, **kwargs):
        found = real(*args, **kwargs)
        parts.append(len(found))
        return found

    monkeypatch.setattr(cargo_module, "_stack_parts", recorded)
    region = (slice(100, 120), slice(60, 90))
    before, after = _ground(WIDE), _ground(WIDE)
    lanes = np.zeros((WIDE, WIDE), dtype=bool)
    lanes[90:140:8, 50:110] = True
    traffic = np.where(np.indices((WIDE, WIDE)).sum(axis=0) % 2, 0.25, 0.04)
    for ground in (before, after):
        ground[:, lanes] = traffic[lanes]
    before[:, region[0], region[1]] *= np.array([0.75, 0.55, 0.55, 0.55])[:, None, None]
    found = detect_aligned(blurred_s2(before, 1, 1), blurred_s2(after, 11, 2), params=ALL)
    assert parts and sum(parts) > 0
    assert not (found.detections["kind"] == "cargo").any()


def test_churn_is_cut_into_stacks_without_scl_where_no_date_shows_a_cloud(monkeypatch):
    """Without SCL the yards' churn was cut into stacks only where SCL masked the clouds,
    lest a cloud's shadow come or gone be cut into stacks; where neither date shows any
    cloud there is no shadow to cut. An independent simulator's cloudless pair without
    SCL (``benchmarks/othersim.py``, seed 18): stacks set down among the churn are found
    only when it is cut."""
    from conftest import load_benchmark

    import imagery.detect as detect_module

    pair = load_benchmark("second_opinion").simulate(18, "s2", 512)
    assert not pair.before.has_band("SCL") and not pair.after.has_band("SCL")
    calls = []
    real = detect_module.cargo_flags

    def recorded(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(detect_module, "cargo_flags", recorded)
    result = detect_module.detect_pair(pair.before, pair.after, sensor="s2")
    ((args, kwargs),) = calls
    assert kwargs["cloudless"] is True
    stacks = list(pair.new_cargo.geometry.centroid)

    def found(flags) -> int:
        centres = list(flags.geometry.centroid)
        return sum(any(s.distance(c) <= 20.0 for c in centres) for s in stacks)

    uncut = found(real(*args, **{**kwargs, "cloudless": False}))
    cut = found(real(*args, **{**kwargs, "cloudless": True}))
    assert cut >= uncut + 2
    detected = result.detections
    assert found(detected[detected["kind"] == "cargo"]) >= uncut + 2
