from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from scipy import ndimage
from skimage.draw import polygon as draw_polygon
from skimage.filters import apply_hysteresis_threshold

from imagery.objects import (
    hull_rectangles,
    hysteresis_threshold,
    label_maxima,
    label_objects,
    label_sums,
    measure_objects,
    split_at_saddles,
)

TRANSFORM = from_origin(600000.0, 4700000.0, 10.0, 10.0)


def _ship(shape, centre, length_px, width_px, heading_deg):
    """A filled rectangle; heading clockwise from north (up)."""
    t = np.radians(heading_deg)
    along = np.array([-np.cos(t), np.sin(t)])  # (row, col) step along the heading
    across = np.array([np.sin(t), np.cos(t)])
    c = np.array(centre, dtype=float)
    corners = [
        c + sa * along * length_px / 2 + sc * across * width_px / 2
        for sa, sc in ((1, 1), (1, -1), (-1, -1), (-1, 1))
    ]
    rr, cc = draw_polygon([p[0] for p in corners], [p[1] for p in corners], shape)
    mask = np.zeros(shape, dtype=bool)
    mask[rr, cc] = True
    return mask


@pytest.mark.parametrize("heading", [0, 30, 60, 90, 135])
def test_length_width_heading_of_a_rotated_ship(heading):
    mask = _ship((200, 200), (100, 100), 30, 5, heading)
    labels, n = label_objects(mask)
    frame = measure_objects(labels, n, transform=TRANSFORM, crs="EPSG:32652")
    row = frame.iloc[0]
    assert row.length_m == pytest.approx(300, rel=0.08)
    assert row.width_m == pytest.approx(50, rel=0.25)
    assert min(abs(row.heading_deg - heading), 180 - abs(row.heading_deg - heading)) < 4


def test_polygon_area_and_centroid_lonlat():
    mask = np.zeros((50, 50), dtype=bool)
    mask[10:14, 20:30] = True
    labels, n = label_objects(mask)
    frame = measure_objects(
        labels, n, transform=TRANSFORM, crs="EPSG:32652", values={"v": mask * 3.0}
    )
    row = frame.iloc[0]
    assert row.area_m2 == pytest.approx(4000.0, rel=1e-3)  # ground metres: UTM scale error
    assert row.geometry.area == pytest.approx(4000.0)
    assert row.x == pytest.approx(600250.0) and row.y == pytest.approx(4699880.0)
    assert 130 < row.lon < 131 and 42 < row.lat < 43
    assert row.v_max == 3.0


@pytest.mark.parametrize("heading", [0, 30, 90, 135])
def test_a_hull_is_drawn_as_the_rectangle_it_measures(heading):
    import shapely

    mask = _ship((200, 200), (100, 100), 30, 5, heading)
    labels, n = label_objects(mask)
    frame = measure_objects(labels, n, transform=TRANSFORM, crs="EPSG:32652")
    grid = type("Grid", (), {"transform": TRANSFORM, "crs": "EPSG:32652", "shape": (200, 200)})
    (rectangle,) = hull_rectangles(frame, grid)
    row = frame.iloc[0]
    # Map units are ground metres to within UTM's scale error.
    assert rectangle.area == pytest.approx(row.length_m * row.width_m, rel=1e-3)
    centre = rectangle.centroid
    assert (centre.x, centre.y) == pytest.approx((row.x, row.y))
    # The long side lies along the heading.
    ring = np.asarray(rectangle.exterior.coords)[:3]
    side = ring[1] - ring[0] if np.hypot(*(ring[1] - ring[0])) > 100 else ring[2] - ring[1]
    bearing = np.degrees(np.arctan2(side[0], side[1])) % 180
    assert min(abs(bearing - heading), 180 - abs(bearing - heading)) < 4
    outline = row.geometry
    assert shapely.intersection(rectangle, outline).area > 0.8 * rectangle.area


