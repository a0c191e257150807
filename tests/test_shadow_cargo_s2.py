"""S2 cargo under a small cloud's shadow: the yard it darkens is not new cargo when SCL
marks it on that date only, however small the patch; a stack of painted containers set
down beside it is."""

from __future__ import annotations

import numpy as np
from s2_scenes import blurred_s2
from test_cargo_s2 import RED_CONTAINERS, SHORE_COL, SIZE, STACK, WATER

from imagery.detect import DetectParams, detect_aligned
from imagery.raster import Raster
from imagery.sensors import SCL_CLOUD_SHADOW, SCL_WATER

#: Neutral grey concrete (B02 B03 B04 B08): the bluish shadow makes it more colourful.
PAVEMENT = (0.11, 0.11, 0.11, 0.14)
#: The shadow of a cloud puff some 60 m across, 0.36 ha: under SCL's 1 ha patch size
#: and more than 300 m from any larger patch. In it the ground keeps the diffuse
#: skylight only, which is bluer than the sun's direct beam.
SHADOW = (slice(130, 136), slice(110, 116))
SHADOW_FACTOR = (0.50, 0.42, 0.38, 0.30)
LAND_SCL = 5


def _with_scl(scene: Raster, shadow: tuple[slice, slice] | None) -> Raster:
    scl = np.full(scene.shape, LAND_SCL, dtype=np.float32)
    scl[:, :SHORE_COL] = SCL_WATER
    if shadow is not None:
        scl[shadow] = SCL_CLOUD_SHADOW
    return scene.replace(
        data=np.concatenate([scene.data, scl[None]]), band_names=(*scene.band_names, "SCL")
    )


def _pair(*, marked: bool) -> tuple[Raster, Raster]:
    before = np.empty((4, SIZE, SIZE), dtype=np.float64)
    before[:] = np.array(PAVEMENT)[:, None, None]
    before[:, :, :SHORE_COL] = np.array(WATER)[:, None, None]
    after = before.copy()
    after[:, STACK[0], STACK[1]] = np.array(RED_CONTAINERS)[:, None, None]
    after[:, SHADOW[0], SHADOW[1]] *= np.array(SHADOW_FACTOR)[:, None, None]
    return (
        _with_scl(blurred_s2(before, 1, 1), None),
        _with_scl(blurred_s2(after, 11, 2), SHADOW if marked else None),
    )


def _cargo_near(frame, grid: Raster, where: tuple[slice, slice], margin: float = 4.0) -> int:
    rows, cols = where
    count = 0
    for point in frame[frame["kind"] == "cargo"].geometry.centroid:
        col, row = ~grid.transform * (point.x, point.y)
        count += (rows.start - margin <= row <= rows.stop + margin) and (
            cols.start - margin <= col <= cols.stop + margin
        )
    return count


def test_a_small_cloud_shadow_marked_by_scl_is_not_cargo():
    before, after = _pair(marked=True)
    found = detect_aligned(before, after, params=DetectParams(min_score=0.0)).detections
    assert _cargo_near(found, before, SHADOW) == 0
    assert _cargo_near(found, before, STACK) == 1


def test_the_same_shadow_unmarked_passes_for_a_stack():
    # What tells the shadow from painted containers here is SCL alone: darker in every
    # band, bluer, on smooth ground, it passes the change test and the empty-ground test.
    before, after = _pair(marked=False)
    found = detect_aligned(before, after, params=DetectParams(min_score=0.0)).detections
    assert _cargo_near(found, before, SHADOW) == 1
    assert _cargo_near(found, before, STACK) == 1


def test_only_scl_shadow_on_one_date_is_left_out_of_the_change():
    # Sen2Cor also calls dark ground shadow, on every date: that is judged.
    from imagery.flags.masks import pair_masks

    dark_ground = (slice(20, 24), slice(150, 154))

    def with_dark_ground(scene: Raster) -> Raster:
        scl = scene.band("SCL").copy()
        scl[dark_ground] = SCL_CLOUD_SHADOW
        return scene.replace(data=np.concatenate([scene.data[:4], scl[None]]))

    before, after = (with_dark_ground(s) for s in _pair(marked=True))
    water = np.zeros(before.shape, dtype=bool)
    water[:, :SHORE_COL] = True
    usable = pair_masks(before, after, water, DetectParams(cloud_buffer_m=10.0)).usable
    assert not usable[SHADOW].any()
    assert usable[dark_ground].all()


def test_a_date_without_scl_has_no_shadow_to_compare():
    # A scene stored without SCL, paired with one that has it: the other date's small
    # shadow patches are not all taken for shadows come or gone.
    from imagery.flags.masks import pair_masks

    before, after = _pair(marked=True)
    before = before.replace(data=before.data[:4], band_names=before.band_names[:4])
    water = np.zeros(after.shape, dtype=bool)
    water[:, :SHORE_COL] = True
    usable = pair_masks(before, after, water, DetectParams(cloud_buffer_m=10.0)).usable
    assert usable[SHADOW].all()
