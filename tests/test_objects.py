from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import from_origin
from skimage.draw import polygon as draw_polygon

from imagery.objects import label_objects, measure_objects

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
