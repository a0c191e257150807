"""Change statistics between two co-registered scenes, per pixel, vectorized.

Sentinel-1: the likelihood-ratio test for a change in mean intensity
    Multi-looked intensity is gamma-distributed with shape n (the equivalent number of
    looks) and scale mean/n. For two independent dates with equal looks the
    likelihood-ratio test of equal means reduces to the ratio y/x, which under no
    change follows an F(2n, 2n) distribution exactly (Conradsen et al. 2003, single
    polarisation case; Oliver & Quegan 2004, sec. 12.3). Each polarisation gives a
    one-sided p-value for an increase, turned into a normal score and combined across
    VV and VH with Stouffer's rule. The effective looks of the locally averaged images
    are estimated from the data (the spread of the log-ratio over the scene, where
    most pixels do not change, is that of ln F(2n, 2n)), so the test also holds for spatially
    correlated speckle and any averaging window. A global gain difference between the
    dates (calibration) is removed first: the median log-ratio.
Sentinel-2: cloud-masked change vector analysis
    Per band, the after reflectance is matched to the before by a robust linear
    (median/MAD) normalisation over clear pixels; the differences, scaled by their
    robust noise level, form a chi-square statistic with one degree of freedom per band
    (Malila 1980; Bovolo & Bruzzone 2007).

References
----------
Conradsen, K., Nielsen, A. A., Schou, J., & Skriver, H. (2003). A test statistic in the
complex Wishart distribution and its application to change detection in polarimetric
SAR data. IEEE TGRS, 41(1), 4-19. https://doi.org/10.1109/TGRS.2002.808066

Oliver, C., & Quegan, S. (2004). Understanding Synthetic Aperture Radar Images.
SciTech Publishing.

Malila, W. A. (1980). Change vector analysis: an approach for detecting forest changes
with Landsat. Proceedings of the 6th Annual Symposium on Machine Processing of Remotely
Sensed Data, Purdue University, 326-335.

Bovolo, F., & Bruzzone, L. (2007). A theoretical framework for unsupervised change
detection based on change vector analysis in the polar domain. IEEE TGRS, 45(1),
218-236. https://doi.org/10.1109/TGRS.2006.885408
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
from scipy import ndimage, stats

from imagery.errors import DetectionError, NothingToCompareError
from imagery.filters import (
    block_sums,
    box_sum,
    local_median,
    masked_box_mean,
    tabulated,
    upsample_blocks,
)
from imagery.raster import Raster
from imagery.sensors import S2_BANDS, cloud_mask

__all__ = [
    "MIN_STABLE_PX",
    "ChangeMap",
    "PixelStep",
    "calibration_pixels",
    "effective_looks",
    "local_linear_match",
    "match_through_veil",
    "s1_change",
    "s2_change",
    "s2_pixel_step",
]

_MAD_TO_SIGMA = 1.4826  # normal sigma per median absolute deviation


@dataclasses.dataclass(frozen=True)
class ChangeMap:
    """Per-pixel change between two dates on one grid.

    Attributes
    ----------
    magnitude : ndarray, float32, (row, col)
        Signed change: S1, 10 log10(after / before) of the locally averaged intensity
        (dB); S2, the change vector length in noise units, signed by the change in
        brightness.
    z : ndarray, float32, (row, col)
        Normal score of the test for an increase (S1) or for any change (S2); large is
        significant. NaN where either date is invalid.
    valid : ndarray of bool, (row, col)
    looks : float or None
        Effective looks of the averaged S1 intensities (None for S2).
    gain_db : tuple of float
        Calibration difference removed per band (after minus before), dB (S1), or the
        per-band gain (S2).
    """

    magnitude: np.ndarray
    z: np.ndarray
    valid: np.ndarray
    looks: float | None
    gain_db: tuple[float, ...]


def effective_looks(log_ratio: np.ndarray) -> float:
    """Equivalent number of looks from the log-ratio of two dates' intensities.

    For gamma intensities with n looks, y/x ~ F(2n, 2n), so ln(y/x) is symmetric about 0
    with median absolute deviation ln F_{0.75}(2n, 2n). Matching that to the observed
    MAD (robust: most pixels do not change) gives n exactly, heavy log-F tails and all.
    The F(2n, 2n) law of the ratio of two gamma (single-polarisation Wishart)
    intensities is that of Conradsen et al. (2003), IEEE TGRS 41(1), 4-19.
    """
    finite = log_ratio[np.isfinite(log_ratio)]
    if finite.size < 100:
        raise NothingToCompareError(
            "too few valid pixels to estimate the equivalent number of looks"
        )
    sample = finite[:: max(1, finite.size // 1_000_000)]
    mad = float(np.median(np.abs(sample - np.median(sample))))
    lo, hi = 0.1, 5000.0
    for _ in range(60):  # the MAD of ln F(2n, 2n) decreases with n
        mid = np.sqrt(lo * hi)
        if np.log(stats.f.ppf(0.75, 2 * mid, 2 * mid)) > mad:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))


#: Fewest stable pixels the gain and looks are estimated on; below, every valid pixel.
MIN_STABLE_PX = 1000


def calibration_pixels(valid: np.ndarray, stable: np.ndarray | None) -> np.ndarray:
    """Where a pair's (or a series step's) calibration gain and looks are estimated: the
    ``valid`` pixels on ``stable`` ground (land), or every valid pixel when fewer than
    :data:`MIN_STABLE_PX` are stable."""
    if stable is None or (valid & stable).sum() < MIN_STABLE_PX:
        return valid
    return valid & stable


def s1_change(
    before: Raster, after: Raster, *, window_px: int = 3, stable: np.ndarray | None = None
) -> ChangeMap:
    """Per-pixel likelihood-ratio test for an increase in backscatter (VV, and VH).

    The test of equal means of two Wishart (single polarisation: gamma) intensities,
    whose ratio under no change follows F(2n, 2n) (Conradsen et al. 2003, IEEE TGRS
    41(1), 4-19), one-sided, with n from :func:`effective_looks`; the polarisations'
    normal scores are combined by Stouffer's rule.

    Parameters
    ----------
    before, after : Raster
        Prepared S1 scenes (linear sigma0) on the same grid, same bands.
    window_px : int, default 3
        Side of the local averaging window (more looks, less resolution).
    stable : ndarray of bool, optional
        Where the calibration gain and the equivalent looks are estimated (land: the
        sea's texture decorrelates between passes and would understate the looks).
        All valid pixels by default.

    Returns
    -------
    ChangeMap
    """
    _same_grid(before, after)
    bands = [b for b in before.band_names if after.has_band(b)]
    valid = before.valid_mask() & after.valid_mask()
    scores, ratios_db, gains = [], [], []
    looks_seen = []
    for name in bands:
        x, _ = masked_box_mean(before.band(name), valid, window_px, min_count=window_px)
        y, _ = masked_box_mean(after.band(name), valid, window_px, min_count=window_px)
        ok = valid & np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        log_ratio = np.full(x.shape, np.nan)
        log_ratio[ok] = np.log(y[ok] / x[ok])
        use = calibration_pixels(ok, stable)
        gain = float(np.nanmedian(log_ratio[use][:: max(1, int(use.sum()) // 1_000_000)]))
        log_ratio -= gain
        looks = effective_looks(np.where(use, log_ratio, np.nan))
        looks_seen.append(looks)
        # y/x ~ F(2n, 2n) under no change; one-sided test for an increase.
        z = np.full(x.shape, np.nan)
        z[ok] = _ratio_z_table(round(looks, 3))(log_ratio[ok])
        scores.append(z)
        ratios_db.append(10.0 * log_ratio / np.log(10.0))
        gains.append(10.0 * gain / np.log(10.0))
    combined = np.sum(scores, axis=0) / np.sqrt(len(scores))
    magnitude = np.mean(ratios_db, axis=0)
    return ChangeMap(
        magnitude=magnitude.astype(np.float32),
        z=combined.astype(np.float32),
        valid=valid & np.isfinite(combined),
        looks=float(np.mean(looks_seen)),
        gain_db=tuple(gains),
    )


@lru_cache(maxsize=32)
def _ratio_z_table(looks: float):
    """ln(y/x) -> normal score of the one-sided F(2n, 2n) test for an increase."""

    def exact(log_ratio: np.ndarray) -> np.ndarray:
        upper = stats.f.logsf(np.exp(log_ratio), 2 * looks, 2 * looks)
        lower = stats.f.logcdf(np.exp(log_ratio), 2 * looks, 2 * looks)
        # Use whichever tail is small for accuracy far out in both directions.
        return np.where(
            log_ratio > 0, -stats.norm.ppf(np.exp(upper)), stats.norm.ppf(np.exp(lower))
        )

    return tabulated(exact, lo=-12.0, hi=12.0, n=16385)


@lru_cache(maxsize=8)
def _chi2_z_table(dof: int):
    """ln(1 + chi2) -> normal score of the chi-square(dof) upper tail."""

    def exact(log1p_chi2: np.ndarray) -> np.ndarray:
        logp = stats.chi2.logsf(np.expm1(log1p_chi2), df=dof)
        return -stats.norm.ppf(np.clip(np.exp(logp), 1e-300, 1.0))

    return tabulated(exact, lo=0.0, hi=np.log1p(1e5), n=16385)


def local_linear_match(
    reference: np.ndarray,
    moving: np.ndarray,
    fit: np.ndarray,
    window_px: int,
    *,
    min_count: float,
    rounds: int = 2,
    clip_sigma: float = 3.0,
    ridge: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel gain and offset that map ``moving`` onto ``reference`` over the ``fit``
    pixels of the ``window_px`` window around it: ``reference ~ gain * moving + offset``.

    A least-squares line from box sums (the local linear model of the guided filter,
    He, Sun & Tang 2013), made on blocks of a fifth of the window and interpolated
    bilinearly back onto the pixels. It is refitted ``rounds`` times without the pixels
    more than ``clip_sigma`` robust standard deviations off the previous fit, so that
    the few pixels that really changed (a stack set down) do not bend it. ``ridge``
    (reflectance squared) pulls the gain toward the window's ratio of means where the
    window's ground is too uniform to fix a slope.

    Returns
    -------
    gain, offset : ndarray, float64, (row, col)
    fitted : ndarray of bool, (row, col)
        Windows holding at least ``min_count`` fit pixels (elsewhere gain and offset
        mean nothing). A refit keeps the previous line where the clipping left fewer
        than a quarter of that.
    """
    x = np.where(fit, np.nan_to_num(moving), 0.0)
    y = np.where(fit, np.nan_to_num(reference), 0.0)
    shape = x.shape
    # The veil varies over kilometres: its line is fitted on the blocks' sums, 25 times
    # smaller than the image, and interpolated back.
    block = max(1, window_px // 5)
    blocks = max(1, round(window_px / block)) | 1

    def windowed(values: np.ndarray) -> np.ndarray:
        return box_sum(block_sums(values, block), blocks)

    weight = fit.astype(np.float64)
    count = windowed(weight)
    fitted_blocks = count >= min_count
    fitted = upsample_blocks(fitted_blocks.astype(np.float32), block, shape) >= 0.5
    gain = np.ones(fitted_blocks.shape)
    offset = np.zeros(fitted_blocks.shape)
    rounds = max(1, rounds)
    for step in range(rounds):
        if step > 0:
            count = windowed(weight)
        # A window the clipping emptied (a wide change) keeps the previous round's line.
        enough = count >= (min_count if step == 0 else 0.25 * min_count)
        count = np.where(enough, count, 1.0)
        mean_x = windowed(x * weight) / count
        mean_y = windowed(y * weight) / count
        var_x = windowed(x * x * weight) / count - mean_x * mean_x
        cov = windowed(x * y * weight) / count - mean_x * mean_y
        ratio = mean_y / np.maximum(mean_x, 1e-4)
        line_gain = (cov + ridge * ratio) / (np.maximum(var_x, 0.0) + ridge)
        gain = np.where(enough, line_gain, gain)
        offset = np.where(enough, mean_y - line_gain * mean_x, offset)
        pixel_gain = upsample_blocks(gain, block, shape)
        pixel_offset = upsample_blocks(offset, block, shape)
        if step == rounds - 1:
            break
        residual = y - (pixel_gain * x + pixel_offset)
        inliers = residual[fit & fitted]
        if inliers.size < 100:
            break
        spread = _MAD_TO_SIGMA * float(np.median(np.abs(inliers - np.median(inliers))))
        weight = (fit & (np.abs(residual) <= clip_sigma * max(spread, 1e-4))).astype(np.float64)
    return pixel_gain, pixel_offset, fitted


def match_through_veil(
    scene: Raster,
    reference: Raster,
    veil: np.ndarray,
    *,
    window_px: int,
    min_share: float = 1.0 / 3.0,
) -> tuple[Raster, np.ndarray]:
    """``scene`` with its S2 bands over ``veil`` matched onto ``reference``, band by band.

    Under thin cirrus the ground is seen through a smooth veil: the reflectance is the
    ground's times the veil's transmittance plus its own (path) reflectance, both
    varying over kilometres (the atmosphere's linear model, e.g. Vermote et al. 1997).
    Fitted as a line over the veiled pixels of each window (:func:`local_linear_match`),
    the veil is taken off (the difference of the two dates' veils, when both have one),
    and what is left between the dates is the ground's own change, to be judged with
    the veiled ground's own noise level (a stratum of its own in :func:`s2_change`).

    Parameters
    ----------
    scene, reference : Raster
        Prepared S2 scenes on one grid.
    veil : ndarray of bool, (row, col)
        The pixels to match, which are also the pixels the fit is made on.
    window_px : int
        Side of the fitting window; wide against a stack, narrow against the veil.
    min_share : float
        A pixel is matched only when its window holds this share of veil pixels.

    Returns
    -------
    matched : Raster
        ``scene`` with the matched values over the veil (float32).
    done : ndarray of bool
        The veil pixels matched in every band (a pixel missing in a band stays
        missing there).
    """
    data = scene.data.astype(np.float32, copy=True)
    done = veil.copy()
    for name in S2_BANDS:
        index = scene.band_index(name)
        moving = scene.band(name).astype(np.float64)
        target = reference.band(name).astype(np.float64)
        fit = veil & np.isfinite(moving) & np.isfinite(target)
        gain, offset, fitted = local_linear_match(
            target, moving, fit, window_px, min_count=min_share * window_px**2
        )
        put = veil & fitted & np.isfinite(moving)  # missing data stays missing
        done &= fitted
        data[index][put] = (gain * moving + offset)[put].astype(np.float32)
    return scene.replace(data=data), done


def _robust_match(before: np.ndarray, after: np.ndarray, use: np.ndarray) -> tuple[float, float]:
    b, a = before[use], after[use]
    b = b[:: max(1, b.size // 1_000_000)]
    a = a[:: max(1, a.size // 1_000_000)]
    scale_b = np.median(np.abs(b - np.median(b)))
    scale_a = np.median(np.abs(a - np.median(a)))
    gain = scale_b / scale_a if scale_a > 0 else 1.0
    offset = np.median(b) - gain * np.median(a)
    return float(gain), float(offset)


@dataclasses.dataclass(frozen=True)
class PixelStep:
    """Per-pixel, unaveraged near-infrared change between two S2 dates.

    A hull 10-20 m wide is one or two pixels across at 10 m: a local average dilutes it
    into its surroundings. Over water, whose near-infrared reflectance is low and
    uniform, a single pixel's step is strong evidence on its own.

    Attributes
    ----------
    step : ndarray, float32, (row, col)
        After minus before reflectance (NaN as 0).
    level : ndarray, float32, (row, col), or float
        The water's own change between the dates (haze, turbidity, sun), the zero of a
        hull's step: the median ``step`` over the sea around each pixel, or over all of
        it (a float; :func:`s2_pixel_step`).
    z : ndarray, float32, (row, col)
        ``step`` less ``level``, in units of its robust spread over the sea.
    explained : ndarray of bool, (row, col)
        Steps no larger than a residual misregistration of ``registration_px`` would
        make of the edges present on both dates (:func:`s2_pixel_step`).
    """

    step: np.ndarray
    level: np.ndarray | float
    z: np.ndarray
    explained: np.ndarray


#: Every this many rows and columns of the file, a sample of the water's local step
#: (:func:`s2_pixel_step`): at 10 m, 64 per block of 240 m and up to 576 per median.
_REFERENCE_STRIDE_PX = 3


def _thinned(sample: np.ndarray, most: int = 500_000) -> np.ndarray:
    """An even subsample of at most about ``most`` values, enough for a median."""
    return sample[:: max(1, sample.size // most)]


def _neighbour_contrast(image: np.ndarray) -> np.ndarray:
    """Per pixel, the largest absolute difference to a row neighbour plus the largest
    to a column neighbour; a missing (NaN) neighbour differs by nothing."""
    out = np.zeros(image.shape, dtype=np.float32)
    for axis in (0, 1):
        step = np.nan_to_num(np.abs(np.diff(image, axis=axis)))
        largest = np.zeros(image.shape, dtype=np.float32)
        head = [slice(None)] * 2
        tail = [slice(None)] * 2
        head[axis] = slice(None, -1)
        tail[axis] = slice(1, None)
        largest[tuple(head)] = step
        largest[tuple(tail)] = np.maximum(largest[tuple(tail)], step)
        out += largest
    return out


def s2_pixel_step(
    before: Raster,
    after: Raster,
    sea: np.ndarray,
    *,
    registration_px: float = 0.3,
    band: str = "B08",
    min_sea_px: int = 100,
    reference_m: float | None = 720.0,
    origin: tuple[int, int] = (0, 0),
) -> PixelStep | None:
    """The per-pixel step of ``band`` between two S2 scenes on one grid, scored against
    the water ``sea`` (pixels clear on both dates), with the steps a residual
    misregistration explains. None when ``sea`` has fewer than ``min_sea_px`` pixels:
    there is no noise scale to score against.

    A misregistration of d pixels (d < 1) moves a pixel's value by at most d times its
    largest difference to a neighbour along each axis (bilinear interpolation; Dai &
    Khorram 1998): the first pixel of water along a quay face brightens (or darkens)
    the whole length of the quay, one pixel wide, the shape of a narrow ship. Such an
    edge is in both dates, a ship's own edges in one only. A shift d moves the edge
    pixel by d C (C the edge's contrast) and leaves it (1 - d) C from its neighbour on
    the date it moved on, so a pixel is ``explained`` when its step less the water's
    (``|step - level|``) is at most ``r / (1 - r)`` times the smaller of the two dates'
    neighbour contrasts, ``r`` = ``registration_px``: any shift up to ``r`` is
    explained. A hull darker than the quay it lies against, one pixel wide, steps no
    more than such a shift would and is explained too: at 10 m the two cannot be told
    apart by the step.

    The water's own step (haze, turbidity, sun glint and wind differ between the dates,
    and by place within a scene) is the zero of a hull's. With ``reference_m`` (metres,
    positive) it is local: per block of a third of it, the median over the sea in the
    3 x 3 blocks around (a square of ``reference_m``), blended between block centres,
    so each pixel's level comes from water within about 1.3 ``reference_m``
    (:func:`imagery.filters.local_median`, on the lattice of the file, whose first row
    and column ``sea`` is at ``origin``: a window of a tile gets the tile's reference);
    where no water lies that near, the nearest block's. A ship of 400 m x 60 m covers
    about a twentieth of a square of 720 m, too little to move the median. Without
    ``reference_m`` (or with too little sea for any block) ``level`` is one median for
    the whole raster, a float. Development pairs: where a haze lifted the whole scene's
    water by 0.009 and darkened one bay's by 0.006, a 72 m ship anchored there stepped
    2 spreads above the scene's level and 8 above its bay's.

    References
    ----------
    Dai, X., & Khorram, S. (1998). The effects of image misregistration on the
    accuracy of remotely sensed change detection. IEEE TGRS, 36(5), 1566-1577.
    https://doi.org/10.1109/36.718860
    """
    _same_grid(before, after)
    if not 0.0 <= registration_px < 1.0:
        raise ValueError(f"registration_px must be in [0, 1) pixels, got {registration_px}")
    if int(np.count_nonzero(sea)) < min_sea_px:
        return None
    step = np.nan_to_num(after.band(band) - before.band(band)).astype(np.float32)
    level: np.ndarray | float = float(np.median(_thinned(step[sea])))
    if reference_m is not None and reference_m < 0:
        raise ValueError(f"reference_m must be positive metres or None, got {reference_m}")
    if reference_m:
        stride = _REFERENCE_STRIDE_PX
        block = max(stride, round(reference_m / 3.0 / before.pixel_m / stride) * stride)
        local = local_median(step, sea, block_px=block, stride_px=stride, origin=origin)
        if local is not None:
            level = local
    deviation = np.abs(step - level)
    spread = _MAD_TO_SIGMA * float(np.median(_thinned(deviation[sea])))
    contrast = np.minimum(
        _neighbour_contrast(before.band(band)), _neighbour_contrast(after.band(band))
    )
    return PixelStep(
        step=step,
        level=level,
        z=((step - level) / max(spread, 1e-4)).astype(np.float32),
        explained=deviation <= registration_px / (1.0 - registration_px) * contrast,
    )


def s2_change(
    before: Raster,
    after: Raster,
    *,
    window_px: int = 3,
    strata: np.ndarray | None = None,
    usable: np.ndarray | None = None,
    extent: np.ndarray | None = None,
) -> ChangeMap:
    """Per-pixel cloud-masked change vector test over B02 B03 B04 B08.

    Change vector analysis (Malila 1980; Bovolo & Bruzzone 2007): the per-band
    differences after a robust radiometric match, in units of their noise level, summed
    in squares to a chi-square statistic.

    Parameters
    ----------
    before, after : Raster
        Prepared S2 scenes (reflectance, optional SCL) on the same grid.
    window_px : int, default 3
        Side of the local averaging window.
    strata : ndarray of bool or int, optional
        Surfaces with their own noise level (e.g. the water mask): the local means, the
        radiometric match and the noise scale are computed separately inside and
        outside it, since water varies far less between dates than land and would
        otherwise make every land pixel look changed, and a water pixel's window over
        the shoreline would carry the land's change along every quay. Integer labels
        give one stratum per value (e.g. ground seen through a veil matched away,
        :func:`match_through_veil`). A pixel with fewer than ``window_px`` pixels of its
        own stratum in its window, or in a stratum with fewer than 100 clear pixels, is
        not tested.

    usable : ndarray of bool, optional
        Pixels clear on both dates (e.g. with ``imagery.clouds.s2_clouds`` excluded);
        by default those outside SCL's cloud, shadow and cirrus classes. The
        radiometric match and the noise scale are estimated on them.
    extent : ndarray of bool, optional
        Pixels to test, when wider than ``usable`` (e.g. water in a cloud's shadow,
        where a ship still shows); by default ``usable``.

    Returns
    -------
    ChangeMap
        ``z`` is the normal score of the chi-square(4) change statistic (any change).
    """
    _same_grid(before, after)
    clear = ~(cloud_mask(before) | cloud_mask(after)) if usable is None else usable
    valid = before.valid_mask() & after.valid_mask() & clear
    if valid.sum() < 100:
        raise NothingToCompareError(
            "fewer than 100 clear pixels common to both scenes: nothing to compare"
        )
    tested = (
        valid if extent is None else (valid | extent) & before.valid_mask() & after.valid_mask()
    )
    # The match and noise come from clear pixels whose means saw only clear pixels.
    fit = valid
    if extent is not None:
        fit = valid & ~ndimage.binary_dilation(tested & ~valid, iterations=window_px // 2)
    everywhere = np.ones(before.shape, dtype=bool)
    if strata is None:
        groups = [everywhere]
    elif strata.dtype == bool:
        groups = [strata, ~strata]
    else:
        # Label 0 last: its gains are the ones reported, as ~strata's are.
        groups = [strata == label for label in np.unique(strata)[::-1]]
    chi2 = np.zeros(before.shape)
    brightness = np.zeros(before.shape)
    measured = np.zeros(before.shape, dtype=bool)
    gains = []
    for name in S2_BANDS:
        for group in groups:
            # Each surface is averaged over itself only: a water pixel's mean taking in
            # the quay beside it would carry the land's date-to-date change, scaled by
            # the water's far smaller noise, along every shoreline.
            inside = tested & group
            x, _ = masked_box_mean(before.band(name), inside, window_px, min_count=window_px)
            y, _ = masked_box_mean(after.band(name), inside, window_px, min_count=window_px)
            ok = inside & np.isfinite(x) & np.isfinite(y)
            use = ok & fit
            if use.sum() < 100:
                continue
            gain, offset = _robust_match(x, y, use)
            diff = gain * y + offset - x
            sample = diff[use][:: max(1, int(use.sum()) // 1_000_000)]
            sigma = max(_MAD_TO_SIGMA * np.median(np.abs(sample - np.median(sample))), 1e-4)
            measured |= ok
            chi2 += np.where(ok, (diff / sigma) ** 2, 0.0)
            brightness += np.where(ok, diff / sigma, 0.0)
            if group is groups[-1]:
                gains.append(gain)
    valid = tested & measured
    chi2[~valid] = np.nan
    z = np.full(chi2.shape, np.nan)
    z[valid] = _chi2_z_table(len(S2_BANDS))(np.log1p(chi2[valid]))
    magnitude = np.sign(brightness) * np.sqrt(chi2)
    return ChangeMap(
        magnitude=magnitude.astype(np.float32),
        z=z.astype(np.float32),
        valid=valid & np.isfinite(z),
        looks=None,
        gain_db=tuple(gains),
    )


def _same_grid(before: Raster, after: Raster) -> None:
    if (
        before.shape != after.shape
        or before.transform != after.transform
        or before.crs != after.crs
    ):
        raise DetectionError(
            "change needs both scenes on one grid; co-register the after scene onto the before first "
            f"(before {before.shape} {before.crs}, after {after.shape} {after.crs})"
        )