@pytest.mark.parametrize("heading", [30, 120])
def test_a_grid_whose_rows_run_north_measures_the_same_ship(heading):
    # The same scene stored bottom row first (a positive y pixel size): the ship on the
    # ground, its heading and its centre are unchanged.
    mask = _ship((200, 200), (100, 80), 30, 5, heading)
    south_up = Affine(10.0, 0.0, TRANSFORM.c, 0.0, 10.0, TRANSFORM.f - 200 * 10.0)
    frames = []
    for grid_mask, transform in ((mask, TRANSFORM), (mask[::-1], south_up)):
        labels, n = label_objects(grid_mask)
        frames.append(measure_objects(labels, n, transform=transform, crs="EPSG:32652").iloc[0])
    north, south = frames
    assert south.heading_deg == pytest.approx(north.heading_deg, abs=1e-6)
    assert (south.x, south.y) == pytest.approx((north.x, north.y))
    assert south.geometry.equals(north.geometry)


def test_draw_hulls_keeps_the_outline_of_a_row_it_cannot_draw():
    import geopandas as gpd
    from shapely.geometry import box

    from imagery.objects import draw_hulls

    grid = type("Grid", (), {"transform": TRANSFORM, "crs": "EPSG:32652", "shape": (100, 100)})
    outline = box(600000.0, 4699000.0, 600100.0, 4699030.0)
    frame = gpd.GeoDataFrame(
        {
            "x": [600050.0, np.nan, 600050.0],
            "y": [4699015.0, 4699015.0, 4699015.0],
            "length_m": [90.0, 90.0, 0.0],
            "width_m": [20.0, 20.0, 20.0],
            "heading_deg": [90.0, 90.0, 90.0],
        },
        geometry=[outline] * 3,
        crs="EPSG:32652",
    )
    drawn = draw_hulls(frame, grid)
    assert drawn.geometry.iloc[0].area == pytest.approx(1800.0, rel=1e-3)
    assert drawn.geometry.iloc[1].equals(outline) and drawn.geometry.iloc[2].equals(outline)
    assert draw_hulls(frame, grid, rows=np.zeros(3, bool)).geometry.iloc[0].equals(outline)


def test_hull_rectangles_are_in_ground_metres_on_web_mercator():
    # At 60 degrees north a Web Mercator unit is half a metre on the ground.
    transform = from_origin(0.0, 8399737.9, 10.0, 10.0)
    grid = type("Grid", (), {"transform": transform, "crs": "EPSG:3857", "shape": (100, 100)})
    frame = pd.DataFrame(
        {
            "x": [500.0],
            "y": [8399237.9],
            "length_m": [100.0],
            "width_m": [20.0],
            "heading_deg": [0.0],
        }
    )
    (rectangle,) = hull_rectangles(frame, grid)
    minx, miny, maxx, maxy = rectangle.bounds
    assert maxy - miny == pytest.approx(200.0, rel=0.01)  # 100 m north-south
    assert maxx - minx == pytest.approx(40.0, rel=0.01)


def test_no_objects():
    labels, n = label_objects(np.zeros((10, 10), dtype=bool))
    assert n == 0
    assert measure_objects(labels, n, transform=TRANSFORM, crs="EPSG:32652").empty


def test_weighted_moments_undo_the_point_spread():
    from scipy import ndimage

    ship = _ship((200, 200), (100, 100), 20, 4, 45).astype(float)  # 200 m x 40 m
    blurred = ndimage.gaussian_filter(ship * 100.0, sigma=1.5)  # PSF sigma 15 m
    footprint = blurred > 1.0  # a low threshold blooms the footprint
    labels, n = label_objects(footprint)
    plain = measure_objects(labels, n, transform=TRANSFORM, crs="EPSG:32652").iloc[0]
    weighted = measure_objects(
        labels, n, transform=TRANSFORM, crs="EPSG:32652", weights=blurred, psf_sigma_m=15.0
    ).iloc[0]
    assert plain.width_m > 60  # bloomed
    assert weighted.length_m == pytest.approx(200, rel=0.08)
    assert weighted.width_m == pytest.approx(40, rel=0.25)


