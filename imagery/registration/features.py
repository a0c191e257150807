"""What the registration looks at: one feature image per scene and its gradient orientation.

Registration does not compare radiometry (it changes with sun, season, incidence and
sensor gain) but the *orientation* of the image gradient at each pixel, a unit complex
number ``(gx + i gy) / |gx + i gy|``. Orientation correlation is blind to any change
of gain and offset between the dates, and every pixel casts one vote of equal weight,
so a new bright ship or a fresh stack of containers, however bright, only adds the
votes of the pixels it covers; with phase correlation of intensities the same 10 % of
changed pixels can dominate a window's spectrum. Pixels that must not vote (nodata,
clouds and their shadows, water, caller exclusions) get orientation 0.

Feature images per sensor
    Sentinel-1: VV backscatter in dB (speckle becomes additive), smoothed with a small
    Gaussian so that gradients follow structures rather than single speckle grains.
    Sentinel-2: the mean of the 10 m bands B02 B03 B04 B08 present, with SCL cloud,
    cloud-shadow and cirrus classes (buffered) and water masked.
    Other rasters: the mean of their bands.

References
----------
Fitch, A. J., Kadyrov, A., Christmas, W. J. & Kittler, J. (2002). Orientation
    correlation. Proc. British Machine Vision Conference, 133-142.
    doi:10.5244/C.16.11
Heid, T. & Kääb, A. (2012). Evaluation of existing image matching methods for deriving
    glacier surface displacements globally from optical satellite imagery. Remote
    Sensing of Environment 118, 339-355. doi:10.1016/j.rse.2011.11.024
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy import ndimage as ndi

from imagery.raster import Raster
from imagery.sensors import S2_BANDS, SCL_CLOUD_CLASSES, SCL_WATER, to_db

__all__ = ["Feature", "SensorProfile", "feature_image", "orientation", "profile_for"]


@dataclasses.dataclass(frozen=True)
class SensorProfile:
    """Per-sensor settings of the feature image and the correlation.

    Attributes
    ----------
    smooth_px : float
        Gaussian sigma (pixels) applied to the feature image before gradients.
    cutoff : float
        Spectral weight of the correlation, cycles per pixel (see
        :func:`imagery.registration.phasecorr.phase_correlate`).
    min_coherence : float
        Windows whose correlation peak is lower are not used (unrelated content peaks
        at about 0.1-0.35).
    cloud_buffer_px : int
        Dilation of the SCL cloud mask; SCL draws cloud edges tight and their
        bright-dark borders must not vote.
    """

    smooth_px: float
    cutoff: float
    min_coherence: float = 0.4
    cloud_buffer_px: int = 3


_PROFILES = {
    "s1": SensorProfile(smooth_px=1.0, cutoff=0.10),
    "s2": SensorProfile(smooth_px=0.0, cutoff=0.15),
    None: SensorProfile(smooth_px=0.0, cutoff=0.15),
}


def profile_for(sensor: str | None) -> SensorProfile:
    """The :class:`SensorProfile` for ``"s1"``, ``"s2"`` or None (any other raster)."""
    return _PROFILES.get(sensor, _PROFILES[None])


@dataclasses.dataclass(frozen=True, eq=False)
class Feature:
    """A scene reduced to what registration uses, shape (row, col) each.

    Attributes
    ----------
    values : ndarray of float32
        Feature image; NaN where the scene has no data.
    masked : ndarray of bool
        Valid pixels that must not vote (clouds, water, caller exclusions).
    cloud : ndarray of bool
        The subset of ``masked`` that is SCL cloud, shadow or cirrus (for messages).
    """

    values: np.ndarray
    masked: np.ndarray
    cloud: np.ndarray

    @functools.cached_property
    def nodata(self) -> np.ndarray:
        """True where the scene has no data."""
        return np.isnan(self.values)


def feature_image(
    raster: Raster, *, sensor: str | None, exclude: np.ndarray | None = None
) -> Feature:
    """Reduce a prepared raster (see :mod:`imagery.sensors`) to its registration feature.

    Parameters
    ----------
    raster : Raster
        Sentinel-1 linear sigma0 (``VV`` [``VH``]), Sentinel-2 reflectance
        (``B02 B03 B04 B08`` [``SCL``]) or any raster; NaN marks nodata.
    sensor : {"s1", "s2"} or None
    exclude : ndarray of bool, shape (row, col), optional
        True where pixels must not be used (e.g. a water mask).

    Returns
    -------
    Feature
    """
    names = [n.upper() for n in raster.band_names]
    data = raster.data
    scl = raster.band("SCL") if "SCL" in names else None
    if sensor == "s1":
        vv = raster.band("VV") if "VV" in names else data[0]
        values = to_db(vv.astype(np.float32, copy=False))
    else:
        wanted = [i for i, n in enumerate(names) if n in S2_BANDS] if sensor == "s2" else []
        if not wanted:
            wanted = [i for i, n in enumerate(names) if n != "SCL"] or list(range(raster.count))
        values = data[wanted[0]].astype(np.float32, copy=True)
        for i in wanted[1:]:
            values += data[i]
        values /= len(wanted)
    nodata = raster.nodata
    if nodata is not None and not np.isnan(nodata):
        values = np.where((data == nodata).any(axis=0), np.float32(np.nan), values)
    masked = np.zeros(values.shape, dtype=bool) if exclude is None else exclude.astype(bool)
    cloud = np.zeros(values.shape, dtype=bool)
    if scl is not None:
        cloud = np.isin(scl, SCL_CLOUD_CLASSES)
        buffer = profile_for(sensor).cloud_buffer_px
        if buffer and cloud.any():
            cloud = ndi.binary_dilation(cloud, iterations=buffer)
        masked = masked | cloud | (scl == SCL_WATER)
    return Feature(values=values, masked=masked & ~np.isnan(values), cloud=cloud)


def orientation(feature: Feature, *, smooth_px: float = 0.0) -> np.ndarray:
    """Unit gradient orientation of a feature image; 0 where a pixel must not vote.

    Parameters
    ----------
    feature : Feature
        Arrays shaped (row, col), or a stack of patches (n, row, col).
    smooth_px : float
        Gaussian sigma applied before the gradient, in pixels.

    Returns
    -------
    ndarray of complex64, the shape of ``feature.values``
        ``(gx + i gy) / |gx + i gy|`` from central differences along the last two axes;
        0 on the outermost rows and columns, on masked pixels, on pixels whose gradient
        (or smoothing) reaches nodata, and where the gradient vanishes.
    """
    values = feature.values
    lead = values.ndim - 2
    nodata = feature.nodata
    has_nodata = bool(nodata.any())
    filled = values
    if has_nodata:
        fill = np.nanmedian(values) if not nodata.all() else 0.0
        filled = np.where(nodata, np.float32(fill), values)
    if smooth_px > 0:
        sigma = [0.0] * lead + [smooth_px, smooth_px]
        filled = ndi.gaussian_filter(filled, sigma, mode="nearest", truncate=3.0)
    # Central differences without the 1/2: only the direction matters.
    gx = np.zeros(values.shape, dtype=np.float32)
    gy = np.zeros(values.shape, dtype=np.float32)
    np.subtract(filled[..., 1:-1, 2:], filled[..., 1:-1, :-2], out=gx[..., 1:-1, 1:-1])
    np.subtract(filled[..., 2:, 1:-1], filled[..., :-2, 1:-1], out=gy[..., 1:-1, 1:-1])
    scale = gx * gx
    scale += gy * gy
    np.maximum(scale, np.float32(1e-30), out=scale)
    np.sqrt(scale, out=scale)
    np.reciprocal(scale, out=scale)
    unit = np.empty(values.shape, dtype=np.complex64)
    np.multiply(gx, scale, out=unit.real)
    np.multiply(gy, scale, out=unit.imag)
    mute = feature.masked
    if has_nodata:
        cross = ndi.generate_binary_structure(2, 1).reshape((1,) * lead + (3, 3))
        reach = 1 + int(np.ceil(3.0 * smooth_px))
        mute = mute | ndi.binary_dilation(nodata, structure=cross, iterations=reach)
    if mute.any():
        unit[mute] = 0
    return unit
