from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagery.filters import (
    block_sums,
    box_sum,
    local_median,
    masked_block_sums,
    masked_box_mean,
    masked_ring_stats,
    masked_ring_stats_coarse,
    odd_window_px,
    tabulated,
)


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(1, 15).map(lambda n: 2 * n + 1),
    rows=st.integers(5, 40),
    cols=st.integers(5, 40),
)
def test_box_sum_matches_brute_force(size, rows, cols):
    rng = np.random.default_rng(rows * 100 + cols)
    image = rng.random((rows, cols))
    half = size // 2
    padded = np.pad(image, half)
    brute = np.array(
        [[padded[r : r + size, c : c + size].sum() for c in range(cols)] for r in range(rows)]
    )
    np.testing.assert_allclose(box_sum(image, size), brute, rtol=1e-9, atol=1e-9)


def test_masked_mean_ignores_masked_pixels():
    image = np.ones((20, 20))
    image[:, 10:] = 100.0
    mask = np.zeros((20, 20), dtype=bool)
    mask[:, :10] = True
    mean, count = masked_box_mean(image, mask, 5)
    assert np.allclose(mean[:, 9], 1.0)
    assert count[10, 9] == 15  # columns 7-9 of a 5 x 5 window


def test_ring_excludes_the_guard():
    image = np.zeros((41, 41))
    image[20, 20] = 1000.0  # the target itself
    mean, _, count = masked_ring_stats(image, np.ones_like(image, dtype=bool), outer=11, inner=5)
    assert mean[20, 20] == pytest.approx(0.0, abs=1e-9) and count[20, 20] == 11 * 11 - 5 * 5


def test_coarse_ring_agrees_with_exact():
    rng = np.random.default_rng(1)
    base = np.exp(np.linspace(-1, 1, 400))[None, :] * np.ones((400, 1))
    image = base * rng.gamma(4.4, 1 / 4.4, (400, 400))
    mask = np.ones(image.shape, dtype=bool)
    mask[150:250, 150:250] = False
    exact = masked_ring_stats(image, mask, outer=81, inner=51, min_count=50)
    coarse = masked_ring_stats_coarse(image, mask, outer=81, inner=51, factor=5, min_count=50)
    both = np.isfinite(exact[0]) & np.isfinite(coarse[0])
    both[:60], both[-60:], both[:, :60], both[:, -60:] = False, False, False, False
    assert both.sum() > 50_000
    mean_error = np.abs(coarse[0][both] / exact[0][both] - 1)
    std_error = np.abs(coarse[1][both] / exact[1][both] - 1)
    assert np.median(mean_error) < 0.01 and np.percentile(mean_error, 99.9) < 0.05
    assert np.median(std_error) < 0.02 and np.percentile(std_error, 99.9) < 0.1


def test_ring_at_a_band_equals_the_whole_image_there():
    rng = np.random.default_rng(3)
    image = rng.gamma(4.4, 1 / 4.4, (120, 90))
    mask = rng.random(image.shape) < 0.7
    band = np.zeros(image.shape, dtype=bool)
    band[:, 40:43] = True  # a shoreline
    band[0, 0] = band[-1, -1] = True  # corners: windows clipped by the image
    whole = masked_ring_stats(image, mask, outer=15, inner=5)
    only = masked_ring_stats(image, mask, outer=15, inner=5, at=band)
    for full, part in zip(whole, only, strict=True):
        np.testing.assert_allclose(part[band], full[band], rtol=1e-12)
    assert np.isnan(only[0][~band]).all() and (only[2][~band] == 0).all()


def test_tabulated_matches_the_function_and_keeps_nan():
    lookup = tabulated(np.tanh, lo=-3.0, hi=3.0, n=4097)
    x = np.array([-5.0, -3.0, -0.1234, 0.0, 1.7, 3.0, 9.0, np.inf, -np.inf, np.nan])
    out = lookup(x)
    np.testing.assert_allclose(out[:9], np.tanh(np.clip(x[:9], -3, 3)), atol=1e-6)
    assert np.isnan(out[9])


