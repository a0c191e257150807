"""Clouds and their shadows in Sentinel-2 scenes.

SCL (the L2A scene classification) is the first source, with two known faults: it
calls bright flat roofs and white container stacks "cloud", and it misses thin cloud
edges and haze. So small SCL cloud patches are dropped, large patches of spectrally flat
brightening are added (thick cloud on land, haze over water), and the result is grown
by a buffer, since cloud edges are fuzzy and shadows sit beside their clouds. Puffs
detached from a cloud beyond that buffer are told from hulls by their colour
(:func:`cloud_fragments`). Without SCL, the clouds' shadows are found where their mask,
moved by one offset, darkens the ground most (:func:`cloud_shadows`).

References
----------
Main-Knorn, M. et al. (2017). Sen2Cor for Sentinel-2. Proc. SPIE 10427, Image and
Signal Processing for Remote Sensing XXIII. https://doi.org/10.1117/12.2278218

Zhu, Z., & Woodcock, C. E. (2012). Object-based cloud and cloud shadow detection in
Landsat imagery. Remote Sensing of Environment, 118, 83-94.
https://doi.org/10.1016/j.rse.2011.10.028

Bohren, C. F., & Huffman, D. R. (1983). Absorption and Scattering of Light by Small
Particles. Wiley.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from imagery.filters import block_sums, masked_box_mean, odd_window_px, overlap_slices
from imagery.objects import axis_shape, footprint_means, label_objects
from imagery.raster import Raster
from imagery.sensors import SCL_CLOUD_CLASSES, SCL_CLOUD_SHADOW, SCL_OPAQUE_CLASSES, cloud_mask

__all__ = [
    "change_veils",
    "cloud_fragments",
    "cloud_reach",
    "cloud_shadows",
    "large_patches",
    "s2_cloud_shadows",
    "s2_clouds",
    "ship_shaped",
]

#: Clouds without SCL: bright in the blue (thick cloud reflects over 0.25 in B02, which
#: a deck covers for a few pixels at most), spectrally flat (B08 < 1.5 B02, unlike
#: vegetation and most roofs) and in patches far larger than any ship.
S2_CLOUD_B02 = 0.25
S2_CLOUD_MIN_AREA_M2 = 150_000.0
#: Thin cloud and haze over water: a flat step of at least this much in B02 above the
#: water (reflectance), in patches larger than the largest deck (400 m x 60 m).
S2_HAZE_STEP = 0.04
S2_HAZE_MIN_AREA_M2 = 30_000.0
#: Isolated SCL cloud patches smaller than this (1 ha), farther than
#: ``S2_SCL_FRAGMENT_M`` from a larger one, are bright surfaces, not cloud.
S2_SCL_MIN_AREA_M2 = 10_000.0
S2_SCL_FRAGMENT_M = 300.0
#: Without SCL only the cores of thick cloud and broad haze are found (flat
#: brightening in large patches), and a cloud field's puffs and thin pieces lie farther
#: from them: :func:`cloud_reach` reaches this far instead. Seeds 300-339 stripped of
#: SCL, single scenes: of the false ships afloat, 7 lay within 300 m of the clouds found,
#: 49 at 300-600 m and 14 at 600-1000 m (true ships: 8, 6 and 13).
S2_FRAGMENT_NO_SCL_M = 900.0
#: A detached puff beside a cloud (:func:`cloud_fragments`) stands out of the water
#: around it by at most this many times as much in B08 as in B02 (cloud is white; a hull
#: replaces water, which is darkest in the near infrared, and steps more in B08).
S2_PUFF_MAX_RATIO = 1.5
#: The water around an object whose reflectance (or step) is the background of its own
#: (inner and outer distance from the footprint, ground metres): clear of the blurred
#: hull, close enough to share a veil over it.
FRAGMENT_RING_M = (20.0, 60.0)
#: Cloud edges are fuzzy and broken (detached puffs) and SCL's are loose: objects this
#: close to a cloud are dropped.
S2_CLOUD_BUFFER_M = 60.0
#: Sen2Cor also calls the brightest parts of a deck cloud. A small SCL patch over water
#: on a ship-shaped bright object (near-infrared step above the water of at least
#: ``S2_HULL_NIR_STEP``, at most ``S2_HULL_MAX_AREA_M2``, at least
#: ``S2_HULL_MIN_ELONGATION`` times longer than wide) is a ship, not cloud: cloud puffs
#: are round-ish and soft-edged, hulls long and sharp.
S2_HULL_NIR_STEP = 0.03
S2_HULL_MAX_AREA_M2 = 30_000.0
S2_HULL_MIN_ELONGATION = 2.5
#: Between two dates, cloud, haze and cloud shadow come and go as broad, soft changes of
#: the blue band (which they move most and ground cover least): a smoothed blue step of
#: at least ``S2_VEIL_BLUE_STEP`` over patches larger than ``S2_VEIL_MIN_AREA_M2``
#: (three times the largest stack) is a veil on one of the dates, not new ground.
S2_VEIL_BLUE_STEP = 0.03
S2_VEIL_MIN_AREA_M2 = 180_000.0
S2_VEIL_SMOOTH_M = 70.0
#: Cloud shadows without SCL (:func:`cloud_shadows`): the clouds' mask, moved by up to
#: ``S2_SHADOW_MAX_OFFSET_M`` in any direction (a cloud 2 km up under a sun 20 degrees
#: high), must cover ground at least ``S2_SHADOW_MIN_DARKENING`` darker than the
#: scene's own water or land, on average, and ``S2_SHADOW_MIN_CONTRAST`` times as dark
#: as under the median offset. The search runs on ``S2_SHADOW_BLOCK_M`` blocks; the
#: shadow found is grown by ``S2_SHADOW_GROW_M`` into ground at least
#: ``S2_SHADOW_MIN_DARKENING`` darker (a shadow's soft edge), and over ground joined to
#: it, within ``S2_SHADOW_EXTENT_M``, that is at least ``S2_SHADOW_EXTENT_DARKENING``
#: darker (the shadow of the cloud's thin parts, which the mask of thick cloud leaves
#: out). A full shadow keeps the sky's diffuse light, a fifth to two fifths of the
#: sunlit reflectance: 0.6-0.8 darker.
S2_SHADOW_MAX_OFFSET_M = 6000.0
S2_SHADOW_MIN_DARKENING = 0.2
S2_SHADOW_MIN_CONTRAST = 2.5
S2_SHADOW_BLOCK_M = 40.0
S2_SHADOW_GROW_M = 100.0
S2_SHADOW_EXTENT_DARKENING = 0.35
S2_SHADOW_EXTENT_M = 600.0
#: A shadow has the clouds' shape: moved twice the clouds' mean half-width further (in
#: any of eight directions), their mask must cover ground on average at most this
#: share as dark as at the darkest offset. A broad dark patch (clear water beside
#: turbid, a dark field) is as dark wherever the mask lies on it. Simulated shadows:
#: 0.38-0.74.
S2_SHADOW_MAX_SPREAD = 0.85


def _surrounded_by(mask: np.ndarray, where: np.ndarray, width_px: int = 2) -> np.ndarray:
    """The connected patches of ``mask`` whose surroundings (a ring ``width_px`` wide)
    lie mostly in ``where``: a patch out on the water, not one on the shore."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    grown = ndimage.grey_dilation(labels, size=2 * width_px + 1)
    ring = (grown > 0) & (labels == 0)
    inside = np.bincount(grown[ring & where], minlength=n + 1)
    total = np.bincount(grown[ring], minlength=n + 1)
    keep = 2 * inside > total
    keep[0] = False
    return keep[labels]


