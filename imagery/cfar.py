"""Constant false alarm rate (CFAR) detection of bright targets on sea clutter.

Each pixel is compared with the clutter statistics of a background ring around it (a
square background window minus a square guard window, both in metres, the guard wide
enough that the target itself stays out of its own background), using only water
pixels that are not themselves targets. Three clutter models:

``"gaussian"``
    The two-parameter CFAR: detect when (I - mean) / std exceeds the Gaussian quantile
    of the false alarm probability (Crisp 2004; ESA SNAP's Ocean Object Detection,
    whose defaults we adopt: guard 500 m, background 800 m, PFA 10^-6.5).
``"gamma"``
    Fully developed speckle: intensity ~ Gamma(L, mean / L) with L the equivalent number
    of looks, so the threshold is a fixed multiple of the local mean.
``"k"``
    Textured sea clutter: the K distribution, intensity = texture x speckle with a
    Gamma(nu) texture whose order nu is estimated per pixel from the ring's moments
    (Ward 1981; Crisp 2004, sec. 5). Heavier tails than gamma at low nu, so fewer
    false alarms on rough water.

All statistics are box sums (``imagery.filters``), so the cost does not depend on the
window sizes and no Python loop touches a pixel.

References
----------
Crisp, D. J. (2004). The state-of-the-art in ship detection in synthetic aperture radar
imagery. DSTO-RR-0272, Defence Science and Technology Organisation, Australia.

Ward, K. D. (1981). Compound representation of high resolution sea clutter.
Electronics Letters, 17(16), 561-563. https://doi.org/10.1049/el:19810394

Oliver, C., & Quegan, S. (2004). Understanding Synthetic Aperture Radar Images.
SciTech Publishing (ch. 4: speckle statistics; ch. 11: K-distributed clutter).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
from scipy import special, stats

from imagery.errors import InputError
from imagery.filters import (
    RingSumsAt,
    masked_block_sums,
    masked_ring_stats,
    odd_window_px,
    ring_stats_from_block_sums,
    tabulated,
    upsample_blocks,
)

__all__ = ["CfarResult", "block_px", "cfar_detect", "gamma_threshold_factor", "k_threshold_factor"]

MODELS = ("gaussian", "gamma", "k")

#: ESA SNAP Ocean Object Detection defaults (Adaptive Thresholding operator).
SNAP_GUARD_M = 500.0
SNAP_BACKGROUND_M = 800.0
SNAP_PFA = 10**-6.5


@dataclasses.dataclass(frozen=True)
class CfarResult:
    """Per-pixel CFAR output.

    Attributes
    ----------
    detected : ndarray of bool, (row, col)
    significance : ndarray of float32, (row, col)
        -log10 of the pixel's false alarm probability under the clutter model (0 where
        no background could be estimated or outside the search mask). A detection has
        significance >= -log10(pfa).
    background_mean : ndarray of float32, (row, col)
    """

    detected: np.ndarray
    significance: np.ndarray
    background_mean: np.ndarray


def gamma_threshold_factor(pfa: float, looks: float) -> float:
    """Multiple of the local mean intensity exceeded with probability ``pfa`` by
    fully developed speckle of ``looks`` equivalent looks.

    L-look intensity is Gamma(L, mean / L) (Oliver & Quegan 2004, ch. 4), so the
    factor is the inverse regularised upper incomplete gamma function of ``pfa``
    divided by L.
    """
    return float(special.gammainccinv(looks, pfa) / looks)


@lru_cache(maxsize=256)
def _laguerre(nu: float) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = special.roots_genlaguerre(96, nu - 1.0)
    return nodes, weights / weights.sum()


def _k_tail(factor: np.ndarray, looks: float, nu: float) -> np.ndarray:
    """P(I > factor * mean) for K-distributed intensity (texture order nu, looks L).

    I = tau * s with tau ~ Gamma(nu, 1/nu) and s ~ Gamma(L, 1/L): the tail is the
    texture average of the speckle tail, integrated by generalised Gauss-Laguerre.
    """
    # E_tau[Q(L, L f / tau)] with tau ~ Gamma(nu, 1/nu): substitute u = nu tau, then
    # the Gamma(nu) density is the generalised Laguerre weight u^(nu-1) e^-u / Gamma(nu).
    nodes, weights = _laguerre(float(nu))
    u = nodes[:, None]
    w = weights[:, None]
    tau = u / nu
    q = special.gammaincc(looks, looks * np.asarray(factor)[None, :] / tau)
    return np.sum(w * q, axis=0)


@lru_cache(maxsize=32)
def _k_table(pfa: float, looks: float) -> tuple[np.ndarray, np.ndarray]:
    nus = np.geomspace(0.3, 100.0, 70)
    factors = np.empty_like(nus)
    target = np.log(pfa)
    # The tail is monotone in the factor: evaluate it on a fine log grid at once and
    # interpolate the crossing, then polish with a few bisection steps around it.
    grid = np.geomspace(1.0, 1e4, 201)
    for i, nu in enumerate(nus):
        log_tail = np.log(np.maximum(_k_tail(grid, looks, nu), 1e-300))
        k = int(np.searchsorted(-log_tail, -target))
        lo, hi = grid[max(k - 1, 0)], grid[min(k, grid.size - 1)]
        for _ in range(20):
            mid = np.sqrt(lo * hi)
            if np.log(max(_k_tail(np.array([mid]), looks, nu)[0], 1e-300)) > target:
                lo = mid
            else:
                hi = mid
        factors[i] = np.sqrt(lo * hi)
    return nus, factors


def k_threshold_factor(nu: np.ndarray, pfa: float, looks: float) -> np.ndarray:
    """Threshold multiple of the local mean for K clutter of order ``nu`` (array).

    K-distributed intensity: a Gamma(nu) texture times L-look gamma speckle (Ward 1981;
    Crisp 2004, sec. 5); the factor is tabulated over nu and tends to
    :func:`gamma_threshold_factor` as nu grows.
    """
    nus, factors = _k_table(float(pfa), float(looks))
    gamma_factor = gamma_threshold_factor(pfa, looks)
    nu = np.asarray(nu, dtype=np.float64)
    out = np.exp(np.interp(np.log(np.clip(nu, nus[0], nus[-1])), np.log(nus), np.log(factors)))
    # Beyond the table the texture is negligible: the K distribution tends to gamma.
    return np.where(nu > nus[-1], gamma_factor, out)


@lru_cache(maxsize=16)
def _gamma_significance_table(looks: float):
    def exact(log_ratio: np.ndarray) -> np.ndarray:
        tail = special.gammaincc(looks, looks * np.exp(log_ratio))
        return -np.log10(np.maximum(tail, 1e-300))

    # ln(ratio) from -7 to 6 (ratios 0.001-400); beyond 400 the tail is below 1e-300.
    return tabulated(exact, lo=-7.0, hi=6.0, n=8193)


def _significance_gamma(ratio: np.ndarray, looks: float) -> np.ndarray:
    """-log10 P(I > ratio * mean) for gamma speckle of ``looks`` looks (tabulated)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ratio = np.log(np.maximum(ratio, 1e-12))
    return _gamma_significance_table(float(looks))(log_ratio)


