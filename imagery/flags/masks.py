"""Where a pair is judged: each date's clouds, shadows and veils, and the water of
the pair's berths."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from imagery.clouds import change_veils, s2_cloud_shadows, s2_clouds
from imagery.flags.params import DetectParams
from imagery.raster import Raster
from imagery.sensors import SCL_CIRRUS, SCL_CLOUD_CLASSES, cloud_mask


@dataclasses.dataclass(frozen=True)
class PairMasks:
    """Where a pair's change may be judged, as boolean (row, col) masks on its grid.

    Attributes
    ----------
    usable : ndarray of bool
        Valid and clear on both dates (:func:`usable_mask`; S2 also off the veils of
        haze or thin cloud that came or went, ``imagery.clouds.change_veils``, and off
        SCL's cloud shadow on one date only, :func:`fleeting_shadow`): the ground's
        change (cargo) is judged here.
    seen : ndarray of bool
        Where a ship still shows on both dates (S2: also in a cloud's shadow or under
        cirrus).
    arrivals, departures : ndarray of bool
        Where a ship may be flagged as new (as departed): ``seen``, and on the date
        without the ship not in a cloud's shadow (:func:`imagery.clouds.s2_cloud_shadows`:
        SCL's, or found from the image without it) within ``shadow_shore_m`` of the
        land. There that date cannot say the berth was empty: the shadow dims the water
        and every quay edge, pier and moored barge alike, so they step between the dates
        as a ship arriving (leaving) would, and the single-scene search, in the dimmed
        scene, misses what would have vetoed them. Out on open water the shadow only
        dims the water, and a ship still stands out against it. S1: all equal to
        ``usable``.
    veiled : ndarray of bool
        S2: haze or thin cloud come or gone (``imagery.clouds.change_veils``, buffered),
        under which quay edges and piers step between the dates as a ship would; S1:
        nowhere.
    shadows : tuple of two ndarray of bool, or None
        S2: each date's cloud shadows (:func:`imagery.clouds.s2_cloud_shadows`, not
        grown), kept so that a scene without SCL need not search them again; S1: None.
    cloudless : bool
        S2: neither date shows any cloud, cloud shadow, haze or veil (every pixel valid
        on both dates is ``usable``) over a scene at least ``CLOUDLESS_MIN_SIDE_M`` on
        each side, so no shadow the masks missed is likely to come or go between them;
        S1: True. A smaller scene (a window, an AOI's corner of a clouded file) may lie in
        the shadow of a cloud it does not hold, or under cirrus the masks do not see
        without SCL, with clouds they would see just outside it.

    Arrivals at a quay and departures from it found from the change
    (:func:`imagery.flags.berths.berth_changes`) are sought on ``arrivals``
    (``departures``) off the veils: a ship in a cloud's shadow or under cirrus on its
    own date still steps above the water beside it, as a ship flagged from its own
    date's search does. Development pairs (seeds 100-131 and 300-339; they had been
    sought on ``usable``): new vessels 61 -> 66 and 96 -> 99 found, departures 48 -> 48
    and 64 -> 65, for two false departures more; an independent simulator's pairs the
    same flags.
    """

    usable: np.ndarray
    seen: np.ndarray
    arrivals: np.ndarray
    departures: np.ndarray
    veiled: np.ndarray
    shadows: tuple[np.ndarray, np.ndarray] | None = None
    cloudless: bool = True

    @property
    def berth_arrivals(self) -> np.ndarray:
        """Where :func:`imagery.flags.berths.berth_changes` seeks arrivals at a quay."""
        return self.arrivals & ~self.veiled

    @property
    def berth_departures(self) -> np.ndarray:
        """Where :func:`imagery.flags.berths.berth_changes` seeks departures from a quay."""
        return self.departures & ~self.veiled


#: Shortest side, metres, of a scene whose own masks may vouch that neither date is
#: clouded (:attr:`PairMasks.cloudless`): cumulus 1-2 km up cast their shadows 0.6-3.5 km
#: from them at sun elevations of 30-60 degrees.
CLOUDLESS_MIN_SIDE_M = 3000.0


def pair_masks(before: Raster, after: Raster, water: np.ndarray, params: DetectParams) -> PairMasks:
    """What a pair's change may be judged on (:class:`PairMasks`)."""
    if before.sensor != "s2":
        usable = usable_mask(before, after, cloud_buffer_m=params.cloud_buffer_m, water=water)
        return PairMasks(usable, usable, usable, usable, np.zeros_like(usable))
    shadows = tuple(s2_cloud_shadows(s, water=water) for s in (before, after))
    shadow_before, shadow_after = shadows
    usable = usable_mask(
        before, after, cloud_buffer_m=params.cloud_buffer_m, water=water, shadows=shadows
    )
    veiled = change_veils(before, after, buffer_m=params.cloud_buffer_m)
    usable &= ~veiled
    if before.has_band("SCL") and after.has_band("SCL"):
        fleeting = fleeting_shadow(shadow_before, shadow_after)
        if fleeting.any():
            buffer_px = _cloud_buffer_px(params, before.pixel_m)
            usable &= ~ndimage.binary_dilation(fleeting, iterations=buffer_px)
    seen = usable_mask(
        before, after, cloud_buffer_m=params.cloud_buffer_m, water=water, opaque=True
    )
    if shadow_before.any() or shadow_after.any():
        # Land, not the edge of the swath: a window of open sea has no shore to dim.
        land = ~water & before.valid_mask() & after.valid_mask()
        if land.any():
            near_shore = (
                ndimage.distance_transform_edt(~land) * before.pixel_m <= params.shadow_shore_m
            )
        else:
            near_shore = np.zeros_like(land)
        shadow_before = shadow_before & near_shore
        shadow_after = shadow_after & near_shore
    valid = before.valid_mask() & after.valid_mask()
    wide = min(before.shape) * before.pixel_m >= CLOUDLESS_MIN_SIDE_M
    cloudless = wide and int(np.count_nonzero(usable)) == int(np.count_nonzero(valid))
    return PairMasks(
        usable=usable,
        seen=seen,
        arrivals=seen & ~shadow_before,
        departures=seen & ~shadow_after,
        veiled=veiled,
        shadows=shadows,
        cloudless=cloudless,
    )