def large_patches(mask: np.ndarray, min_area_m2: float, pixel_m: float) -> np.ndarray:
    """``mask`` without its connected patches smaller than ``min_area_m2``."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    big = np.bincount(labels.ravel(), minlength=n + 1) * pixel_m * pixel_m >= min_area_m2
    big[0] = False
    return big[labels]


def ship_shaped(bright: np.ndarray, pixel_m: float) -> np.ndarray:
    """The connected patches of ``bright`` shaped like a hull seen from above: area at most
    ``S2_HULL_MAX_AREA_M2`` and length at least ``S2_HULL_MIN_ELONGATION`` times the width
    (second moments, :func:`imagery.objects.axis_shape`)."""
    labels, n = label_objects(bright)
    if n == 0:
        return np.zeros(bright.shape, dtype=bool)
    shape = axis_shape(labels, n, pixel_m)
    hull = (shape["count"] * pixel_m * pixel_m <= S2_HULL_MAX_AREA_M2) & (
        shape["length_m"] >= S2_HULL_MIN_ELONGATION * np.maximum(shape["width_m"], pixel_m)
    )
    hull[0] = False
    return hull[labels]


def change_veils(
    before: Raster,
    after: Raster,
    *,
    pixel_m: float | None = None,
    buffer_m: float = S2_CLOUD_BUFFER_M,
) -> np.ndarray:
    """Boolean (row, col): where cloud, haze or a cloud's shadow lies on one of two
    co-registered S2 dates, found from the pair alone (for scenes without SCL, and for
    the thin cloud SCL misses).

    The blue step between the dates, box-averaged over ``S2_VEIL_SMOOTH_M``, exceeds
    ``S2_VEIL_BLUE_STEP`` in either direction over a connected patch larger than
    ``S2_VEIL_MIN_AREA_M2``; the patch is grown by ``buffer_m``. The blue band is the
    one the atmosphere's veils move most and ground cover least (cloud reflectance is
    flat, haze scatters blue, shadowed ground loses its diffuse blue sky light), and a
    new stack of cargo is smaller than the patches. A broad change of the ground itself
    (a field ploughed) is masked too: nothing is flagged there, which costs little in
    a port's yards.
    """
    if pixel_m is None:
        pixel_m = before.pixel_m
    step = after.band("B02") - before.band("B02")
    valid = np.isfinite(step)
    size = odd_window_px(S2_VEIL_SMOOTH_M, pixel_m, minimum=3)
    smooth, _ = masked_box_mean(np.nan_to_num(step), valid, size, min_count=size)
    smooth = np.nan_to_num(smooth)
    veils = large_patches(smooth >= S2_VEIL_BLUE_STEP, S2_VEIL_MIN_AREA_M2, pixel_m)
    veils |= large_patches(smooth <= -S2_VEIL_BLUE_STEP, S2_VEIL_MIN_AREA_M2, pixel_m)
    if not veils.any() or buffer_m <= 0:
        return veils
    return ndimage.binary_dilation(veils, iterations=max(1, round(buffer_m / pixel_m)))


def _darkening(scene: Raster, clear: np.ndarray, water: np.ndarray | None) -> np.ndarray:
    """How much darker each pixel is than the median of its kind (water or land) over
    ``clear`` pixels, as a fraction in [0, 1] of that median (0 where not ``clear``).
    The mean of B02, B03, B04 and B08: a shadow takes the direct sunlight from every
    band, leaving the sky's diffuse light (a fifth to two fifths of it)."""
    bright = np.zeros(scene.shape, dtype=np.float32)
    for name in ("B02", "B03", "B04", "B08"):
        bright += np.nan_to_num(scene.band(name)).astype(np.float32, copy=False)
    bright /= 4.0
    dark = np.zeros(bright.shape, dtype=np.float32)
    kinds = (water, ~water) if water is not None else (np.ones(bright.shape, dtype=bool),)
    for kind in kinds:
        where = kind & clear
        if where.sum() < 100:
            continue
        reference = float(np.median(bright[where]))
        if reference <= 0:
            continue
        dark[where] = np.clip(1.0 - bright[where] / reference, 0.0, 1.0)
    return dark