def cfar_detect(
    intensity: np.ndarray,
    search: np.ndarray,
    clutter: np.ndarray,
    *,
    pixel_m: float,
    pfa: float = SNAP_PFA,
    guard_m: float = SNAP_GUARD_M,
    background_m: float = SNAP_BACKGROUND_M,
    model: str = "k",
    looks: float = 4.4,
    min_background_px: int = 50,
    passes: int = 2,
    background_everywhere: bool = True,
) -> CfarResult:
    """Detect bright targets in ``intensity`` against clutter in a background ring.

    Parameters
    ----------
    intensity : ndarray, (row, col)
        Linear power (sigma0) for SAR; any non-negative brightness for the
        ``"gaussian"`` model. NaN is invalid.
    search : ndarray of bool, (row, col)
        Where targets may be reported (water, plus anything the caller adds).
    clutter : ndarray of bool, (row, col)
        Pixels allowed into the background statistics (water).
    pixel_m : float
        Ground pixel size, metres.
    pfa : float, default 10^-6.5
        Probability of false alarm per pixel.
    guard_m, background_m : float, default 500 and 800
        Side of the guard and background windows, metres (SNAP's defaults).
    model : {"k", "gamma", "gaussian"}
    looks : float, default 4.4
        Equivalent number of looks of the intensity (Sentinel-1 IW GRD high resolution:
        about 4.4).
    min_background_px : int
        Rings with fewer clutter pixels fall back to a window twice as large, then to the
        clutter statistics of the whole image.
    passes : int, default 2
        Later passes recompute the background without the targets found so far, so a
        large ship or a cluster of ships does not raise its own threshold.
    background_everywhere : bool, default True
        False: where the background is estimated per pixel (guard windows under 20
        pixels, no block grid) it is formed at ``search`` pixels only, and
        ``background_mean`` is NaN elsewhere. A dozen full-image passes fewer when the
        search is a thin band (a shoreline).

    Returns
    -------
    CfarResult
    """
    if model not in MODELS:
        raise InputError(f"CFAR model must be one of {MODELS}, got {model!r}")
    if not 0 < pfa < 0.5:
        raise InputError(f"pfa must be in (0, 0.5), got {pfa}")
    x = np.where(np.isfinite(intensity), intensity, 0.0).astype(np.float64)
    valid = np.isfinite(intensity)
    search = search & valid
    clean = clutter & valid
    outer, inner = _windows_px(pixel_m, guard_m, background_m)
    detected = np.zeros(x.shape, dtype=bool)
    significance = np.zeros(x.shape, dtype=np.float32)
    mean = np.zeros(x.shape)
    # Per-pixel rings wanted at the search pixels only: formed and tested there alone.
    where = None if background_everywhere or _block_factor(inner) > 1 else np.flatnonzero(search)
    passes = max(1, passes)
    for done in range(1, passes + 1):
        mask = clean & ~_grow(detected)
        # Earlier passes only say which pixels leave the background.
        last = done == passes
        if where is None:
            background = _background(x, mask, outer, inner, min_background_px)
            detected, significance, mean = _test(
                x, background, search, model=model, pfa=pfa, looks=looks, with_significance=last
            )
            continue
        background = _background_at(x, mask, where, outer, inner, min_background_px)
        tested = _test(
            x.ravel()[where],
            background,
            np.ones(where.size, dtype=bool),
            model=model,
            pfa=pfa,
            looks=looks,
            with_significance=last,
        )
        detected, significance, mean = (
            _scatter(values, where, x.shape, fill)
            for values, fill in zip(tested, (False, 0.0, np.nan), strict=True)
        )
    return CfarResult(detected, significance.astype(np.float32), mean.astype(np.float32))


