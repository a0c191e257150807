"""Display versions of the scenes, and the one stretch every picture of them shares.

QGIS, the chips and the report must show the analyst the same picture, so the
stretch lives here once:

Sentinel-1
    ``VV`` (band 1) and ``VH`` in dB as float32 (NaN invalid), grey from -25 dB
    (black) to 0 dB (white): open water is dark, hulls and quays bright.
Sentinel-2
    ``B04 B03 B02 B08`` (true colour first) as uint16 reflectance x 10000 with 0 as
    nodata, the three true-colour bands stretched alike by a cumulative cut of the
    after scene (typically 0 to 2000-4000, reflectance 0-0.4).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from imagery.errors import InputError
from imagery.raster import Raster
from imagery.sensors import to_db

__all__ = [
    "Stretch",
    "change_limits",
    "change_rgba",
    "display_raster",
    "stretch_for",
    "stretch_from_sample",
    "to_rgb8",
]

NODATA_RGB = (48, 48, 48)


@dataclasses.dataclass(frozen=True)
class Stretch:
    """How a display raster is shown: which bands, and the linear stretch limits."""

    bands: tuple[int, ...]  # 1-based; one (grey) or three (red, green, blue)
    vmin: float
    vmax: float
    unit: str


S1_STRETCH = Stretch(bands=(1,), vmin=-25.0, vmax=0.0, unit="dB")
S2_STRETCH = Stretch(bands=(1, 2, 3), vmin=0.0, vmax=3000.0, unit="reflectance x 10000")


def _sensor(raster: Raster) -> str:
    if raster.sensor in ("s1", "s2"):
        return raster.sensor
    names = {n.upper() for n in raster.band_names}
    if "VV" in names:
        return "s1"
    if {"B02", "B03", "B04"} <= names:
        return "s2"
    raise InputError(
        f"cannot tell whether {raster!r} is Sentinel-1 or Sentinel-2: set its sensor "
        "or band names (prepare it with imagery.sensors.prepare)"
    )


def display_raster(raster: Raster) -> Raster:
    """The display version of a prepared scene (see the module docstring).

    Parameters
    ----------
    raster : Raster
        As :func:`imagery.sensors.prepare_s1` / ``prepare_s2`` return it: S1 linear
        sigma0 ``VV[, VH]``; S2 reflectance ``B02 B03 B04 B08 [SCL]``; NaN invalid.

    Returns
    -------
    Raster
        S1: float32 dB, ``VV[, VH]``, nodata NaN. S2: uint16 ``B04 B03 B02 B08``
        reflectance x 10000, nodata 0. Same grid, time and sensor.
    """
    sensor = _sensor(raster)
    if sensor == "s1":
        names = [n for n in ("VV", "VH") if raster.has_band(n)] or [None]
        data = raster.data[[raster.band_index(n) if n else 0 for n in names]]
        return raster.replace(
            data=to_db(data.astype(np.float32, copy=False)),
            nodata=float("nan"),
            sensor="s1",
            band_names=tuple(n or "VV" for n in names),
        )
    order = [b for b in ("B04", "B03", "B02", "B08") if raster.has_band(b)]
    if len(order) < 3:
        raise InputError(f"a Sentinel-2 display needs bands B04 B03 B02; {raster!r} lacks them")
    data = raster.data[[raster.band_index(b) for b in order]].astype(np.float32)
    valid = np.isfinite(data).all(axis=0)
    scaled = np.clip(np.nan_to_num(data * 10000.0, nan=0.0), 1, 65535).astype(np.uint16)
    scaled[:, ~valid] = 0
    return raster.replace(data=scaled, nodata=0, sensor="s2", band_names=tuple(order))


def stretch_for(display: Raster) -> Stretch:
    """The stretch of a display raster from :func:`display_raster`.

    Sentinel-1: fixed, -25 to 0 dB. Sentinel-2: a cumulative cut of the true-colour
    bands (2nd to 98th percentile of a subsample of valid pixels, QGIS's default cut)
    kept within 0-800 (black) and 1500-6000 (white), so bright quays and containers
    do not all saturate while open water is not stretched into noise. Compute it on
    the after scene and show both scenes with it.
    """
    if _sensor(display) == "s1":
        return S1_STRETCH
    rgb = display.data[:3]
    step = max(1, rgb[0].size // 250_000)
    return stretch_from_sample(rgb.reshape(3, -1)[:, ::step])


def stretch_from_sample(rgb: np.ndarray) -> Stretch:
    """The Sentinel-2 stretch of :func:`stretch_for` from sampled true-colour pixels.

    Parameters
    ----------
    rgb : ndarray, shape (3, n)
        Display pixels (reflectance x 10000) of bands B04, B03, B02; 0 is nodata.
    """
    sample = rgb[:, (rgb > 0).all(axis=0)]
    if sample.size == 0:
        return S2_STRETCH
    low, high = np.percentile(sample, [2.0, 98.0])
    return dataclasses.replace(
        S2_STRETCH,
        vmin=float(np.clip(round(low, -1), 0, 800)),
        vmax=float(np.clip(round(high, -1), 1500, 6000)),
    )


def to_rgb8(data: np.ndarray, stretch: Stretch, *, nodata: float | None = None) -> np.ndarray:
    """Stretch display pixels to an 8-bit RGB image.

    Parameters
    ----------
    data : ndarray, shape (band, row, col)
        Display-raster pixels (all bands; ``stretch.bands`` picks the shown ones).
    stretch : Stretch
    nodata : float, optional
        Value marking missing pixels besides NaN.

    Returns
    -------
    ndarray, shape (row, col, 3), uint8
        Missing pixels dark grey.
    """
    shown = data[[b - 1 for b in stretch.bands]].astype(np.float32)
    invalid = ~np.isfinite(shown).all(axis=0)
    if nodata is not None and np.isfinite(nodata):
        invalid |= (data[[b - 1 for b in stretch.bands]] == nodata).all(axis=0)
    scaled = (shown - stretch.vmin) / (stretch.vmax - stretch.vmin)
    grey = np.clip(np.nan_to_num(scaled, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgb = np.repeat(grey, 3, axis=0) if grey.shape[0] == 1 else grey
    rgb = np.moveaxis(rgb, 0, -1).copy()
    rgb[invalid] = NODATA_RGB
    return rgb


def change_limits(
    change: np.ndarray, *, clear_percentile: float = 90.0, max_percentile: float = 99.5
) -> tuple[float, float]:
    """Display limits of a signed change band: (clear below, saturated at), both > 0.

    ``|change|`` under the ``clear_percentile`` is drawn transparent (most of a scene
    does not change; speckle and noise stay out of the way) and colour saturates at
    the ``max_percentile``. Computed on a regular subsample of at most ~1 M pixels;
    (0.5, 1.0) for a band without change.
    """
    flat = change.ravel()
    step = max(1, flat.size // 1_000_000)
    sample = np.abs(flat[::step])
    sample = sample[np.isfinite(sample) & (sample > 0)]
    if sample.size == 0:
        return 0.5, 1.0
    clear, top = (float(v) for v in np.percentile(sample, [clear_percentile, max_percentile]))
    top = top if top > 0 else 1.0
    return min(clear, 0.5 * top), top


def change_rgba(change: np.ndarray, *, clear: float, max_abs: float) -> np.ndarray:
    """Colour a signed change band like the QGIS style: blue down, red up, clear near 0.

    Parameters
    ----------
    change : ndarray, shape (row, col)
    clear, max_abs : float
        ``|change|`` below ``clear`` is transparent; ``max_abs`` is fully saturated
        (see :func:`change_limits`).

    Returns
    -------
    ndarray, shape (row, col, 4), uint8
    """
    t = np.clip(np.nan_to_num(change / max_abs, nan=0.0), -1.0, 1.0)
    c = clear / max_abs
    alpha = np.clip((np.abs(t) - c) / (1.0 - c), 0.0, 1.0)
    rgba = np.zeros((*change.shape, 4), dtype=np.uint8)
    up = t > 0
    rgba[..., 0] = np.where(up, 178, 33)
    rgba[..., 1] = np.where(up, 24, 102)
    rgba[..., 2] = np.where(up, 43, 172)
    rgba[..., 3] = (alpha * 230).astype(np.uint8)
    return rgba