@pytest.mark.parametrize(
    ("metres", "pixel", "expected"),
    [(800, 10, 81), (500, 10, 51), (50, 10, 5), (10, 10, 1), (5, 10, 1)],
)
def test_odd_window(metres, pixel, expected):
    assert odd_window_px(metres, pixel) == expected


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), factor=st.integers(1, 7))
def test_block_sums_are_numpys_block_reduction_to_the_bit(rows, cols, factor):
    # One block wide, numpy merges the block's axes and sums it in another order.
    cols = max(cols, factor + 1)
    rng = np.random.default_rng(rows * 1000 + cols * 10 + factor)
    image = rng.gamma(0.5, 3.0, (rows, cols)) ** 3
    mask = rng.random((rows, cols)) < 0.6
    pad = ((0, (-rows) % factor), (0, (-cols) % factor))

    def reference(values):
        padded = np.pad(values, pad)
        r, c = padded.shape
        return padded.reshape(r // factor, factor, c // factor, factor).sum(axis=(1, 3))

    assert np.array_equal(block_sums(image, factor), reference(image))
    on_mask = np.where(mask, image, 0.0)
    expected = (reference(mask.astype(float)), reference(on_mask), reference(on_mask * on_mask))
    for got, want in zip(masked_block_sums(image, mask, factor), expected, strict=True):
        assert np.array_equal(got, want)


def test_local_median_follows_a_gradient_past_outliers_and_gaps():
    rng = np.random.default_rng(3)
    rows, cols = 200, 300
    trend = np.linspace(0.0, 1.0, cols)[None, :] * np.ones((rows, 1))
    values = trend + rng.normal(0.0, 0.05, (rows, cols))
    values[90:96, 100:160] = 5.0  # a ship: a few percent of its neighbourhood
    mask = np.ones((rows, cols), dtype=bool)
    mask[:, 200:230] = False  # land
    out = local_median(values, mask, block_px=12, stride_px=3, min_samples=20)
    assert np.abs(out - trend)[:, 20:-20].max() < 0.08
    assert abs(out[93, 130] - trend[93, 130]) < 0.03
    assert local_median(values, np.zeros_like(mask), block_px=12) is None


def test_local_median_of_a_window_is_the_whole_rasters():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(300, 260)) + np.linspace(0, 3, 260)[None, :]
    mask = rng.random(values.shape) > 0.4
    whole = local_median(values, mask, block_px=15, stride_px=3, origin=(0, 0))
    for top, left in ((40, 55), (33, 7)):
        part = local_median(
            values[top:, left:], mask[top:, left:], block_px=15, stride_px=3, origin=(top, left)
        )
        margin = 3 * 15
        np.testing.assert_allclose(
            whole[top + margin : -margin, left + margin : -margin],
            part[margin:-margin, margin:-margin],
            rtol=0,
            atol=1e-9,  # the interpolation's fractions, counted from other origins
        )
    with pytest.raises(ValueError, match="divide"):
        local_median(values, mask, block_px=16, stride_px=3)


def test_local_median_of_a_narrow_channel_is_its_own_water():
    # A channel 60 m wide joins the open sea (level 0.01) to a basin (level -0.006)
    # several blocks away: the channel takes the level of its own water, which a window
    # far from the sea sees as the whole raster does (a nearest-block fill would borrow
    # a level from beyond the window's reach).
    rng = np.random.default_rng(5)
    rows, cols = 120, 600
    values = rng.normal(0.0, 0.002, (rows, cols)).astype(np.float32)
    mask = np.zeros((rows, cols), dtype=bool)
    mask[:, :120] = True  # the sea
    values[:, :120] += 0.01
    mask[57:63, 120:480] = True  # the channel
    values[57:63, 120:480] -= 0.006
    mask[:, 480:] = True  # the basin
    values[:, 480:] -= 0.006
    values[0, 0] = np.inf  # not a sample
    whole = local_median(values, mask, block_px=24, stride_px=3)
    window = local_median(values[:, 200:], mask[:, 200:], block_px=24, stride_px=3, origin=(0, 200))
    assert np.isfinite(whole).all() and whole.dtype == np.float32
    assert abs(float(whole[60, 300]) + 0.006) < 0.002
    np.testing.assert_allclose(whole[:, 300:], window[:, 100:], rtol=0, atol=1e-7)