def _scatter(values: np.ndarray, where: np.ndarray, shape: tuple[int, int], fill) -> np.ndarray:
    """An image of ``fill`` with ``values`` at the flat indices ``where``."""
    full = np.full(shape, fill, dtype=values.dtype)
    full.ravel()[where] = values
    return full


def _windows_px(pixel_m: float, guard_m: float, background_m: float) -> tuple[int, int]:
    """Sides of the background and guard windows, odd pixel counts."""
    outer = odd_window_px(background_m, pixel_m, minimum=5)
    inner = odd_window_px(guard_m, pixel_m, minimum=3)
    if inner >= outer:
        inner = max(1, outer - 2 * max(1, outer // 4)) | 1
    return outer, inner


def block_px(
    *, pixel_m: float, guard_m: float = SNAP_GUARD_M, background_m: float = SNAP_BACKGROUND_M
) -> int:
    """Side of the blocks :func:`cfar_detect` accumulates its ring statistics on, pixels
    (1: per pixel).

    The blocks are laid from the raster's first row and column, so a window of a larger
    raster whose origin is a multiple of this from the raster's sees the same blocks,
    and the same statistics, as the whole (:func:`imagery.tiled.plan_windows`).
    """
    return _block_factor(_windows_px(pixel_m, guard_m, background_m)[1])


def _block_factor(inner: int) -> int:
    """Side of the blocks ring statistics are accumulated on (1: per pixel): guard
    windows tens of pixels wide, a tenth of the guard."""
    return max(1, inner // 10)


def _grow(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=2) if mask.any() else mask


@dataclasses.dataclass(frozen=True)
class _Background:
    """Ring statistics per block of ``factor`` x ``factor`` pixels (1: per pixel)."""

    mean: np.ndarray
    std: np.ndarray
    factor: int

    def on_pixels(self, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        return upsample_blocks(values, self.factor, shape)


def _background(
    x: np.ndarray, mask: np.ndarray, outer: int, inner: int, min_px: int
) -> _Background:
    """Ring statistics on the block grid of :func:`_block_factor` (per pixel: 1), with
    a window twice as large where the ring holds under ``min_px`` clutter pixels, and
    the whole image's clutter statistics where that one does too."""
    factor = _block_factor(inner)
    ring = _rings(x, mask, inner, factor, min_px)
    mean, std, count = ring(outer)
    sparse = count < min_px
    if sparse.any():
        wide_mean, wide_std, wide_count = ring(2 * outer + 1)
        mean = np.where(sparse, wide_mean, mean)
        std = np.where(sparse, wide_std, std)
        still = sparse & (wide_count < min_px)
        if still.any() and mask.sum() >= min_px:
            values = x[mask]
            mean = np.where(still, values.mean(), mean)
            std = np.where(still, values.std(), std)
    return _Background(mean, std, factor)


def _rings(x: np.ndarray, mask: np.ndarray, inner: int, factor: int, min_px: int):
    """Ring statistics around a guard of ``inner`` pixels as a function of the outer
    side; on blocks (``factor`` > 1), one set of block sums serves every side."""
    if factor <= 1:
        return lambda side: masked_ring_stats(x, mask, outer=side, inner=inner, min_count=min_px)
    sums = masked_block_sums(x, mask, factor)
    return lambda side: ring_stats_from_block_sums(
        sums, outer=side, inner=inner, factor=factor, min_count=min_px
    )


def _background_at(
    x: np.ndarray, mask: np.ndarray, where: np.ndarray, outer: int, inner: int, min_px: int
) -> _Background:
    """:func:`_background` per pixel at the flat indices ``where`` only (1-D values):
    both ring sizes from one set of summed-area tables."""
    sums = RingSumsAt(x, mask, where)
    mean, std, count = sums.stats(outer, inner, min_px)
    sparse = count < min_px
    if sparse.any():
        wide_mean, wide_std, wide_count = sums.stats(2 * outer + 1, inner, min_px, pick=sparse)
        mean[sparse], std[sparse] = wide_mean, wide_std
        still = np.zeros_like(sparse)
        still[sparse] = wide_count < min_px
        if still.any() and mask.sum() >= min_px:
            values = x[mask]
            mean[still], std[still] = values.mean(), values.std()
    return _Background(mean, std, 1)


def _test(x, background: _Background, search, *, model, pfa, looks, with_significance=True):
    """Detections, significance (-log10 of the tail probability) and the clutter mean
    per pixel. Functions of the ring statistics alone (the K threshold factor) are
    evaluated per block, before interpolation onto pixels: they are as smooth as the
    statistics. With ``with_significance`` False it is left at 0 (a pass whose detections
    only shape the next pass's background)."""
    mean = background.on_pixels(background.mean, x.shape)
    ok = search & np.isfinite(mean) & (mean > 0)
    significance = np.zeros(x.shape)
    if model == "gaussian":
        std = background.on_pixels(background.std, x.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (x - mean) / np.maximum(std, 1e-12)
        threshold = stats.norm.isf(pfa)
        detected = ok & (z > threshold)
        if with_significance:
            significance[ok] = -stats.norm.logsf(z[ok]) / np.log(10)
        return detected, significance, mean
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = x / mean
    if model == "gamma":
        detected = ok & (ratio > gamma_threshold_factor(pfa, looks))
        if with_significance:
            significance[ok] = _significance_gamma(ratio[ok], looks)
        return detected, significance, mean
    # K: texture order from the ring's normalised second moment,
    # E[I^2]/E[I]^2 = (1 + 1/L)(1 + 1/nu) for K-distributed intensity.
    with np.errstate(invalid="ignore", divide="ignore"):
        block_mean, block_std = background.mean, background.std
        m2 = (block_std * block_std + block_mean * block_mean) / (block_mean * block_mean)
        excess = m2 / (1.0 + 1.0 / looks) - 1.0
        nu = np.where(excess > 1e-3, 1.0 / excess, np.inf)
    factor = background.on_pixels(k_threshold_factor(nu, pfa, looks), x.shape)
    detected = ok & (ratio > factor)
    if not with_significance:
        return detected, significance, mean
    # Significance on the K scale: the PFA the pixel would pass, interpolated between
    # the gamma tail (log-linear in the ratio) rescaled by the K/gamma threshold ratio.
    gamma_factor = gamma_threshold_factor(pfa, looks)
    scaled = ratio * (gamma_factor / factor)
    significance[ok] = _significance_gamma(scaled[ok], looks)
    return detected, significance, mean
