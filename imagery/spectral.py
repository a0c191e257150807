"""Spectral indices of Sentinel-2 L2A surface reflectance."""

from __future__ import annotations

import numpy as np

from imagery.raster import Raster

__all__ = ["BLUE_MARGIN", "green_vegetation", "leaf_ndvi", "off_mixing_line"]

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


def off_mixing_line(spectra: np.ndarray, material: np.ndarray, water: np.ndarray) -> np.ndarray:
    """Largest relative distance, over bands, of each spectrum from the mixtures of a
    ``material`` with ``water``.

    A structure narrower than the point spread is its material and the water mixed in
    each pixel (linear spectral mixing: Adams, Smith & Johnson 1986), darker than the
    material in every band yet the same material; another material lies off the line
    between the two.

    Parameters
    ----------
    spectra, material : ndarray, shape (band, n)
        Reflectance of n objects and of the material each is compared with.
    water : ndarray, shape (band,)
        The water's reflectance.

    Returns
    -------
    ndarray, shape (n,)
        Distance to the nearest mixture, relative to the material's reflectance in
        each band; NaN where the spectrum or its material is unknown (NaN in a band),
        so that no comparison with a floor passes.

    References
    ----------
    Adams, J. B., Smith, M. O. & Johnson, P. E. (1986). Spectral mixture modeling: a new
    analysis of rock and soil types at the Viking Lander 1 site. Journal of Geophysical
    Research 91(B8), 8098-8112.
    """
    spectra = np.asarray(spectra, dtype=np.float64)
    material = np.asarray(material, dtype=np.float64)
    unknown = ~(np.isfinite(spectra).all(axis=0) & np.isfinite(material).all(axis=0))
    spectra, material = np.nan_to_num(spectra), np.nan_to_num(material)
    water = np.asarray(water, dtype=np.float64).reshape(-1, 1)
    towards = material - water
    share = np.sum((spectra - water) * towards, axis=0) / np.maximum(
        np.sum(towards * towards, axis=0), 1e-12
    )
    mixed = water + np.clip(share, 0.0, 1.0) * towards
    relative = np.abs(spectra - mixed) / np.maximum(np.abs(material), 1e-3)
    return np.where(unknown, np.nan, np.max(relative, axis=0))