def cirrus_veil(
    before: Raster, after: Raster, excluded: np.ndarray, params: DetectParams
) -> np.ndarray:
    """S2: the ground of ``excluded`` (masked from the change, e.g. ``seen & ~usable``
    on land) that lies under SCL's thin cirrus on either date, away from its cloud and
    shadow classes on both: where the date's veil can be matched away
    (:func:`imagery.change.match_through_veil`). Both classes are grown by
    ``cloud_buffer_m``, as their masks are; all False without SCL on both dates or with
    ``cirrus_match_m`` 0.

    Sen2Cor calls cirrus wherever band 10 (1.375 um, absorbed by water vapour below the
    cirrus) is bright, over kilometres; the thin ice veil dims and brightens the ground
    smoothly, so masking it loses every stack set down under it. A cloud's edge or its
    shadow varies over tens of metres and stays masked.
    """
    if params.cirrus_match_m <= 0 or not (before.has_band("SCL") and after.has_band("SCL")):
        return np.zeros(before.shape, dtype=bool)
    buffer_px = _cloud_buffer_px(params, before.pixel_m)
    cirrus = cloud_mask(before, (SCL_CIRRUS,)) | cloud_mask(after, (SCL_CIRRUS,))
    if not cirrus.any():
        return cirrus
    other = [c for c in SCL_CLOUD_CLASSES if c != SCL_CIRRUS]
    cloud = cloud_mask(before, other) | cloud_mask(after, other)
    veil = excluded & ndimage.binary_dilation(cirrus, iterations=buffer_px)
    if cloud.any():
        veil &= ~ndimage.binary_dilation(cloud, iterations=buffer_px)
    return veil


def _cloud_buffer_px(params: DetectParams, pixel_m: float) -> int:
    """``params.cloud_buffer_m`` in whole pixels, at least one."""
    return max(1, round(params.cloud_buffer_m / pixel_m))


def fleeting_shadow(shadow_before: np.ndarray, shadow_after: np.ndarray) -> np.ndarray:
    """SCL's cloud shadow on one date and not the other, whatever its patch's size.

    ``shadow_before`` and ``shadow_after`` are each date's SCL cloud shadow
    (``cloud_mask(scene, (SCL_CLOUD_SHADOW,))``); both dates must carry SCL, since a
    date without it has no shadow to compare.

    :func:`imagery.clouds.s2_clouds` drops SCL patches under 1 ha away from larger
    ones, a rule written for SCL's bright classes, which roofs and white stacks enter.
    Its shadow class also holds small patches: the shadows of small clouds, often more
    than 300 m from any large patch, and dark ground (asphalt, dark roofs, a building's
    own shade), which Sen2Cor calls shadow on every date. A cloud's shadow moves with
    the cloud; dark ground stays. Where only one date is shadow, the ground under it
    dimmed to the sky's bluish diffuse light, and the change test took that for
    containers set down or taken away. Simulated S2 pairs, cargo false flags:
    development seeds 300-339 34 -> 22, 100-131 12 -> 11, an independent simulator's
    32 -> 29; no stack lost (``benchmarks/README.md``, session 21).

    Returns
    -------
    ndarray of bool, shape (row, col)
    """
    return shadow_before ^ shadow_after


def berth_water(water: np.ndarray, params: DetectParams, pixel_m: float) -> np.ndarray:
    """The water and the berths beside it (``params.berth_reach_m``): where a vessel of
    one date may have been open water on the other."""
    return ndimage.binary_dilation(water, iterations=max(1, round(params.berth_reach_m / pixel_m)))


def usable_mask(
    *scenes: Raster,
    cloud_buffer_m: float,
    water: np.ndarray | None = None,
    opaque: bool = False,
    shadows: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """Pixels valid on every date and, for S2, clear of clouds and shadows on every date
    (``imagery.clouds.s2_clouds``, grown by ``cloud_buffer_m``; with ``opaque``, of the
    clouds a ship cannot be seen through; ``shadows``, one per scene, as there)."""
    usable = np.logical_and.reduce([s.valid_mask() for s in scenes])
    known = list(shadows) if shadows is not None else [None] * len(scenes)
    for scene, shadow in zip(scenes, known, strict=True):
        if scene.sensor == "s2":
            usable &= ~s2_clouds(
                scene, water=water, buffer_m=cloud_buffer_m, opaque=opaque, shadows=shadow
            )
    return usable
