"""Chips and display stretch: what the analyst sees around each flag."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Transformer
from test_review_data import CRS, NEW, flags_frame, scenes

from imagery.review.chips import (
    chip_window,
    grid_to_true_north_deg,
    ground_m_per_unit,
    render_chip,
)
from imagery.review.display import (
    S1_STRETCH,
    change_limits,
    change_rgba,
    display_raster,
    stretch_for,
    to_rgb8,
)
from imagery.review.styles import COLOURS


@pytest.mark.parametrize("lon", [127.5, 130.6, 131.9])
def test_true_north_matches_meridian_convergence(lon):
    lat = 42.25
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(lon, lat)
    # convergence of the transverse Mercator: tan(gamma) = tan(lon - lon0) sin(lat)
    expected = math.degrees(
        math.atan(math.tan(math.radians(lon - 129.0)) * math.sin(math.radians(lat)))
    )
    # east of the central meridian true north lies west (anticlockwise) of grid north
    assert grid_to_true_north_deg(CRS, x, y) == pytest.approx(-expected, abs=0.02)


def test_ground_scale_of_web_mercator_is_one_over_cos_lat():
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(130.0, 60.0)
    assert ground_m_per_unit("EPSG:3857", x, y) == pytest.approx(0.5, rel=0.01)
    assert ground_m_per_unit(CRS, 630000.0, 4680000.0) == pytest.approx(1.0, abs=0.002)


def test_s1_display_is_db_and_s2_is_scaled_true_colour():
    before, _, _ = scenes("s1")
    disp = display_raster(before)
    assert disp.band_names == ("VV", "VH") and disp.dtype == np.float32
    np.testing.assert_allclose(
        disp.data[0, 50, 150], 10 * np.log10(before.data[0, 50, 150]), rtol=1e-5
    )
    assert np.isnan(disp.data[0, 0, 0])  # invalid border stays invalid
    assert stretch_for(disp) == S1_STRETCH
    s2, _, _ = scenes("s2")
    disp2 = display_raster(s2)
    assert disp2.band_names == ("B04", "B03", "B02", "B08") and disp2.dtype == np.uint16
    assert disp2.data[0, 0, 0] == 0 and disp2.nodata == 0
    assert disp2.data[0, 50, 20] == pytest.approx(s2.band("B04")[50, 20] * 10000, abs=1)


def test_rgb_stretch_clips_and_greys_out_nodata():
    data = np.array([[[-30.0, -25.0, -12.5, 0.0, 5.0, np.nan]]], dtype=np.float32)
    rgb = to_rgb8(data, S1_STRETCH)
    assert rgb.shape == (1, 6, 3)
    assert rgb[0, :5, 0].tolist() == [0, 0, 128, 255, 255]
    assert rgb[0, 5].tolist() == [48, 48, 48]


def test_change_limits_leave_most_pixels_clear():
    rng = np.random.default_rng(1)
    change = rng.normal(0, 1, (300, 300)).astype(np.float32)
    change[100:110, 100:110] = 12.0
    clear, top = change_limits(change)
    assert 0 < clear < top
    rgba = change_rgba(change, clear=clear, max_abs=top)
    assert (rgba[..., 3] == 0).mean() > 0.85
    assert rgba[105, 105].tolist()[:3] == [178, 24, 43] and rgba[105, 105, 3] > 200
    assert change_limits(np.zeros((5, 5))) == (0.5, 1.0)


def test_chip_is_centred_on_the_flag_with_outline_and_scale_bar():
    _, after, _ = scenes("s1")
    flag = flags_frame(NEW[:1]).iloc[0]
    disp = display_raster(after)
    image = render_chip(
        disp,
        S1_STRETCH,
        flag.geometry,
        window_m=600,
        size_px=192,
        colour=COLOURS["vessel"],
        caption="#1 after",
        north_deg=-1.0,
    )
    pixels = np.asarray(image)
    assert pixels.shape == (192, 192, 3)
    # the planted ship (1.5 linear = +1.8 dB) is white at the centre
    assert pixels[96, 96].tolist() == [255, 255, 255]
    outline = np.all(pixels == [217, 95, 2], axis=-1)
    rows, cols = np.nonzero(outline)
    assert abs(rows.mean() - 96) < 4 and abs(cols.mean() - 96) < 4
    # 180 m ship in a 600 m chip: the outline spans ~ 180/600 of the width
    assert (cols.max() - cols.min()) == pytest.approx(192 * 180 / 600, abs=6)
    # the scale bar: a white bar near the bottom-left corner
    assert (np.all(pixels[170:185, 8:60] == 255, axis=-1)).any()


def test_chip_window_pads_past_the_edge():
    _, after, _ = scenes("s1")
    row0, col0, side = chip_window(after, 630000.0, 4680000.0, 600)
    assert (row0, col0, side) == (-30, -30, 60)
    disp = display_raster(after)
    flag = flags_frame([("vessel", 1, 1, 2, 2)]).iloc[0]
    image = render_chip(
        disp,
        S1_STRETCH,
        flag.geometry,
        window_m=600,
        size_px=120,
        colour=COLOURS["vessel"],
        caption="edge",
        north_deg=0.0,
    )
    assert np.asarray(image)[70, 20].tolist() == [48, 48, 48]  # off the raster: nodata grey