@pytest.mark.parametrize("heading", [0, 30, 45, 60, 90, 135])
@pytest.mark.parametrize(("beam_px", "width_m", "tolerance_m"), [(3, 30.0, 7.5), (1, 10.0, 0.5)])
def test_the_blur_comes_off_a_hull_alike_at_any_heading(heading, beam_px, width_m, tolerance_m):
    # 150 m long under a 15 m PSF. A 10 m beam's blurred width is all PSF: it is one
    # pixel wide. Taking the PSF off the x and y moments left such hulls 0 m wide when
    # diagonal (and the size filter dropped them) while axis-aligned ones kept a pixel;
    # the principal axes treat all headings alike.
    ship = _ship((200, 200), (100, 100), 15, beam_px, heading).astype(float)
    blurred = ndimage.gaussian_filter(ship * 100.0, sigma=1.5)
    labels, n = label_objects(blurred > 1.0)
    row = measure_objects(
        labels, n, transform=TRANSFORM, crs="EPSG:32652", weights=blurred, psf_sigma_m=15.0
    ).iloc[0]
    assert row.width_m == pytest.approx(width_m, abs=tolerance_m)
    assert row.length_m == pytest.approx(150, rel=0.12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.integers(1, 40), cols=st.integers(1, 40))
def test_label_reductions_and_hysteresis_are_scipys_and_skimages(seed, rows, cols):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(rows, cols))
    image[rng.random(image.shape) < 0.05] = np.nan
    low, high = rng.normal(size=2)  # in either order: skimage clips low to high
    np.testing.assert_array_equal(
        hysteresis_threshold(image, low, high), apply_hysteresis_threshold(image, low, high)
    )
    labels = np.where(rng.random(image.shape) < 0.5, 0, rng.integers(1, 6, image.shape))
    labels = labels.astype(np.int32)
    index = np.arange(1, 8)  # labels 6 and 7 have no pixel
    values = rng.gamma(1.0, 1.0, image.shape) - 0.5
    for v in (values, values.astype(np.float32), values > 0):
        assert np.array_equal(label_sums(v, labels, 7), ndimage.sum_labels(v, labels, index))
    assert np.array_equal(label_maxima(values, labels, 7), ndimage.maximum(values, labels, index))


def _humps(separation_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian humps of change score (peak 8) ``separation_px`` apart along a row,
    as one object (the score above 2), and a lone hump as another."""
    rows, cols = np.mgrid[:60, :90]
    score = np.zeros((60, 90))
    for r, c in ((20, 20), (20, 20 + separation_px), (48, 70)):
        score += 8.0 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 3.0**2))
    labels, _ = ndimage.label(score > 2.0)
    return labels, score


def test_split_at_saddles_cuts_two_humps_joined_by_a_ridge_and_keeps_one_whole():
    labels, score = _humps(12)
    assert labels.max() == 2  # the joined pair and the lone hump
    parts, n = split_at_saddles(labels, score, min_distance_px=3)
    assert n == 3
    # Each hump's peak lies in its own part, the cut between them near the saddle.
    left, right, lone = parts[20, 20], parts[20, 32], parts[48, 70]
    assert len({left, right, lone}) == 3 and 0 not in (left, right, lone)
    assert (parts[20, 21:26] == left).all() and (parts[20, 27:32] == right).all()
    # Parts cover the objects exactly, and never straddle two objects.
    assert ((parts > 0) == (labels > 0)).all()
    for part in range(1, n + 1):
        assert len(np.unique(labels[parts == part])) == 1


def test_split_at_saddles_leaves_humps_closer_than_the_spacing_whole():
    labels, score = _humps(12)
    parts, n = split_at_saddles(labels, score, min_distance_px=15)
    assert n == 2 and parts[20, 20] == parts[20, 32]


def test_split_at_saddles_of_nothing_is_nothing():
    parts, n = split_at_saddles(np.zeros((5, 5), dtype=int), np.ones((5, 5)), min_distance_px=2)
    assert n == 0 and not parts.any()
