from __future__ import annotations

import numpy as np
import pytest

from imagery.cfar import cfar_detect, gamma_threshold_factor, k_threshold_factor
from imagery.errors import InputError


@pytest.mark.parametrize("nu", [0.8, 3.0, 20.0])
def test_k_threshold_gives_its_false_alarm_rate(nu):
    rng = np.random.default_rng(1)
    n = 4_000_000
    intensity = rng.gamma(nu, 1 / nu, n) * rng.gamma(4.4, 1 / 4.4, n)
    factor = k_threshold_factor(np.array([nu]), 1e-3, 4.4)[0]
    assert (intensity > factor).mean() == pytest.approx(1e-3, rel=0.1)


def test_gamma_threshold_gives_its_false_alarm_rate():
    rng = np.random.default_rng(2)
    intensity = rng.gamma(4.4, 1 / 4.4, 4_000_000)
    assert (intensity > gamma_threshold_factor(1e-3, 4.4)).mean() == pytest.approx(1e-3, rel=0.1)


def test_k_tends_to_gamma_for_smooth_sea():
    assert k_threshold_factor(np.array([np.inf]), 1e-6, 4.4)[0] == pytest.approx(
        gamma_threshold_factor(1e-6, 4.4)
    )
    assert k_threshold_factor(np.array([0.5]), 1e-6, 4.4)[0] > 3 * gamma_threshold_factor(1e-6, 4.4)


def _sea(shape=(300, 300), seed=0, nu: float | None = 5.0):
    rng = np.random.default_rng(seed)
    texture = rng.gamma(nu, 1 / nu, shape) if nu else 1.0
    return (0.02 * texture * rng.gamma(4.4, 1 / 4.4, shape)).astype(np.float32)


# The two-parameter (Gaussian) CFAR underestimates the speckle tail: SNAP's baseline
# pays for its simplicity with up to 1e-3 false alarms per pixel at a nominal 1e-6.
@pytest.mark.parametrize(
    ("model", "nu", "allowed"),
    [("k", 5.0, 10), ("k", None, 10), ("gamma", None, 10), ("gaussian", None, 150)],
)
def test_planted_ship_found_and_sea_quiet(model, nu, allowed):
    sea = _sea(nu=nu)
    sea[150:153, 100:115] = 2.0  # a 150 m x 30 m ship about 20 dB above the sea
    water = np.ones(sea.shape, dtype=bool)
    result = cfar_detect(
        sea, water, water, pixel_m=10.0, pfa=1e-6, model=model, guard_m=200, background_m=400
    )
    assert result.detected[150:153, 100:115].all()
    assert result.detected.sum() - 45 < allowed


def test_gamma_model_floods_on_textured_sea_where_k_does_not():
    sea = _sea((300, 300), seed=4, nu=2.0)
    water = np.ones(sea.shape, dtype=bool)
    kw = {"pixel_m": 10.0, "pfa": 1e-5, "guard_m": 100, "background_m": 300, "passes": 1}
    k = cfar_detect(sea, water, water, model="k", **kw).detected.sum()
    gamma = cfar_detect(sea, water, water, model="gamma", **kw).detected.sum()
    assert gamma > 10 * max(k, 1)


def test_false_alarms_near_nominal_rate_on_k_sea():
    sea = _sea((400, 400), seed=3, nu=2.0)
    water = np.ones(sea.shape, dtype=bool)
    result = cfar_detect(
        sea,
        water,
        water,
        pixel_m=10.0,
        pfa=1e-3,
        model="k",
        guard_m=100,
        background_m=300,
        passes=1,
    )
    # Estimated (not known) clutter parameters: within a factor of two of nominal.
    assert 0.4e-3 < result.detected.mean() < 2.5e-3


def test_background_excludes_land():
    image = _sea()
    image[:, :100] = 0.5  # bright land on the left
    water = np.zeros(image.shape, dtype=bool)
    water[:, 100:] = True
    result = cfar_detect(image, water, water, pixel_m=10.0, pfa=1e-6, guard_m=200, background_m=400)
    assert result.detected[:, 100:110].sum() < 5


def test_bad_model():
    with pytest.raises(InputError, match="CFAR model"):
        cfar_detect(
            np.ones((10, 10)),
            np.ones((10, 10), bool),
            np.ones((10, 10), bool),
            pixel_m=10,
            model="x",
        )


def test_background_at_the_search_band_only_finds_the_same_targets():
    image = _sea(seed=5)
    image[:, :100] = 0.2 * np.random.default_rng(6).gamma(4.4, 1 / 4.4, (300, 100))
    land = np.zeros(image.shape, dtype=bool)
    land[:, :100] = True
    band = np.zeros(image.shape, dtype=bool)
    band[:, 96:100] = True  # the land's edge
    image[40:43, 97:100] = 3.0  # a bright target against the quay
    kw = {"pixel_m": 10.0, "pfa": 1e-3, "guard_m": 50, "background_m": 150, "passes": 1}
    everywhere = cfar_detect(image, band, land, **kw)
    banded = cfar_detect(image, band, land, background_everywhere=False, **kw)
    assert everywhere.detected[40:43, 97:100].any()
    np.testing.assert_array_equal(banded.detected, everywhere.detected)
    np.testing.assert_allclose(banded.significance[band], everywhere.significance[band])
    assert np.isnan(banded.background_mean[~band]).all()


def test_background_at_the_band_falls_back_like_everywhere():
    # Land a few pixels wide: most rings hold too few land pixels and widen, some
    # still do and take the whole image's land statistics; two passes. The threshold
    # is between whole counts: the box filters of the everywhere path can read 60
    # ring pixels as 59.99999999999997, where the band's summed areas count exactly.
    rng = np.random.default_rng(8)
    image = _sea(seed=7)
    land = np.zeros(image.shape, dtype=bool)
    land[:, 95:100] = True
    land[150:, 60:100] = True
    land[20:28, 20:28] = True  # an islet: too few pixels in either ring
    image[land] = 0.2 * rng.gamma(4.4, 1 / 4.4, int(land.sum()))
    band = land.copy()
    image[40:43, 97:100] = 3.0
    kw = {"pixel_m": 10.0, "pfa": 1e-3, "guard_m": 50, "background_m": 150, "passes": 2}
    everywhere = cfar_detect(image, band, land, min_background_px=59.5, **kw)
    banded = cfar_detect(
        image, band, land, min_background_px=59.5, background_everywhere=False, **kw
    )
    np.testing.assert_array_equal(banded.detected, everywhere.detected)
    np.testing.assert_allclose(banded.significance, everywhere.significance, rtol=1e-6)
    np.testing.assert_allclose(
        banded.background_mean[band], everywhere.background_mean[band], rtol=1e-6
    )