def cloud_shadows(
    scene: Raster,
    clouds: np.ndarray,
    *,
    water: np.ndarray | None = None,
    pixel_m: float | None = None,
) -> np.ndarray:
    """Boolean (row, col): where the ``clouds`` of an S2 scene cast their shadow, found
    from the image alone (for scenes without SCL).

    Sunlight comes from one direction over a scene, so a field of cloud casts its shadow
    as a copy of itself moved by one offset, ``h / tan(elevation)`` along the sun's
    azimuth for clouds at height ``h`` (Fmask's geometric matching, Zhu & Woodcock
    2012, which searches heights along a known sun direction). Here the direction is
    not assumed: the mask of ``clouds`` is moved over every offset from two blocks to
    ``S2_SHADOW_MAX_OFFSET_M`` at once (a cross-correlation by FFT on
    ``S2_SHADOW_BLOCK_M`` blocks, so offsets are whole blocks) against how much darker
    the clear ground is than the median of its kind (water, land; :func:`_darkening`);
    offsets that leave less than 30 % of the moved mask on clear ground are not
    searched. The darkest offset is the shadow's when the ground under the moved mask
    is on average at least ``S2_SHADOW_MIN_DARKENING`` darker, ``S2_SHADOW_MIN_CONTRAST``
    times as dark as under the median offset, and with the mask moved on by twice the
    clouds' mean half-width the ground is at most ``S2_SHADOW_MAX_SPREAD`` times as
    dark (:func:`_spread`; a broad dark patch, such as clear water beside turbid, is as
    dark there). Its mask is then grown by ``S2_SHADOW_GROW_M`` into
    ground that dark, and over ground joined to it at least
    ``S2_SHADOW_EXTENT_DARKENING`` darker within ``S2_SHADOW_EXTENT_M`` (where the
    cloud's thin parts, not in ``clouds``, cast theirs). One offset serves the whole
    scene: a field of cumulus shares its condensation level. Clouds whose shadows fall
    outside the scene, or on ground no darker than the rest, give none; so does a cloud
    the search window (``S2_SHADOW_MAX_OFFSET_M``) holds without its shadow, when the
    windows of a tile are searched one by one. Without ``water`` the darkness of all
    ground is measured against one median, and water may read as shadowed land.

    Parameters
    ----------
    scene : Raster
        A prepared S2 scene (reflectance), with B02, B03, B04 and B08.
    clouds : ndarray of bool, shape (row, col)
        The scene's clouds, not grown by any buffer.
    water : ndarray of bool, optional
        The scene's water: its darkness is measured against the water's median, the
        land's against the land's.
    pixel_m : float, optional
        Ground pixel size in metres (the scene's by default).

    Returns
    -------
    ndarray of bool, shape (row, col)
        The shadow, outside ``clouds``.
    """
    shadow = np.zeros(clouds.shape, dtype=bool)
    if not clouds.any():
        return shadow
    if pixel_m is None:
        pixel_m = scene.pixel_m
    clear = np.isfinite(scene.band("B08")) & ~clouds
    dark = _darkening(scene, clear, water)
    block = max(1, round(S2_SHADOW_BLOCK_M / pixel_m))
    area = float(block * block)
    cloud_blocks = block_sums(clouds.astype(np.float32), block) / area
    dark_blocks = block_sums(dark, block) / area
    clear_blocks = block_sums(clear.astype(np.float32), block) / area
    kernel = cloud_blocks[::-1, ::-1]
    darkness = signal.fftconvolve(dark_blocks, kernel, mode="full")
    ground = signal.fftconvolve(clear_blocks, kernel, mode="full")
    # Offset (dr, dc) of the moved mask, in blocks, for each entry of the correlation.
    rows, cols = cloud_blocks.shape
    dr = np.arange(darkness.shape[0])[:, None] - (rows - 1)
    dc = np.arange(darkness.shape[1])[None, :] - (cols - 1)
    reach = np.hypot(dr, dc) * block * pixel_m
    searched = (reach <= S2_SHADOW_MAX_OFFSET_M) & (reach >= 2 * block * pixel_m)
    searched &= ground >= 0.3 * cloud_blocks.sum()
    if not searched.any():
        return shadow
    mean = np.where(searched, darkness / np.maximum(ground, 1e-9), -np.inf)
    best = np.unravel_index(int(np.argmax(mean)), mean.shape)
    peak = float(mean[best])
    typical = float(np.median(mean[searched]))
    if peak < S2_SHADOW_MIN_DARKENING or peak < S2_SHADOW_MIN_CONTRAST * max(typical, 0.0):
        return shadow
    if _spread(mean, best, clouds, block) > S2_SHADOW_MAX_SPREAD * peak:
        return shadow
    shift_r, shift_c = int(dr[best[0], 0]) * block, int(dc[0, best[1]]) * block
    moved = _moved(clouds, shift_r, shift_c)
    grow = max(1, round(S2_SHADOW_GROW_M / pixel_m))
    near = ndimage.binary_dilation(moved, iterations=grow)
    shadow = (moved | (near & (dark >= S2_SHADOW_MIN_DARKENING))) & ~clouds
    # The shadow of the cloud's thin parts, which the mask of thick cloud leaves out,
    # continues the shadow as ground still well darker than its kind, not far from it.
    labels, count = ndimage.label(dark >= S2_SHADOW_EXTENT_DARKENING)
    joined = np.zeros(count + 1, dtype=bool)
    joined[np.unique(labels[shadow])] = True
    joined[0] = False
    extent_blocks = max(1, round(S2_SHADOW_EXTENT_M / (block * pixel_m)))
    around = ndimage.binary_dilation(block_sums(moved, block) > 0, iterations=extent_blocks)
    around = np.repeat(np.repeat(around, block, axis=0), block, axis=1)[
        : clouds.shape[0], : clouds.shape[1]
    ]
    return (shadow | (joined[labels] & around)) & ~clouds


