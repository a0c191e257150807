"""The sequential omnibus test for change in a time series of SAR intensities.

For k co-registered multi-looked intensity images, the omnibus likelihood-ratio test of
Conradsen et al. (2016) asks whether all k dates share one mean backscatter; its
factorisation into the tests R_j ("is date j like dates l..j-1, given those are alike")
gives, per pixel, *when* each change happened: test R_{l+1}, R_{l+2}, ... in turn; at
the first significant R_j the pixel changed between dates j-1 and j, and the procedure
restarts from date j. Everything is vectorized over pixels; the loops run over dates.

Two simplifications of Conradsen et al. (2016, sec. IV): the R_j are tested each at
``alpha`` without first gating the segment on the omnibus Q test, so the chance of a
pixel with no change ever being called changed is about (k-1) alpha rather than alpha
(portwatch flags from each step's normal score ``z`` against its own thresholds, and
uses the decisions only to restart segments); and the second-order term omega_2 of
Box's approximation is left out: it falls as 1 / n^2, and at the 30-40 looks of 3 x 3
averaged GRD intensities it is about -2e-5.

For single-polarisation intensity (p = 1) with n equivalent looks and running sums
S_j = x_l + ... + x_j over the current segment (m = j - l + 1 dates):

    ln R_j = n [ m ln m - (m-1) ln(m-1) + (m-1) ln S_{j-1} + ln x_j - m ln S_j ]

and -2 rho_j ln R_j is asymptotically chi-square with 1 degree of freedom, with
rho_j = 1 - (1 + 1 / (m (m-1))) / (6 n). Dual polarisation with a diagonal covariance
(VV and VH uncorrelated, the usual assumption for GRD intensities) adds the statistics
of both bands: 2 degrees of freedom.

References
----------
Conradsen, K., Nielsen, A. A., & Skriver, H. (2016). Determining the points of change in
time series of polarimetric SAR data. IEEE TGRS, 54(5), 3007-3024.
https://doi.org/10.1109/TGRS.2015.2510160

Canty, M. J., Nielsen, A. A., Conradsen, K., & Skriver, H. (2020). Statistical analysis
of changes in Sentinel-1 time series on the Google Earth Engine. Remote Sensing, 12(1),
46. https://doi.org/10.3390/rs12010046
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

from imagery.errors import InputError

__all__ = ["OmnibusResult", "sequential_omnibus"]


@dataclasses.dataclass(frozen=True)
class OmnibusResult:
    """Per-pixel change points of a series.

    Attributes
    ----------
    p_values : ndarray, float32, (time-1, row, col)
        p-value of the test R_j that decided each step j (NaN where invalid).
    changed : ndarray of bool, (time-1, row, col)
        True where the pixel changed between date j and j+1 (index j).
    direction : ndarray of int8, (time-1, row, col)
        +1 brighter, -1 darker after the change, 0 where no change.
    z : ndarray, float32, (time-1, row, col)
        Signed normal score of each step's test: large positive means a significant
        increase, large negative a significant decrease.
    first_change : ndarray of int16, (row, col)
        Index of the first date after a change (1..time-1), -1 where none.
    """

    p_values: np.ndarray
    changed: np.ndarray
    direction: np.ndarray
    z: np.ndarray
    first_change: np.ndarray


def sequential_omnibus(stack: np.ndarray, *, looks: float, alpha: float = 1e-4) -> OmnibusResult:
    """Run the sequential omnibus test over a (time, band, row, col) intensity stack.

    The omnibus likelihood-ratio test and its factorisation into the tests R_j
    (Conradsen et al. 2016), with the simplifications given in the module's notes.

    Parameters
    ----------
    stack : ndarray, (time, band, row, col)
        Linear intensities (locally averaged is fine: pass the matching ``looks``),
        co-registered; NaN invalid. At least two dates. A date without data at a pixel
        is left out there: its step is not tested (NaN) and the next present date is
        tested against the segment's present dates.
    looks : float
        Equivalent number of looks of each image.
    alpha : float, default 1e-4
        Significance level of each R_j decision.

    Returns
    -------
    OmnibusResult
    """
    if stack.ndim != 4 or stack.shape[0] < 2:
        raise InputError(
            f"the omnibus test needs a (time, band, row, col) stack of 2+ dates, got {stack.shape}"
        )
    k, bands = stack.shape[0], stack.shape[1]
    x = stack.astype(np.float64)
    # Each date's own validity: a date without data at a pixel (a swath's or a frame's
    # edge) is left out of its segment there, and the other dates are still tested.
    present = np.isfinite(x).all(axis=1) & (x > 0).all(axis=1)  # (time, row, col)
    x = np.where(present[:, None], x, 0.0)
    shape = x.shape[2:]
    start = np.zeros(shape, dtype=np.int16)  # first date of each pixel's current segment
    p_values = np.full((k - 1, *shape), np.nan, dtype=np.float32)
    z = np.full((k - 1, *shape), np.nan, dtype=np.float32)
    changed = np.zeros((k - 1, *shape), dtype=bool)
    direction = np.zeros((k - 1, *shape), dtype=np.int8)
    cumulative = np.cumsum(x, axis=0)  # S over the present dates 0..j, per band
    counted = np.cumsum(present, axis=0)  # how many dates 0..j are present
    for j in range(1, k):
        # Segment sums and counts from each pixel's start date to j-1.
        earlier = np.maximum(start - 1, 0).astype(np.intp)
        index = np.broadcast_to(earlier, (1, bands, *shape))
        before_start = np.where(start > 0, np.take_along_axis(cumulative, index, axis=0)[0], 0.0)
        counted_before = np.where(
            start > 0, np.take_along_axis(counted, earlier[None], axis=0)[0], 0
        )
        s_prev = cumulative[j - 1] - before_start
        m_prev = counted[j - 1] - counted_before  # present dates in the segment before j
        valid = present[j] & (m_prev >= 1)
        s_prev = np.where(valid, s_prev, 1.0)
        x_j = np.where(valid, x[j], 1.0)
        s_now = s_prev + x_j
        m = np.where(valid, m_prev + 1, 2).astype(np.float64)  # dates tested, j included
        lnr = np.zeros(shape)
        for b in range(bands):
            lnr += looks * (
                _vec_xlogx(m)
                - _vec_xlogx(m - 1)
                + (m - 1) * np.log(s_prev[b])
                + np.log(x_j[b])
                - m * np.log(s_now[b])
            )
        rho = 1.0 - (1.0 + 1.0 / (m * (m - 1))) / (6.0 * looks)
        statistic = np.maximum(-2.0 * rho * lnr, 0.0)
        p = stats.chi2.sf(statistic, df=bands)
        mean_prev = s_prev / (m - 1)
        brighter = np.sum(np.log(x_j / mean_prev), axis=0) > 0
        sign = np.where(brighter, 1.0, -1.0)
        step_change = valid & (p < alpha)
        p_values[j - 1] = np.where(valid, p, np.nan)
        z[j - 1] = np.where(valid, sign * -stats.norm.ppf(np.clip(p / 2.0, 1e-300, 0.5)), np.nan)
        changed[j - 1] = step_change
        direction[j - 1] = np.where(step_change, sign, 0).astype(np.int8)
        start = np.where(step_change, j, start).astype(np.int16)
    any_change = changed.any(axis=0)
    first = np.where(any_change, changed.argmax(axis=0) + 1, -1).astype(np.int16)
    return OmnibusResult(
        p_values=p_values, changed=changed, direction=direction, z=z, first_change=first
    )


def _vec_xlogx(m: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m > 0, m * np.log(np.maximum(m, 1e-300)), 0.0)
