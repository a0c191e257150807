"""Box statistics over masked images, in time independent of the window size.

Local means and variances over square windows, counting only the pixels a mask allows,
are the workhorse of CFAR detection and change tests. ``scipy.ndimage.uniform_filter``
is a running-sum filter (cost independent of the window), so a masked mean is the
ratio of two filtered images, and a ring (background window minus guard window) is the
difference of two box sums.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["box_sum", "masked_box_mean", "masked_ring_stats", "odd_window_px"]


def odd_window_px(size_m: float, pixel_m: float, *, minimum: int = 1) -> int:
    """A window of ``size_m`` metres as an odd number of pixels (at least ``minimum``)."""
    n = max(minimum, round(size_m / pixel_m))
    return n if n % 2 == 1 else n + 1


def box_sum(image: np.ndarray, size: int) -> np.ndarray:
    """Sum over a ``size`` x ``size`` window centred on each pixel (zero outside the image).

    Parameters
    ----------
    image : ndarray, shape (row, col)
    size : int
        Odd window side in pixels.

    Returns
    -------
    ndarray, float64, same shape.
    """
    if size <= 1:
        return image.astype(np.float64, copy=True)
    mean = ndimage.uniform_filter(
        image.astype(np.float64, copy=False), size=size, mode="constant", cval=0.0
    )
    return mean * float(size * size)


def masked_box_mean(
    image: np.ndarray, mask: np.ndarray, size: int, *, min_count: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``image`` over the pixels of ``mask`` in each ``size`` window.

    Returns
    -------
    mean : ndarray, float64
        NaN where fewer than ``min_count`` pixels of the window are in ``mask``.
    count : ndarray, float64
        Number of masked pixels in each window.
    """
    weights = mask.astype(np.float64)
    values = np.where(mask, image, 0.0)
    count = box_sum(weights, size)
    total = box_sum(values, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= min_count, total / np.maximum(count, 1e-12), np.nan)
    return mean, count


def masked_ring_stats(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    outer: int,
    inner: int,
    min_count: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation and count of masked pixels in a square ring.

    The ring is the ``outer`` x ``outer`` window minus the ``inner`` x ``inner`` guard
    window, both centred on the pixel: the background of a CFAR detector (Crisp 2004).

    Parameters
    ----------
    image : ndarray, shape (row, col)
    mask : ndarray of bool, same shape
        Pixels allowed into the statistics (e.g. water, not already detected).
    outer, inner : int
        Odd window sides in pixels, ``inner < outer``.
    min_count : float
        Fewer ring pixels than this gives NaN statistics.

    Returns
    -------
    mean, std, count : ndarrays, float64
    """
    if inner >= outer:
        raise ValueError(
            f"guard window ({inner} px) must be smaller than background window ({outer} px)"
        )
    m = mask.astype(np.float64)
    x = np.where(mask, image, 0.0).astype(np.float64)
    count = box_sum(m, outer) - box_sum(m, inner)
    s1 = box_sum(x, outer) - box_sum(x, inner)
    s2 = box_sum(x * x, outer) - box_sum(x * x, inner)
    ok = count >= min_count
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, s1 / np.maximum(count, 1e-12), np.nan)
        var = np.where(ok, s2 / np.maximum(count, 1e-12) - mean * mean, np.nan)
    std = np.sqrt(np.maximum(var, 0.0))
    return mean, std, count