def _spread(mean: np.ndarray, best: tuple[int, int], clouds: np.ndarray, block: int) -> float:
    """The median darkness (``mean``, per offset in blocks) at eight offsets twice the
    clouds' mean half-width (twice their area over their perimeter: a disc's radius)
    from ``best``; -inf when none of them was searched."""
    perimeter = int(np.count_nonzero(clouds & ~ndimage.binary_erosion(clouds)))
    half_width = 2.0 * np.count_nonzero(clouds) / max(perimeter, 1)  # pixels; a disc's radius
    step = max(1, round(2.0 * half_width / block))
    around = []
    for angle in np.arange(8) * np.pi / 4.0:
        i = best[0] + round(step * np.sin(angle))
        j = best[1] + round(step * np.cos(angle))
        if 0 <= i < mean.shape[0] and 0 <= j < mean.shape[1] and np.isfinite(mean[i, j]):
            around.append(float(mean[i, j]))
    return float(np.median(around)) if around else -np.inf


def _moved(mask: np.ndarray, shift_r: int, shift_c: int) -> np.ndarray:
    """``mask`` moved by whole pixels (``shift_r`` down, ``shift_c`` right), False where
    nothing moved in."""
    out = np.zeros_like(mask)
    if abs(shift_r) >= mask.shape[0] or abs(shift_c) >= mask.shape[1]:
        return out
    dst, src = overlap_slices(mask.shape, -shift_r, -shift_c)
    out[dst] = mask[src]
    return out


