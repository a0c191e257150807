"""Spectral indices of Sentinel-2 L2A surface reflectance."""

from __future__ import annotations

import numpy as np

from imagery.raster import Raster

__all__ = ["BLUE_MARGIN", "green_vegetation", "leaf_ndvi"]

#: Reflectance by which B02 must exceed B03 for a pixel of high NDVI to be paint, not
#: leaves: about the blue aerosol residual of L2A.
BLUE_MARGIN = 0.01


def leaf_ndvi(blue: np.ndarray, green: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDVI (Tucker 1979), set to -1 where B02 exceeds B03 by more than ``BLUE_MARGIN``.

    Chlorophyll absorbs blue and red light and reflects green, so in surface reflectance
    leaves are brighter in B03 than in B02 (Gates et al. 1965). NDVI alone also takes
    paint whose blue pigment reflects the near infrared, as copper phthalocyanine does
    (Prussian blue does not): a blue hull or stack of containers would pass for leaves.
    The margin allows for aerosol left after atmospheric correction and for the
    skylight in shade, which lift B02 over dark canopy. NaN where B04 or B08 is NaN or
    both are 0 (no data), and left so.

    References
    ----------
    Tucker, C. J. (1979). Red and photographic infrared linear combinations for
    monitoring vegetation. Remote Sensing of Environment 8(2), 127-150.
    Gates, D. M., Keegan, H. J., Schleter, J. C., Weidner, V. R. (1965). Spectral
    properties of plants. Applied Optics 4(1), 11-20.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    with np.errstate(invalid="ignore"):
        ndvi[(blue > green + BLUE_MARGIN) & ~np.isnan(ndvi)] = -1.0
    return ndvi


def green_vegetation(scene: Raster, max_ndvi: float) -> np.ndarray:
    """Per pixel of an S2 L2A scene: vegetation, :func:`leaf_ndvi` above ``max_ndvi``.
    A pixel with any band NaN is not vegetation."""
    bands = [scene.band(name) for name in ("B02", "B03", "B04", "B08")]
    finite = np.logical_and.reduce([np.isfinite(b) for b in bands])
    return finite & (np.nan_to_num(leaf_ndvi(*bands), nan=-1.0) > max_ndvi)
