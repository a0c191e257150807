"""Synthetic inputs of a review package (imported by the other test_review_* files).

A 200 x 200 px scene at 10 m in UTM 52N near Rajin: land on the west, sea on the
east, three new objects in the after scene (two vessels, one cargo stack on the
quay) and one vessel that left.
"""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from imagery.aoi import AOI
from imagery.raster import Raster
from imagery.sensors import to_db

CRS = "EPSG:32652"
ORIGIN = (630000.0, 4680000.0)
RES = 10.0
SIZE = 200
BEFORE = datetime(2024, 3, 1, 21, 30, tzinfo=UTC)
AFTER = datetime(2024, 3, 13, 21, 30, tzinfo=UTC)

#: (kind, centre col, centre row, length px, width px) of the planted flags.
NEW = [
    ("vessel", 120, 60, 18, 4),
    ("vessel", 160, 140, 12, 3),
    ("cargo", 70, 100, 5, 5),
]
GONE = [("vessel", 130, 170, 15, 4)]


def _box(col: float, row: float, length: float, width: float):
    x = ORIGIN[0] + col * RES
    y = ORIGIN[1] - row * RES
    return shapely.box(
        x - length * RES / 2, y - width * RES / 2, x + length * RES / 2, y + width * RES / 2
    )


def flags_frame(spec, when_before=BEFORE, when_after=AFTER) -> gpd.GeoDataFrame:
    """A detections-like GeoDataFrame (imagery.schema.DETECTION_FIELDS) for ``spec``."""
    geoms = [_box(c, r, length, w) for _, c, r, length, w in spec]
    to_geo = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    cx = np.array([g.centroid.x for g in geoms])
    cy = np.array([g.centroid.y for g in geoms])
    lon, lat = to_geo.transform(cx, cy) if len(geoms) else ([], [])
    return gpd.GeoDataFrame(
        {
            "id": np.arange(1, len(spec) + 1),
            "kind": [s[0] for s in spec],
            "score": np.linspace(0.9, 0.5, len(spec)) if spec else [],
            "area_m2": [g.area for g in geoms],
            "length_m": [s[3] * RES for s in spec],
            "width_m": [s[4] * RES for s in spec],
            "lon": lon,
            "lat": lat,
            "before_time": [when_before.isoformat()] * len(spec),
            "after_time": [when_after.isoformat()] * len(spec),
            "status": ["new"] * len(spec),
        },
        geometry=geoms,
        crs=CRS,
    )


def _paint(img: np.ndarray, spec, value: float) -> None:
    for _, c, r, length, w in spec:
        img[r - w // 2 : r + (w + 1) // 2, c - length // 2 : c + (length + 1) // 2] = value


def scenes(sensor: str = "s1", *, before=BEFORE, after=AFTER):
    """Prepared before/after rasters and a change raster, on one grid."""
    rng = np.random.default_rng(7)
    transform = from_origin(*ORIGIN, RES, RES)
    land = np.zeros((SIZE, SIZE), dtype=bool)
    land[:, :90] = True
    if sensor == "s1":
        base = np.where(land, 0.25, 0.01).astype(np.float32)
        b = base * rng.gamma(4.4, 1 / 4.4, size=(2, SIZE, SIZE)).astype(np.float32)
        a = base * rng.gamma(4.4, 1 / 4.4, size=(2, SIZE, SIZE)).astype(np.float32)
        _paint(b[0], GONE, 1.5)
        _paint(a[0], NEW, 1.5)
        b[:, :5, :] = np.nan  # an invalid border
        names = ("VV", "VH")
        change = to_db(a[0]) - to_db(b[0])
    else:
        refl = np.where(land, 0.15, 0.03).astype(np.float32)
        b = np.stack([refl + rng.normal(0, 0.005, (SIZE, SIZE)) for _ in range(4)])
        a = np.stack([refl + rng.normal(0, 0.005, (SIZE, SIZE)) for _ in range(4)])
        b, a = b.astype(np.float32), a.astype(np.float32)
        for k in range(4):
            _paint(b[k], GONE, 0.25)
            _paint(a[k], NEW, 0.25)
        b[:, :5, :] = np.nan
        names = ("B02", "B03", "B04", "B08")
        change = a[2] - b[2]
    common = {"transform": transform, "crs": CRS, "nodata": float("nan"), "sensor": sensor}
    before_r = Raster(data=b, time=before, band_names=names, **common)
    after_r = Raster(data=a, time=after, band_names=names, **common)
    change_r = Raster(
        data=np.stack([change, np.abs(change)]).astype(np.float32),
        time=after,
        band_names=("change", "magnitude"),
        **{k: v for k, v in common.items() if k != "sensor"},
    )
    return before_r, after_r, change_r


def aoi() -> AOI:
    to_geo = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    box = shapely.box(ORIGIN[0] + 200, ORIGIN[1] - 1800, ORIGIN[0] + 1900, ORIGIN[1] - 300)
    geom = shapely.transform(box, lambda xy: np.column_stack(to_geo.transform(xy[:, 0], xy[:, 1])))
    return AOI(
        id="testport",
        name="Test Port",
        country="Nowhere",
        locode=None,
        reason="synthetic test scene",
        geometry=geom,
    )


def run_inputs(sensor: str = "s1", *, new=NEW, gone=GONE, before=BEFORE, after=AFTER) -> dict:
    """Keyword arguments of :func:`imagery.review.write_run` (all but run_dir)."""
    b, a, c = scenes(sensor, before=before, after=after)
    return {
        "before": b,
        "after": a,
        "change": c,
        "detections": flags_frame(new, before, after),
        "departed": flags_frame(gone, before, after),
        "aoi": aoi(),
        "parameters": {
            "detector": {"pfa": 1e-6, "window_m": 800},
            "coreg": {"shift_px": [0.1, -0.2]},
        },
    }


def test_synthetic_inputs_are_consistent():
    inputs = run_inputs()
    assert inputs["before"].shape == inputs["after"].shape == inputs["change"].shape
    assert len(inputs["detections"]) == 3 and len(inputs["departed"]) == 1
    assert inputs["aoi"].geometry_in(CRS).contains(inputs["detections"].union_all())