def s2_cloud_shadows(
    scene: Raster, *, water: np.ndarray | None = None, pixel_m: float | None = None
) -> np.ndarray:
    """Boolean (row, col): the cloud shadows of an S2 scene, not grown by any buffer.

    SCL's cloud shadow class where the scene has SCL; else the shadows that
    :func:`cloud_shadows` finds for the clouds :func:`s2_clouds` finds without it.
    """
    if scene.has_band("SCL"):
        return cloud_mask(scene, (SCL_CLOUD_SHADOW,))
    clouds = s2_clouds(scene, water=water, pixel_m=pixel_m, buffer_m=0.0, opaque=True)
    return cloud_shadows(scene, clouds, water=water, pixel_m=pixel_m)


def s2_clouds(
    scene: Raster,
    *,
    water: np.ndarray | None = None,
    pixel_m: float | None = None,
    buffer_m: float | None = None,
    opaque: bool = False,
    shadows: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean (row, col) cloud mask of a prepared S2 scene, dilated by ``buffer_m``
    (default ``S2_CLOUD_BUFFER_M``).

    With ``opaque``, SCL's cloud shadow and thin cirrus are left out
    (:data:`imagery.sensors.SCL_OPAQUE_CLASSES`): what hides a ship, rather than what
    changes the ground's reflectance.

    The union of SCL's cloud, shadow and cirrus classes (when the scene has SCL; patches
    smaller than ``S2_SCL_MIN_AREA_M2`` are bright roofs and stacks, not cloud) and of
    patches of spectrally flat brightening (B08 step within half to one and a half
    times the B02 step) that are larger than any deck: thick cloud (B02 above
    ``S2_CLOUD_B02``) in patches of ``S2_CLOUD_MIN_AREA_M2`` on land, or of
    ``S2_HAZE_MIN_AREA_M2`` where they reach the ``water``; and over water, thin cloud
    and haze (B02 at least ``S2_HAZE_STEP`` above the water's median) in patches of
    ``S2_HAZE_MIN_AREA_M2``. SCL misses thin cloud edges, whose bright, fuzzy fragments
    would otherwise pass for hulls. Without SCL, and without ``opaque``, the mask also
    holds the shadows :func:`cloud_shadows` finds for those clouds, or ``shadows`` when
    given (:func:`s2_cloud_shadows` of the scene: they need not be searched again). A
    ``buffer_m`` of 0 grows nothing.
    """
    if pixel_m is None:
        pixel_m = scene.pixel_m
    blue = np.nan_to_num(scene.band("B02"))
    nir = np.nan_to_num(scene.band("B08"))
    thick = (blue > S2_CLOUD_B02) & (nir < 1.5 * blue) & (nir > 0.5 * blue)
    clouds = large_patches(thick, S2_CLOUD_MIN_AREA_M2, pixel_m)
    if scene.has_band("SCL"):
        # SCL also calls bright flat roofs and white container stacks cloud: keep only
        # patches of cloud size.
        scl = cloud_mask(scene, SCL_OPAQUE_CLASSES if opaque else SCL_CLOUD_CLASSES)
        large = large_patches(scl, S2_SCL_MIN_AREA_M2, pixel_m)
        # Broken cloud and its shadow come in fragments around the large patches: keep
        # small patches near large ones, drop the isolated ones.
        near = ndimage.binary_dilation(large, iterations=max(1, round(S2_SCL_FRAGMENT_M / pixel_m)))
        clouds |= large | (scl & near)
        if water is not None:
            # Over water SCL has no roofs to mistake: its small patches are cloud, except
            # those on a hull (Sen2Cor calls a bright deck cloud). A small patch on the
            # shore, land around it as much as water, is a roof or a stack.
            offshore = _surrounded_by(scl & ~large, water)
            if offshore.any() and (water & np.isfinite(scene.band("B08"))).any():
                nir = scene.band("B08")
                step = np.nan_to_num(nir) - float(np.nanmedian(nir[water]))
                bright = step >= S2_HULL_NIR_STEP
                # A berthed ship's deck merges with the quay when all bright pixels are
                # taken; on the water of either date it stands alone.
                offshore &= ~(ship_shaped(bright, pixel_m) | ship_shaped(bright & water, pixel_m))
            clouds |= offshore
    if water is not None and (water & np.isfinite(scene.band("B08"))).any():
        reference = water & np.isfinite(scene.band("B08"))
        step_blue = blue - float(np.median(blue[reference]))
        step_nir = nir - float(np.median(nir[reference]))
        flat = (step_nir >= 0.5 * step_blue) & (step_nir <= 1.5 * step_blue)
        haze = water & flat & (step_blue >= S2_HAZE_STEP)
        offshore = large_patches(thick | haze, S2_HAZE_MIN_AREA_M2, pixel_m)
        labels, n = ndimage.label(offshore)
        wet = np.zeros(n + 1, dtype=bool)
        near_water = ndimage.binary_dilation(
            water, iterations=max(1, round(S2_CLOUD_BUFFER_M / pixel_m))
        )
        wet[np.unique(labels[near_water & offshore])] = True
        wet[0] = False
        clouds |= wet[labels]
    if not opaque and not scene.has_band("SCL"):
        if shadows is None:
            shadows = cloud_shadows(scene, clouds, water=water, pixel_m=pixel_m)
        clouds |= shadows
    if not clouds.any():
        return clouds
    buffer_m = S2_CLOUD_BUFFER_M if buffer_m is None else buffer_m
    if buffer_m <= 0:
        return clouds
    return ndimage.binary_dilation(clouds, iterations=max(1, round(buffer_m / pixel_m)))


def cloud_reach(
    scene: Raster, water: np.ndarray, *, shadows: np.ndarray | None = None
) -> np.ndarray:
    """Where broken cloud may lie in an S2 scene, as a boolean (row, col) mask: within
    ``S2_SCL_FRAGMENT_M`` of its clouds (:func:`s2_clouds`: SCL's cloud, cirrus and
    shadow classes, and the patches of flat brightening; ``shadows`` as there), grown a
    pixel at a time (so 300 m along rows and columns, about 210 m diagonally); without
    SCL, within ``S2_FRAGMENT_NO_SCL_M``."""
    reach_m = S2_SCL_FRAGMENT_M if scene.has_band("SCL") else S2_FRAGMENT_NO_SCL_M
    return s2_clouds(scene, water=water, buffer_m=reach_m, shadows=shadows)


def cloud_fragments(
    frame,
    steps: dict[str, np.ndarray],
    water: np.ndarray,
    reach: np.ndarray,
    grid: Raster,
) -> np.ndarray:
    """Which objects of ``frame`` (polygons on ``grid``) are detached puffs of cloud,
    not hulls: a boolean array, one per row.

    A cumulus field comes with puffs that SCL leaves unmarked, some ship-sized and
    elongated. Cloud droplets are much larger than the wavelengths of B02-B08 and
    scatter them alike (a cloud is white), so a puff over the sea brightens the blue
    about as much as the near infrared. A hull replaces water, which is darkest in the
    near infrared, with paint or steel, which is not, and most hulls step more in B08
    than in B02. An object is a puff when it lies within ``reach`` (:func:`cloud_reach`)
    and its mean ``steps["B02"]`` is positive and its mean ``steps["B08"]`` at most
    ``S2_PUFF_MAX_RATIO`` times that, each less the mean over the water in a ring
    ``FRAGMENT_RING_M`` around it: a veil over the ship (cirrus, haze) lies over that
    water too. An object with no water in its ring is left undecided (kept). ``steps``
    are the change from the date without the object to the date with it (a pair) or
    the scene's own reflectance (one scene).

    Measured: on simulated development pairs the ships flagged within 300 m of a cloud
    stepped 1.25 times as much in B08 as in B02 or more, the puffs flagged there
    0.7-1.4 times (the two overlap); on the real sen2ships ports 9 of 102 annotated
    ships step at most 1.5 times as much in B08 as in B02 over the water (white, grey
    and blue hulls, dark hulls in Honolulu), and those would be lost within reach of a
    cloud, as are hulls of any colour under a veil that the ring does not cancel.

    References
    ----------
    Bohren, C. F., & Huffman, D. R. (1983). Absorption and Scattering of Light by Small
    Particles. Wiley. (Droplets of 5-20 um scatter visible and near-infrared light
    alike.)
    """
    if frame.empty or not reach.any():
        return np.zeros(len(frame), dtype=bool)
    means = footprint_means(
        frame, {"B02": steps["B02"], "B08": steps["B08"], "reach": reach.astype(np.float32)}, grid
    )
    # Ground metres to the grid's units (an EPSG:3857 scene's are not metres).
    units = abs(grid.transform.a) / grid.pixel_m
    inner, outer = (d * units for d in FRAGMENT_RING_M)
    ring = frame.set_geometry(frame.geometry.buffer(outer).difference(frame.geometry.buffer(inner)))
    around = footprint_means(
        ring, {name: np.where(water, steps[name], np.nan) for name in ("B02", "B08")}, grid
    )
    blue = means["B02"] - around["B02"]
    nir = means["B08"] - around["B08"]
    with np.errstate(invalid="ignore"):  # NaN (no water around, no data): undecided
        flat = (blue > 0) & (nir <= S2_PUFF_MAX_RATIO * blue) & (means["reach"] > 0)
    return np.asarray(flat, dtype=bool)
