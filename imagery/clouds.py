"""Clouds and their shadows in Sentinel-2 scenes.

SCL (the L2A scene classification) is the first source, with two known faults: it
calls bright flat roofs and white container stacks "cloud", and it misses thin cloud
edges and haze. So small SCL cloud patches are dropped, large patches of spectrally flat
brightening are added (thick cloud on land, haze over water), and the result is grown
by a buffer, since cloud edges are fuzzy and shadows sit beside their clouds.

References
----------
Main-Knorn, M. et al. (2017). Sen2Cor for Sentinel-2. Proc. SPIE 10427, Image and
Signal Processing for Remote Sensing XXIII. https://doi.org/10.1117/12.2278218
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from imagery.grid import ground_pixel_size
from imagery.raster import Raster
from imagery.sensors import cloud_mask

__all__ = ["large_patches", "s2_clouds"]

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
#: Cloud edges are fuzzy and broken (detached puffs) and SCL's are loose: objects this
#: close to a cloud are dropped.
S2_CLOUD_BUFFER_M = 60.0


def large_patches(mask: np.ndarray, min_area_m2: float, pixel_m: float) -> np.ndarray:
    """``mask`` without its connected patches smaller than ``min_area_m2``."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    big = np.bincount(labels.ravel(), minlength=n + 1) * pixel_m * pixel_m >= min_area_m2
    big[0] = False
    return big[labels]


def s2_clouds(
    scene: Raster,
    *,
    water: np.ndarray | None = None,
    pixel_m: float | None = None,
    buffer_m: float | None = None,
) -> np.ndarray:
    """Boolean (row, col) cloud mask of a prepared S2 scene, dilated by ``buffer_m``
    (default ``S2_CLOUD_BUFFER_M``).

    The union of SCL's cloud, shadow and cirrus classes (when the scene has SCL; patches
    smaller than ``S2_SCL_MIN_AREA_M2`` are bright roofs and stacks, not cloud) and of
    patches of spectrally flat brightening (B08 step within half to one and a half
    times the B02 step) that are larger than any deck: thick cloud (B02 above
    ``S2_CLOUD_B02``) in patches of ``S2_CLOUD_MIN_AREA_M2`` on land, or of
    ``S2_HAZE_MIN_AREA_M2`` where they reach the ``water``; and over water, thin cloud
    and haze (B02 at least ``S2_HAZE_STEP`` above the water's median) in patches of
    ``S2_HAZE_MIN_AREA_M2``. SCL misses thin cloud edges, whose bright, fuzzy fragments
    would otherwise pass for hulls.
    """
    if pixel_m is None:
        pixel_m = float(np.mean(ground_pixel_size(scene.transform, scene.crs, scene.shape)))
    blue = np.nan_to_num(scene.band("B02"))
    nir = np.nan_to_num(scene.band("B08"))
    thick = (blue > S2_CLOUD_B02) & (nir < 1.5 * blue) & (nir > 0.5 * blue)
    clouds = large_patches(thick, S2_CLOUD_MIN_AREA_M2, pixel_m)
    if scene.has_band("SCL"):
        # SCL also calls bright flat roofs and white container stacks cloud: keep only
        # patches of cloud size.
        scl = cloud_mask(scene)
        large = large_patches(scl, S2_SCL_MIN_AREA_M2, pixel_m)
        # Broken cloud and its shadow come in fragments around the large patches: keep
        # small patches near large ones, drop the isolated ones.
        near = ndimage.binary_dilation(large, iterations=max(1, round(S2_SCL_FRAGMENT_M / pixel_m)))
        clouds |= large | (scl & near)
        if water is not None:
            # Over water SCL has no roofs to mistake: its small patches are cloud.
            clouds |= scl & ndimage.binary_dilation(water, iterations=2)
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
    if not clouds.any():
        return clouds
    buffer_m = S2_CLOUD_BUFFER_M if buffer_m is None else buffer_m
    return ndimage.binary_dilation(clouds, iterations=max(1, round(buffer_m / pixel_m)))
