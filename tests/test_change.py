from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import from_origin
from scipy import ndimage

from imagery.change import effective_looks, s1_change, s2_change
from imagery.clouds import change_veils
from imagery.errors import DetectionError
from imagery.raster import Raster

TRANSFORM = from_origin(600000.0, 4700000.0, 10.0, 10.0)


def _s1(data):
    return Raster(
        data.astype(np.float32),
        TRANSFORM,
        "EPSG:32652",
        nodata=float("nan"),
        sensor="s1",
        band_names=("VV", "VH")[: data.shape[0]],
    )


@pytest.mark.parametrize("looks", [1.0, 4.4, 20.0])
def test_effective_looks_recovered(looks):
    rng = np.random.default_rng(0)
    x = rng.gamma(looks, 1 / looks, 200_000)
    y = rng.gamma(looks, 1 / looks, 200_000)
    assert effective_looks(np.log(y / x)) == pytest.approx(looks, rel=0.1)


def _s2(data):
    """Reflectance B02 B03 B04 B08, then SCL when a fifth band is given."""
    return Raster(
        data.astype(np.float32),
        TRANSFORM,
        "EPSG:32652",
        sensor="s2",
        band_names=("B02", "B03", "B04", "B08", "SCL")[: data.shape[0]],
    )


def _pair(seed=0, shape=(200, 200)):
    rng = np.random.default_rng(seed)
    mean = np.exp(rng.normal(np.log(0.05), 0.8, size=shape))  # textured land, same both dates
    before = mean * rng.gamma(4.4, 1 / 4.4, (2, *shape))
    after = mean * rng.gamma(4.4, 1 / 4.4, (2, *shape))
    return before, after


def test_s1_no_change_is_calibrated():
    before, after = _pair()
    change = s1_change(_s1(before), _s1(after * 1.5))  # +1.8 dB calibration difference
    assert change.gain_db[0] == pytest.approx(1.76, abs=0.1)
    z = change.z[change.valid]
    # Under no change the score is standard normal: tail rates match.
    assert np.mean(z > 3.09) < 3e-3
    assert abs(np.median(z)) < 0.1


def test_s1_increase_found_decrease_negative():
    before, after = _pair(1)
    after[:, 50:56, 50:60] *= 20.0  # a new stack: +13 dB
    after[:, 120:126, 120:130] /= 20.0  # gone
    change = s1_change(_s1(before), _s1(after))
    assert np.median(change.z[51:55, 51:59]) > 6
    assert np.median(change.z[121:125, 121:129]) < -6
    assert change.magnitude[52, 55] > 8


def test_s2_change_found_under_cloud_masked():
    rng = np.random.default_rng(2)
    base = rng.uniform(0.05, 0.2, (4, 150, 150))
    noise = lambda: rng.normal(0, 0.003, base.shape)  # noqa: E731
    before = base + noise()
    after = base * 1.03 + 0.002 + noise()
    after[:, 40:46, 40:52] = [[[0.3]], [[0.1]], [[0.05]], [[0.2]]]  # red containers
    scl = np.full((1, 150, 150), 5.0)
    scl_after = scl.copy()
    scl_after[0, 100:120, 100:120] = 9  # cloud
    after[:, 100:120, 100:120] = 0.7
    b = _s2(np.concatenate([before, scl]))
    a = b.replace(data=np.concatenate([after, scl_after]).astype(np.float32))
    change = s2_change(b, a)
    assert np.median(change.z[41:45, 41:51]) > 5
    assert not change.valid[105:115, 105:115].any()
    assert np.mean(change.z[change.valid] > 4) < 0.01


def test_s2_change_tested_in_extent_beyond_the_clear_pixels():
    """Water in a cloud's shadow on the after date: tested when asked (a ship there still
    shows), with the radiometric match and noise taken from the clear pixels only."""
    rng = np.random.default_rng(5)
    base = rng.uniform(0.05, 0.2, (4, 150, 150))
    before = base + rng.normal(0, 0.003, base.shape)
    after = base + rng.normal(0, 0.003, base.shape)
    shadow = (slice(20, 80), slice(20, 80))
    after[(slice(None), *shadow)] *= 0.6  # darker, in shadow
    after[:, 45:48, 30:45] = 0.25  # a hull in the shadow
    scl = np.full((1, 150, 150), 6.0)
    scl_after = scl.copy()
    scl_after[(0, *shadow)] = 3
    b = _s2(np.concatenate([before, scl]))
    a = b.replace(data=np.concatenate([after, scl_after]).astype(np.float32))
    clear = scl[0] != 3
    clear &= scl_after[0] != 3
    strict = s2_change(b, a, usable=clear)
    assert not strict.valid[shadow].any()
    wide = s2_change(b, a, usable=clear, extent=np.ones((150, 150), dtype=bool))
    assert wide.valid[shadow].all()
    assert np.median(wide.z[46, 32:43]) > 5
    # The match and noise come from the clear pixels: the test is the same away from
    # the shadow (up to the few clear pixels at its edge left out of the fit).
    away = np.ones((150, 150), dtype=bool)
    away[16:84, 16:84] = False
    assert np.median(np.abs(wide.z[away] - strict.z[away])) < 0.05
    np.testing.assert_allclose(wide.gain_db, strict.gain_db, atol=0.01)


def test_veils_of_cloud_and_shadow_found_from_the_pair_without_scl():
    """A soft haze (40 ha) on the after date and a cloud's shadow on the before date are
    veils; a new white stack (1 ha) and a new dark-red roof are not."""
    rng = np.random.default_rng(9)
    size = 300
    soil = np.array([0.08, 0.10, 0.14, 0.25])[:, None, None]
    before = soil + rng.normal(0, 0.004, (4, size, size))
    after = soil + rng.normal(0, 0.004, (4, size, size))
    rows, cols = np.mgrid[:size, :size]
    haze = np.exp(-(((rows - 80) ** 2 + (cols - 80) ** 2) / (2 * 30.0**2)))
    after += 0.35 * haze * (0.45 - soil)  # cloud 0.45, flat
    shade = ndimage.gaussian_filter(((rows - 220) ** 2 + (cols - 80) ** 2 < 40**2) * 1.0, 4)
    before *= 1 - 0.5 * shade
    after[:, 200:210, 200:210] = 0.45  # a new white stack
    after[:, 100:110, 230:240] = np.array([0.05, 0.06, 0.20, 0.25])[:, None, None]
    veils = change_veils(_s2(before), _s2(after))
    assert veils[80, 80] and veils[220, 80]
    assert not veils[195:215, 195:215].any() and not veils[95:115, 225:245].any()


def test_grids_must_match():
    before, after = _pair()
    other = _s1(after).replace(transform=from_origin(600010.0, 4700000.0, 10.0, 10.0))
    with pytest.raises(DetectionError, match="co-register"):
        s1_change(_s1(before), other)
