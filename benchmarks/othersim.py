"""An independent port-scene simulator: a second opinion on portwatch's detector.

Written without reading ``imagery.simulate``, from first principles of how Sentinel-1 and
Sentinel-2 see a port, so that detection figures measured on it check the detector
against physics it was not tuned on. One seed draws a port (an engineered coastline of
quays with jogs and docks, natural stretches with beaches, piers, sometimes a
breakwater, container yards, buildings, vegetation), ships at berth and at anchor, and
container stacks, on two dates; :func:`simulate` renders both dates for one sensor.
The same seed gives the same port and traffic for both sensors.

Geometry lives in a local metric frame (x east, y north, origin at the scene's
south-west corner). Every date is painted on a 2.5 m grid (4 x oversampled), the after
date is shifted there by the misregistration, and the fine grid is integrated over
10 m pixels; sea, atmosphere, speckle and noise are then drawn per date at 10 m.

Sentinel-1 (IW GRD, linear sigma0, VV and VH)
    Sea: a wind-dependent mean (a CMOD-like log law in wind speed), sheltered near the
    shore, K-distributed through a gamma texture carrying swell, with occasional slicks.
    Land: per cover class with a log-normal texture and a small change between dates.
    Every raised object is a prism seen at the pass's incidence angle: its top lays
    over towards the sensor by h / tan(theta), it shadows h tan(theta) behind it, and
    its walls that face the sensor make a dihedral with the ground or the sea, bright
    within a lobe around the wall's normal (quay walls, hulls, stacks, buildings).
    Ships and cranes carry deterministic point scatterers (not speckled). Each look's
    complex image is the reflectivity's circular Gaussian field plus the points,
    band-limited by a Hamming-weighted spectrum (about 20 m x 22 m resolution); 4-5
    looks are averaged, thermal noise (NESZ -27 to -22 dB) is added and, on some
    seeds, subtracted again (noise-removed products).
Sentinel-2 (L2A reflectance, B02 B03 B04 B08 B11)
    Material spectra (clear to turbid water, concrete, asphalt, soil, vegetation, roofs,
    hull paints, painted containers); sun shadows of every prism; water with turbidity,
    glint, whitecaps and surf; haze and small cumulus with their shadows; per-band
    gains between dates; a Gaussian PSF, B11 integrated at 20 m; noise. An SCL band on
    some seeds, at 20 m, with Sen2Cor's usual mistakes (white decks as cloud, dark
    hulls as water). Half the seeds deliver uint16 digital numbers, half float.

Truth is on the before grid (the true geography): the after raster's content is offset
by :attr:`OtherPair.after_offset_m` from it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
from affine import Affine
from numpy.typing import ArrayLike
from rasterio import features
from rasterio.crs import CRS
from rasterio.transform import from_origin
from scipy import ndimage, special
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import unary_union

from imagery.raster import Raster

__all__ = ["OtherPair", "make_layout", "make_traffic", "simulate"]

PIXEL_M = 10.0
OVERSAMPLE = 4
FINE_M = PIXEL_M / OVERSAMPLE
MARGIN_PX = 16
S1_NAMES = ("VV", "VH")
S2_NAMES = ("B02", "B03", "B04", "B08", "B11")
EPSG_CHOICES = (32652, 32631, 32617, 32633, 32650, 32736, 32720)

# Land cover classes of the fine grid.
WATER, PAVED, YARD, BARE, VEG, ROOF, ROCK, PIER, SAND, ROAD = range(10)

#: Surface reflectance of materials, (B02, B03, B04, B08, B11).
SPECTRA: dict[str, tuple[float, ...]] = {
    "water_clear": (0.045, 0.038, 0.020, 0.012, 0.004),
    "water_turbid": (0.070, 0.095, 0.085, 0.030, 0.010),
    "paved": (0.12, 0.13, 0.14, 0.17, 0.21),
    "yard": (0.16, 0.17, 0.18, 0.21, 0.25),
    "bare": (0.08, 0.11, 0.15, 0.22, 0.30),
    "vegetation": (0.03, 0.065, 0.04, 0.33, 0.16),
    "rock": (0.12, 0.13, 0.14, 0.18, 0.22),
    "pier": (0.16, 0.18, 0.19, 0.22, 0.26),
    "sand": (0.16, 0.19, 0.22, 0.27, 0.33),
    "asphalt": (0.07, 0.08, 0.09, 0.11, 0.13),
    "roof_light": (0.30, 0.32, 0.33, 0.36, 0.36),
    "roof_dark": (0.07, 0.08, 0.09, 0.12, 0.13),
    "roof_red": (0.06, 0.07, 0.16, 0.26, 0.30),
    "roof_blue": (0.13, 0.11, 0.08, 0.12, 0.12),
}
#: Hull and deck paints seen from above.
PAINTS: dict[str, tuple[float, ...]] = {
    "black": (0.030, 0.030, 0.032, 0.040, 0.035),
    "dark_grey": (0.065, 0.068, 0.070, 0.080, 0.080),
    "grey": (0.14, 0.15, 0.15, 0.17, 0.17),
    "red": (0.05, 0.05, 0.17, 0.27, 0.30),
    "green": (0.05, 0.10, 0.06, 0.12, 0.10),
    "white": (0.48, 0.50, 0.50, 0.52, 0.44),
    "blue": (0.12, 0.09, 0.05, 0.06, 0.05),
    "rust": (0.06, 0.07, 0.10, 0.17, 0.22),
}
#: Painted containers.
CONTAINERS: tuple[tuple[float, ...], ...] = (
    (0.06, 0.06, 0.20, 0.28, 0.30),  # red
    (0.14, 0.10, 0.06, 0.08, 0.07),  # blue
    (0.05, 0.12, 0.07, 0.16, 0.13),  # green
    (0.42, 0.44, 0.44, 0.47, 0.40),  # white
    (0.06, 0.13, 0.33, 0.40, 0.40),  # orange
    (0.08, 0.26, 0.33, 0.42, 0.40),  # yellow
    (0.15, 0.16, 0.16, 0.18, 0.18),  # grey
    (0.07, 0.08, 0.11, 0.18, 0.22),  # brown
    (0.08, 0.14, 0.13, 0.12, 0.09),  # teal
)
CLOUD = np.array([0.46, 0.46, 0.47, 0.49, 0.36], dtype=np.float32)
HAZE = np.array([0.050, 0.035, 0.025, 0.012, 0.004], dtype=np.float32)
#: Share of each band's reflectance left in a sun shadow (the diffuse sky light).
SHADOW_KEEP = np.array([0.40, 0.33, 0.28, 0.22, 0.20], dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class VesselClass:
    """How often a type of ship comes, its length range and freeboard (m), its deck
    paints (names of ``PAINTS``) and its extra hull backscatter (dB)."""

    share: float
    lengths: tuple[float, float]
    freeboard: tuple[float, float]
    decks: tuple[str, ...]
    hull_db: float = 0.0


VESSEL_CLASSES: dict[str, VesselClass] = {
    "container": VesselClass(
        0.28, (120, 300), (8, 14), ("grey", "blue", "red", "green", "dark_grey"), 1.0
    ),
    "tanker": VesselClass(0.2, (80, 280), (4, 12), ("red", "green", "grey", "rust"), -2.0),
    "bulk": VesselClass(0.2, (100, 260), (4, 12), ("rust", "grey", "red", "black", "dark_grey")),
    "general": VesselClass(0.16, (60, 160), (5, 9), tuple(PAINTS)),
    "roro": VesselClass(0.08, (120, 220), (20, 30), ("white", "white", "grey"), 3.0),
    "supply": VesselClass(0.08, (40, 90), (3, 6), ("red", "blue", "white", "black")),
}
VESSEL_TYPES = tuple(VESSEL_CLASSES)
VESSEL_TYPE_P = tuple(c.share for c in VESSEL_CLASSES.values())


# -- grids and rasterising ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Grid:
    """A north-up grid of the local frame: top-left corner, pixel side, shape."""

    left: float
    top: float
    res: float
    shape: tuple[int, int]

    @property
    def transform(self) -> Affine:
        return from_origin(self.left, self.top, self.res, self.res)


Window = tuple[tuple[slice, slice], np.ndarray]


def _grids(size_px: int) -> tuple[Grid, Grid]:
    """The 10 m grid and the fine grid, both padded by ``MARGIN_PX`` pixels."""
    margin = MARGIN_PX * PIXEL_M
    n = size_px + 2 * MARGIN_PX
    top = size_px * PIXEL_M + margin
    coarse = Grid(-margin, top, PIXEL_M, (n, n))
    fine = Grid(-margin, top, FINE_M, (n * OVERSAMPLE, n * OVERSAMPLE))
    return coarse, fine


def _window(geom: BaseGeometry, grid: Grid) -> Window | None:
    """The window of ``grid`` around ``geom`` and the mask of its pixels there."""
    if geom is None or geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    c0 = max(math.floor((minx - grid.left) / grid.res), 0)
    c1 = min(math.ceil((maxx - grid.left) / grid.res) + 1, grid.shape[1])
    r0 = max(math.floor((grid.top - maxy) / grid.res), 0)
    r1 = min(math.ceil((grid.top - miny) / grid.res) + 1, grid.shape[0])
    if c1 <= c0 or r1 <= r0:
        return None
    transform = from_origin(grid.left + c0 * grid.res, grid.top - r0 * grid.res, grid.res, grid.res)
    mask = features.rasterize(
        [(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=transform, fill=0, dtype="uint8"
    ).astype(bool)
    if not mask.any():
        return None
    return (slice(r0, r1), slice(c0, c1)), mask


def _rasterize(geoms: list[BaseGeometry], grid: Grid) -> np.ndarray:
    shapes = [(g, 1) for g in geoms if g is not None and not g.is_empty]
    if not shapes:
        return np.zeros(grid.shape, dtype=bool)
    return features.rasterize(
        shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="uint8"
    ).astype(bool)


def _centres(grid: Grid, win: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = win
    x = grid.left + (np.arange(cols.start, cols.stop) + 0.5) * grid.res
    y = grid.top - (np.arange(rows.start, rows.stop) + 0.5) * grid.res
    return np.meshgrid(x, y)


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over k x k blocks of the last two axes (area integration)."""
    *lead, h, w = a.shape
    return a.reshape(*lead, h // k, k, w // k, k).mean(axis=(-3, -1))


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma: float | tuple[float, float]
) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with Gaussian correlation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return ((field - field.mean()) / (field.std() + 1e-12)).astype(np.float32)


def _gamma_marginal(g: np.ndarray, shape: float) -> np.ndarray:
    """A unit-mean gamma field of the given shape with the correlation of the normal
    field ``g`` (a Gaussian copula); the tails are cut at 1e-7 probability."""
    p = np.clip(special.ndtr(g), 1e-7, 1 - 1e-7)
    return (special.gammaincinv(shape, p) / shape).astype(np.float32)


def _zoom(a: np.ndarray) -> np.ndarray:
    """10 m field onto the fine grid (bilinear)."""
    return ndimage.zoom(a, OVERSAMPLE, order=1).astype(np.float32)


# -- small geometry ---------------------------------------------------------------


def _compass(deg: float) -> np.ndarray:
    """Unit vector (east, north) of a compass bearing in degrees."""
    r = math.radians(deg)
    return np.array([math.sin(r), math.cos(r)])


def _rect(cx: float, cy: float, theta: float, length: float, width: float) -> Polygon:
    """Rectangle centred on (cx, cy), ``length`` along the math angle ``theta``."""
    a, b = length / 2, width / 2
    poly = Polygon([(-a, -b), (a, -b), (a, b), (-a, b)])
    return affinity.translate(affinity.rotate(poly, theta, use_radians=True, origin=(0, 0)), cx, cy)


def _extrude(fp: BaseGeometry, vec: np.ndarray) -> BaseGeometry:
    """The swept hull of a footprint moved by ``vec`` (a prism's top or its shadow)."""
    moved = affinity.translate(fp, float(vec[0]), float(vec[1]))
    return unary_union([fp, moved]).convex_hull


def _edges_facing(fp: Polygon, direction: np.ndarray) -> list[tuple[LineString, float]]:
    """Edges of ``fp`` whose outward normal has a positive cosine with ``direction``."""
    ring = np.asarray(orient(fp, 1.0).exterior.coords)
    out = []
    for a, b in itertools.pairwise(ring):
        d = b - a
        length = float(np.hypot(*d))
        if length < 1.0:
            continue
        normal = np.array([d[1], -d[0]]) / length
        cos = float(normal @ direction)
        if cos > 0:
            out.append((LineString([a, b]), cos))
    return out


# -- layout -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Quay:
    """A straight engineered face between land and water."""

    start: np.ndarray
    end: np.ndarray
    normal: np.ndarray  # unit, towards the water
    pier: bool

    @property
    def length(self) -> float:
        return float(np.hypot(*(self.end - self.start)))

    @property
    def direction(self) -> np.ndarray:
        return (self.end - self.start) / self.length


@dataclasses.dataclass(frozen=True)
class Building:
    footprint: Polygon
    height: float
    roof: str


@dataclasses.dataclass(frozen=True)
class Layout:
    """A port: land (with piers and breakwater), quays, yards, buildings, beaches."""

    size_m: float
    land: BaseGeometry
    quays: list[Quay]
    piers: list[Polygon]
    piled: list[bool]
    breakwater: BaseGeometry | None
    yards: list[tuple[Polygon, float]]
    buildings: list[Building]
    beaches: BaseGeometry | None
    roads: BaseGeometry | None
    seaward: np.ndarray  # unit vector from the coast to the open sea


def _coast_profile(
    rng: np.random.Generator, half: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]], list[tuple[float, float]]]:
    """Shoreline offsets v(u) along the coast: straight quays with jogs, natural stretches."""
    us: list[float] = []
    vs: list[float] = []
    quay_spans, natural_spans = [], []
    u, offset = -half, 0.0
    while u < half:
        if rng.random() < 0.22:
            length = rng.uniform(250, 800)
            k = max(int(length / 15.0), 4)
            uu = np.linspace(u, u + length, k)
            wiggle = ndimage.gaussian_filter1d(rng.standard_normal(k), rng.uniform(1.5, 4.0))
            wiggle *= rng.uniform(10, 45) / (wiggle.std() + 1e-9)
            end = offset + rng.uniform(-80, 80)
            vv = np.linspace(offset, end, k) + wiggle * np.sin(np.linspace(0, np.pi, k))
            natural_spans.append((u, u + length))
        else:
            length = rng.uniform(250, 1000)
            start = offset + (rng.uniform(-120, 120) if rng.random() < 0.5 else 0.0)
            end = start + length * math.tan(math.radians(rng.uniform(-4, 4)))
            uu = np.array([u, u + length])
            vv = np.array([start, end])
            quay_spans.append((u, u + length))
        offset = float(vv[-1])
        us.extend(uu.tolist())
        vs.extend(vv.tolist())
        u += length
    return np.array(us), np.array(vs), quay_spans, natural_spans


def _extract_quays(
    land: BaseGeometry, piers: list[Polygon], breakwater: BaseGeometry | None, size_m: float
) -> list[Quay]:
    inner = box(20, 20, size_m - 20, size_m - 20)
    polys = list(getattr(land, "geoms", [land]))
    wall = breakwater.buffer(1.0) if breakwater is not None else None
    quays = []
    for poly in polys:
        poly = orient(poly, 1.0)
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            for a, b in itertools.pairwise(xy):
                seg = LineString([a, b])
                if seg.length < 50 or (wall is not None and wall.contains(seg)):
                    continue
                clipped = seg.intersection(inner)
                if clipped.is_empty or clipped.geom_type != "LineString" or clipped.length < 50:
                    continue
                d = (b - a) / np.hypot(*(b - a))
                normal = np.array([d[1], -d[0]])
                mid = np.asarray(clipped.interpolate(0.5, normalized=True).coords[0])
                if land.contains(Point(*(mid + normal * 6))):
                    continue
                coords = np.asarray(clipped.coords)
                pier = any(p.buffer(1.0).contains(clipped) for p in piers)
                quays.append(Quay(coords[0], coords[-1], normal, pier))
    return quays


def make_layout(rng: np.random.Generator, size_m: float) -> Layout:
    """Draw a port.

    Parameters
    ----------
    rng : numpy.random.Generator
    size_m : float
        Side of the square scene, metres.

    Returns
    -------
    Layout
    """
    centre = np.array([size_m / 2, size_m / 2])
    alpha = rng.uniform(0, 2 * np.pi)
    t = np.array([math.cos(alpha), math.sin(alpha)])
    n = np.array([-t[1], t[0]])  # towards the sea

    def xy(u, v) -> np.ndarray:
        return centre + np.outer(np.atleast_1d(u), t) + np.outer(np.atleast_1d(v), n)

    half = 0.8 * size_m
    us, vs, quay_spans, natural_spans = _coast_profile(rng, half)
    vs = vs + rng.uniform(-0.3, 0.0) * size_m

    def shore_v(u: float | np.ndarray) -> np.ndarray:
        return np.interp(u, us, vs)

    far = xy(np.array([us[-1], us[0]]), np.array([-2 * size_m, -2 * size_m]))
    land: BaseGeometry = Polygon(np.vstack([xy(us, vs), far])).buffer(0)

    docks: list[tuple[float, float]] = []
    for u0, u1 in quay_spans:
        if u1 - u0 > 450 and rng.random() < 0.35 and len(docks) < 2:
            w, depth = rng.uniform(120, 260), rng.uniform(150, 380)
            ud = rng.uniform(u0 + 80, u1 - 80 - w)
            span = np.linspace(ud, ud + w, 12)
            top, bottom = shore_v(span).max() + 30, shore_v(span).min() - depth
            land = land.difference(
                Polygon(xy([ud, ud + w, ud + w, ud], [bottom, bottom, top, top]))
            )
            docks.append((ud, ud + w))

    piers: list[Polygon] = []
    piled: list[bool] = []
    pier_us: list[float] = []
    long_spans = [s for s in quay_spans if s[1] - s[0] > 200]
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(20):
            if not long_spans:
                break
            u0, u1 = long_spans[int(rng.integers(len(long_spans)))]
            up = rng.uniform(u0 + 60, u1 - 60)
            if any(abs(up - q) < 250 for q in pier_us) or any(
                d0 - 80 < up < d1 + 80 for d0, d1 in docks
            ):
                continue
            ang = math.radians(rng.uniform(-15, 15))
            d = np.array(
                [
                    n[0] * math.cos(ang) - n[1] * math.sin(ang),
                    n[0] * math.sin(ang) + n[1] * math.cos(ang),
                ]
            )
            p = np.array([-d[1], d[0]])
            length, width = rng.uniform(150, 450), rng.uniform(25, 80)
            base = xy(up, shore_v(up))[0] - 30 * d
            tip = base + d * (length + 30)
            parts = [
                Polygon(
                    [
                        base - p * width / 2,
                        base + p * width / 2,
                        tip + p * width / 2,
                        tip - p * width / 2,
                    ]
                )
            ]
            if rng.random() < 0.3:
                head_w = rng.uniform(20, 35)
                head_l = rng.uniform(2.0, 4.0) * width
                c = tip - d * head_w / 2
                parts.append(_rect(c[0], c[1], math.atan2(p[1], p[0]), head_l, head_w))
            piers.append(unary_union(parts))
            piled.append(bool(rng.random() < 0.4))
            pier_us.append(up)
            break

    breakwater = None
    if rng.random() < 0.5:
        ua = rng.uniform(-0.7, -0.1) * size_m
        ub = ua + rng.uniform(0.6, 1.2) * size_m
        reach = [float(shore_v(np.linspace(ua, ub, 60)).max())]
        for pier in piers:
            reach.append(float(max((np.asarray(pier.exterior.coords) - centre) @ n)))
        vb = max(reach) + rng.uniform(150, 350)
        pts = xy([ua, (ua + ub) / 2, ub], vb + rng.normal(0, 35, 3))
        lines = [LineString(pts)]
        if rng.random() < 0.6:
            end_u = ua if rng.random() < 0.5 else ub
            lines.append(LineString(xy([end_u, end_u], [vb, float(shore_v(end_u)) - 20])))
        width = rng.uniform(15, 35)
        breakwater = unary_union(
            [ln.buffer(width / 2, cap_style="square", join_style="mitre") for ln in lines]
        )

    margin = MARGIN_PX * PIXEL_M + 400
    extent = box(-margin, -margin, size_m + margin, size_m + margin)
    land = unary_union([land, *piers, *([breakwater] if breakwater is not None else [])])
    land = land.intersection(extent).buffer(0)
    quays = _extract_quays(land, piers, breakwater, size_m)

    beaches = []
    for u0, u1 in natural_spans:
        if rng.random() < 0.7:
            uu = np.linspace(u0, u1, max(int((u1 - u0) / 15), 4))
            width = rng.uniform(15, 45)
            ring = np.vstack([xy(uu, shore_v(uu) + 5), xy(uu[::-1], shore_v(uu[::-1]) - width)])
            beaches.append(Polygon(ring).buffer(0))
    beach = unary_union(beaches).intersection(land) if beaches else None

    yards = _make_yards(rng, land, quays, size_m)
    buildings = _make_buildings(rng, land, yards, alpha, size_m)
    roads = _make_roads(rng, land, yards, buildings, centre, t, n, size_m)
    return Layout(size_m, land, quays, piers, piled, breakwater, yards, buildings, beach, roads, n)


def _make_roads(
    rng: np.random.Generator,
    land: BaseGeometry,
    yards: list[tuple[Polygon, float]],
    buildings: list[Building],
    centre: np.ndarray,
    t: np.ndarray,
    n: np.ndarray,
    size_m: float,
) -> BaseGeometry | None:
    """Roads along and across the coast, behind the quays, around yards and buildings."""
    lines = []
    reach = 1.2 * size_m
    for _ in range(int(rng.integers(1, 4))):
        offset = -rng.uniform(80, 900)
        lines.append(LineString([centre - reach * t + offset * n, centre + reach * t + offset * n]))
    for _ in range(int(rng.integers(1, 6))):
        along = rng.uniform(-0.6, 0.6) * size_m
        lines.append(LineString([centre + along * t, centre + along * t - reach * n]))
    roads = unary_union([ln.buffer(rng.uniform(4, 10), cap_style="flat") for ln in lines])
    blocked = unary_union([y for y, _ in yards] + [b.footprint for b in buildings]).buffer(10)
    roads = roads.intersection(land.buffer(-25)).difference(blocked)
    return None if roads.is_empty else roads


def _make_yards(
    rng: np.random.Generator, land: BaseGeometry, quays: list[Quay], size_m: float
) -> list[tuple[Polygon, float]]:
    apron = rng.uniform(35, 65)
    shrunk = land.buffer(-apron)
    inner = box(30, 30, size_m - 30, size_m - 30)
    yards: list[tuple[Polygon, float]] = []
    taken: BaseGeometry = Polygon()
    for q in quays:
        if q.pier or q.length < 150 or rng.random() > 0.8:
            continue
        d, inward = q.direction, -q.normal
        depth = rng.uniform(120, 350)
        a, b = q.start + d * 15, q.end - d * 15
        rect = Polygon(
            [
                a + inward * apron,
                b + inward * apron,
                b + inward * (apron + depth),
                a + inward * (apron + depth),
            ]
        )
        yard = rect.intersection(shrunk).intersection(inner).difference(taken.buffer(10))
        if yard.is_empty:
            continue
        if yard.geom_type != "Polygon":
            yard = max(getattr(yard, "geoms", [yard]), key=lambda g: g.area)
        if yard.geom_type != "Polygon" or yard.area < 6000:
            continue
        yards.append((yard, math.atan2(d[1], d[0])))
        taken = unary_union([taken, yard])
    return yards


def _make_buildings(
    rng: np.random.Generator,
    land: BaseGeometry,
    yards: list[tuple[Polygon, float]],
    alpha: float,
    size_m: float,
) -> list[Building]:
    core = land.buffer(-30)
    yard_zone = unary_union([y for y, _ in yards]).buffer(15) if yards else Polygon()
    out: list[Building] = []
    for _ in range(int(rng.integers(6, 26))):
        for _attempt in range(40):
            x, y = rng.uniform(60, size_m - 60, 2)
            theta = alpha + (0.0 if rng.random() < 0.5 else np.pi / 2) + rng.normal(0, 0.05)
            fp = _rect(x, y, theta, rng.uniform(25, 160), rng.uniform(15, 70))
            if not core.contains(fp) or fp.intersects(yard_zone):
                continue
            if any(fp.buffer(15).intersects(b.footprint) for b in out):
                continue
            roof = str(rng.choice(["roof_light", "roof_dark", "roof_red", "roof_blue"]))
            out.append(Building(fp, float(rng.uniform(8, 30)), roof))
            break
    return out


# -- vessels, stacks, cranes ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Vessel:
    """A ship: pose (centre, math angle of the bow), size, looks in both sensors."""

    ident: int
    x: float
    y: float
    theta: float
    length: float
    beam: float
    setting: str  # "berth" | "anchor"
    vtype: str
    freeboard: float
    bridge_h: float
    deck: str
    bridge_paint: str
    loaded: bool
    hull_db: float  # S1 mean sigma0 of the deck, dB
    dihedral_db: float  # S1 hull-sea dihedral at broadside, dB
    vh_db: float  # S1 VH relative to VV, dB
    points: np.ndarray  # (n, 4): along, across, height (m), intensity (dB, pixel units)
    scl: int  # what Sen2Cor calls the hull
    quay: int = -1
    swung: bool = False


def _to_ground(v: Vessel, along: ArrayLike, across: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(v.theta), math.sin(v.theta)
    along, across = np.asarray(along, float), np.asarray(across, float)
    return v.x + along * c - across * s, v.y + along * s + across * c


def vessel_hull(v: Vessel) -> Polygon:
    """The hull's footprint: square stern, shoulders at 82 % of the length, pointed bow."""
    a, b = v.length / 2, v.beam / 2
    along = [-a, a - 0.18 * v.length, a, a - 0.18 * v.length, -a]
    across = [-0.92 * b, -b, 0.0, b, 0.92 * b]
    x, y = _to_ground(v, along, across)
    return Polygon(np.column_stack([x, y]))


def _vessel_part(v: Vessel, a0: float, a1: float, half_width: float) -> Polygon:
    x, y = _to_ground(v, [a0, a1, a1, a0], [-half_width, -half_width, half_width, half_width])
    return Polygon(np.column_stack([x, y]))


def vessel_bridge(v: Vessel) -> Polygon:
    """The superstructure: aft on most ships, forward on supply boats."""
    L, b = v.length, v.beam / 2
    if v.vtype == "supply":
        return _vessel_part(v, 0.1 * L, 0.3 * L, 0.85 * b)
    return _vessel_part(v, -0.47 * L, -0.47 * L + max(0.1 * L, 10.0), 0.9 * b)


def _draw_vessel(
    rng: np.random.Generator,
    ident: int,
    setting: str,
    x: float,
    y: float,
    theta: float,
    quay: int = -1,
    length: float | None = None,
) -> Vessel:
    vtype = str(rng.choice(VESSEL_TYPES, p=VESSEL_TYPE_P))
    kind = VESSEL_CLASSES[vtype]
    lo, hi = kind.lengths
    if length is None:
        length = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    beam = length / rng.uniform(5.0, 8.0)
    freeboard = kind.freeboard
    deck = str(rng.choice(list(kind.decks)))
    bridge_paint = "white" if rng.random() < 0.75 else deck
    hull_db = rng.uniform(-2, 8) + 12 * math.log10(length / 120) + kind.hull_db
    n_points = 2 + int(length // 40)
    points = np.column_stack(
        [
            rng.uniform(-0.45, 0.45, n_points) * length,
            rng.uniform(-0.4, 0.4, n_points) * beam,
            rng.uniform(0, freeboard[1] + 20, n_points),
            rng.uniform(8, 18, n_points) + 10 * math.log10(length / 150),
        ]
    )
    if deck in ("white",) or (vtype == "roro"):
        scl = int(rng.choice([9, 8, 5], p=[0.3, 0.25, 0.45]))
    elif deck in ("black", "dark_grey"):
        scl = 6 if rng.random() < 0.6 else 5
    else:
        scl = 5 if rng.random() < 0.8 else 7
    return Vessel(
        ident=ident,
        x=float(x),
        y=float(y),
        theta=float(theta),
        length=float(length),
        beam=float(beam),
        setting=setting,
        vtype=vtype,
        freeboard=float(rng.uniform(*freeboard)),
        bridge_h=float(rng.uniform(8, 12) if vtype == "supply" else rng.uniform(12, 35)),
        deck=deck,
        bridge_paint=bridge_paint,
        loaded=bool(rng.random() < 0.8),
        hull_db=float(np.clip(hull_db, -8, 15)),
        dihedral_db=float(rng.uniform(5, 15)),
        vh_db=float(rng.uniform(-10, -5)),
        points=points,
        scl=scl,
        quay=quay,
    )


def _fits(
    hull: Polygon, layout: Layout, others: list[Polygon], clearance: float, land_clearance: float
) -> bool:
    inner = box(40, 40, layout.size_m - 40, layout.size_m - 40)
    if not inner.contains(hull):
        return False
    if land_clearance > 0:
        if hull.buffer(land_clearance).intersects(layout.land):
            return False
    elif hull.intersects(layout.land):
        return False
    return not any(hull.buffer(clearance).intersects(o) for o in others)


def _berth(
    rng: np.random.Generator, layout: Layout, ident: int, others: list[Polygon]
) -> Vessel | None:
    for _ in range(40):
        quays = [i for i, q in enumerate(layout.quays) if q.length >= 60]
        if not quays:
            return None
        weights = np.array([layout.quays[i].length for i in quays])
        qi = quays[int(rng.choice(len(quays), p=weights / weights.sum()))]
        q = layout.quays[qi]
        v = _draw_vessel(rng, ident, "berth", 0, 0, 0, quay=qi)
        if v.length > q.length - 16:
            v = dataclasses.replace(v, length=float(q.length - 16), beam=float((q.length - 16) / 6))
            if v.length < 40:
                continue
        low = v.length / 2 + 8
        # A hull cut to the quay's length leaves no play; rounding may put high a hair under low.
        s = rng.uniform(low, max(low, q.length - v.length / 2 - 8))
        gap = rng.uniform(0.5, 2.5)
        c = q.start + q.direction * s + q.normal * (v.beam / 2 + gap)
        theta = math.atan2(q.direction[1], q.direction[0]) + (0.0 if rng.random() < 0.5 else np.pi)
        v = dataclasses.replace(v, x=float(c[0]), y=float(c[1]), theta=float(theta))
        if _fits(vessel_hull(v), layout, others, 12.0, 0.0):
            return v
    return None


def _anchor(
    rng: np.random.Generator, layout: Layout, ident: int, others: list[Polygon]
) -> Vessel | None:
    for _ in range(60):
        v = _draw_vessel(rng, ident, "anchor", 0, 0, rng.uniform(0, 2 * np.pi))
        x, y = rng.uniform(60 + v.length / 2, layout.size_m - 60 - v.length / 2, 2)
        v = dataclasses.replace(v, x=float(x), y=float(y))
        if _fits(vessel_hull(v), layout, others, 60.0, 100.0):
            return v
    return None


def _swing(rng: np.random.Generator, v: Vessel) -> Vessel:
    """Swing an anchored ship about its anchor, a little ahead of the bow."""
    chain = rng.uniform(0.0, 0.3) * v.length
    bow = np.array(_to_ground(v, v.length / 2 + chain, 0.0)).ravel()
    delta = math.radians(rng.uniform(10, 45)) * (1 if rng.random() < 0.5 else -1)
    c, s = math.cos(delta), math.sin(delta)
    rel = np.array([v.x, v.y]) - bow
    new = bow + np.array([c * rel[0] - s * rel[1], s * rel[0] + c * rel[1]])
    return dataclasses.replace(
        v, x=float(new[0]), y=float(new[1]), theta=v.theta + delta, swung=True
    )


@dataclasses.dataclass(frozen=True)
class Stack:
    """A block of containers on a yard."""

    ident: int
    x: float
    y: float
    theta: float
    length: float
    width: float
    tiers: int
    status: str  # "stay" | "new" | "gone"
    db: float  # S1 mean sigma0 of its top, dB
    seed: int

    @property
    def footprint(self) -> Polygon:
        return _rect(self.x, self.y, self.theta, self.length, self.width)


@dataclasses.dataclass(frozen=True)
class Crane:
    """A ship-to-shore gantry crane on a quay's apron."""

    quay: int
    s: float
    height: float
    colour: str
    boom_down: bool = False


@dataclasses.dataclass(frozen=True)
class DateState:
    vessels: list[Vessel]
    stacks: list[Stack]
    cranes: list[Crane]
    wind: float


@dataclasses.dataclass(frozen=True)
class Traffic:
    before: DateState
    after: DateState
    new_vessels: list[Vessel]
    departed: list[Vessel]
    new_stacks: list[Stack]


def _make_stacks(rng: np.random.Generator, layout: Layout, scale: float) -> list[Stack]:
    slots: list[tuple[float, float, float, float, float]] = []
    for yard, angle in layout.yards:
        d = np.array([math.cos(angle), math.sin(angle)])
        p = np.array([-d[1], d[0]])
        xy = np.asarray(yard.exterior.coords)
        c0 = np.asarray(yard.centroid.coords[0])
        along, across = (xy - c0) @ d, (xy - c0) @ p
        a = across.min() + rng.uniform(3, 12)
        while a < across.max():
            width = rng.uniform(10, 40)
            length = rng.uniform(20, 80)
            gap_l = rng.uniform(5, 15)
            b = along.min() + rng.uniform(3, 12)
            while b + length < along.max():
                c = c0 + d * (b + length / 2) + p * (a + width / 2)
                fp = _rect(c[0], c[1], angle, length, width)
                if yard.contains(fp):
                    slots.append((c[0], c[1], angle, length, width))
                b += length + gap_l
            a += width + rng.uniform(8, 20)
    fill = rng.uniform(0.35, 0.75)
    occupied = rng.random(len(slots)) < fill
    empty = np.flatnonzero(~occupied)
    n_new = min(round(rng.integers(2, 9) * scale), len(empty))
    new = set(rng.choice(empty, n_new, replace=False).tolist()) if n_new else set()
    stacks = []
    for i, (x, y, angle, length, width) in enumerate(slots):
        if occupied[i]:
            status = "gone" if rng.random() < 0.08 else "stay"
        elif i in new:
            status = "new"
        else:
            continue
        stacks.append(
            Stack(
                i,
                x,
                y,
                angle,
                length,
                width,
                int(rng.integers(1, 6)),
                status,
                float(rng.uniform(-3, 5)),
                int(rng.integers(1 << 30)),
            )
        )
    return stacks


def _make_cranes(rng: np.random.Generator, layout: Layout) -> list[tuple[Crane, float]]:
    """Cranes with their position on the after date."""
    yard_zone = unary_union([y for y, _ in layout.yards]) if layout.yards else Polygon()
    out = []
    for qi, q in enumerate(layout.quays):
        if q.pier or q.length < 200 or rng.random() > 0.6:
            continue
        mid = (q.start + q.end) / 2 - q.normal * 100
        if yard_zone.is_empty or yard_zone.distance(Point(*mid)) > 80:
            continue
        n = int(rng.integers(1, min(int(q.length // 120), 6) + 1))
        positions = np.sort(rng.uniform(30, q.length - 30, n))
        height, colour = rng.uniform(55, 80), str(rng.choice(["red", "white", "blue", "grey"]))
        for s in positions:
            after = s + (rng.uniform(-150, 150) if rng.random() < 0.5 else 0.0)
            out.append(
                (
                    Crane(qi, float(s), float(height), colour),
                    float(np.clip(after, 30, q.length - 30)),
                )
            )
    return out


def _boom(crane: Crane, layout: Layout, hulls: list[tuple[Polygon, int]]) -> Crane:
    q = layout.quays[crane.quay]
    tip = q.start + q.direction * crane.s + q.normal * 25
    down = any(qi == crane.quay and h.distance(Point(*tip)) < 15 for h, qi in hulls)
    return dataclasses.replace(crane, boom_down=down)


def make_traffic(rng: np.random.Generator, layout: Layout) -> Traffic:
    """Ships, stacks and cranes on both dates, and what changed between them.

    Departures, arrivals (at berths, including ones just left, and at anchor), anchored
    ships swinging about their anchor, stacks appearing and removed, restacking, cranes
    moving along their rails.
    """
    scale = (layout.size_m / 5120.0) ** 2
    ident = 0
    before: list[Vessel] = []
    for setting, lo, hi in (("berth", 3, 10), ("anchor", 2, 9)):
        for _ in range(max(round(rng.integers(lo, hi) * scale), 1)):
            ident += 1
            hulls = [vessel_hull(v) for v in before]
            v = (_berth if setting == "berth" else _anchor)(rng, layout, ident, hulls)
            if v is not None:
                before.append(v)
    p_leave = rng.uniform(0.15, 0.35)
    after: list[Vessel] = []
    departed: list[Vessel] = []
    for v in before:
        if rng.random() < p_leave:
            departed.append(v)
            continue
        if v.setting == "anchor" and rng.random() < 0.6:
            swung = _swing(rng, v)
            others = [vessel_hull(o) for o in before if o.ident != v.ident] + [
                vessel_hull(o) for o in after
            ]
            if _fits(vessel_hull(swung), layout, others, 20.0, 60.0):
                v = swung
        after.append(v)
    new: list[Vessel] = []
    for _ in range(max(round(rng.integers(2, 7) * scale), 1)):
        ident += 1
        hulls = [vessel_hull(v) for v in after]
        place = _berth if rng.random() < 0.55 else _anchor
        v = place(rng, layout, ident, hulls)
        if v is not None:
            after.append(v)
            new.append(v)
    stacks = _make_stacks(rng, layout, scale)
    stacks_before, stacks_after = [], []
    for s in stacks:
        if s.status in ("stay", "gone"):
            stacks_before.append(s)
        if s.status in ("stay", "new"):
            tiers = s.tiers
            if s.status == "stay" and rng.random() < 0.15:
                tiers = int(np.clip(tiers + rng.choice([-2, -1, 1, 2]), 1, 6))
            stacks_after.append(dataclasses.replace(s, tiers=tiers))
    cranes = _make_cranes(rng, layout)
    hulls_b = [(vessel_hull(v), v.quay) for v in before]
    hulls_a = [(vessel_hull(v), v.quay) for v in after]
    cranes_b = [_boom(c, layout, hulls_b) for c, _ in cranes]
    cranes_a = [_boom(dataclasses.replace(c, s=s), layout, hulls_a) for c, s in cranes]
    wind_b = float(rng.uniform(2, 12))
    wind_a = float(np.clip(wind_b + rng.normal(0, 2.5), 1.5, 14))
    return Traffic(
        before=DateState(before, stacks_before, cranes_b, wind_b),
        after=DateState(after, stacks_after, cranes_a, wind_a),
        new_vessels=new,
        departed=departed,
        new_stacks=[s for s in stacks_after if s.status == "new"],
    )


# -- static rasters of a layout ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Static:
    """Rasters of the layout shared by both dates."""

    coarse: Grid
    fine: Grid
    classes: np.ndarray  # fine, uint8
    texture: np.ndarray  # fine, unit normal field
    sea_distance: np.ndarray  # coarse, metres from a water pixel to land
    surf_zone: np.ndarray  # coarse bool: water along rubble and beaches


def _static(rng: np.random.Generator, layout: Layout, size_px: int) -> Static:
    coarse, fine = _grids(size_px)
    land = _rasterize([layout.land], fine)
    cls = np.where(land, PAVED, WATER).astype(np.uint8)
    land_c = _rasterize([layout.land], coarse)
    inland = _zoom(ndimage.distance_transform_edt(land_c) * PIXEL_M)
    veg = land & (
        _zoom(_smooth_noise(rng, coarse.shape, rng.uniform(4, 12))) > rng.uniform(0.1, 0.8)
    )
    veg &= inland > rng.uniform(120, 300)
    bare = land & ~veg & (inland > 80)
    bare &= _zoom(_smooth_noise(rng, coarse.shape, rng.uniform(3, 8))) > rng.uniform(0.5, 1.2)
    cls[veg] = VEG
    cls[bare] = BARE
    if layout.beaches is not None:
        cls[_rasterize([layout.beaches], fine) & land] = SAND
    cls[_rasterize([y for y, _ in layout.yards], fine)] = YARD
    if layout.roads is not None:
        cls[_rasterize([layout.roads], fine) & land] = ROAD
    cls[_rasterize([b.footprint for b in layout.buildings], fine)] = ROOF
    cls[_rasterize(layout.piers, fine) & land] = PIER
    if layout.breakwater is not None:
        cls[_rasterize([layout.breakwater], fine) & land] = ROCK
    texture = 0.75 * _zoom(_smooth_noise(rng, coarse.shape, 0.8))
    texture += 0.66 * _zoom(_smooth_noise(rng, coarse.shape, 4.0))
    sea_distance = ndimage.distance_transform_edt(~land_c) * PIXEL_M
    rough = _block_mean(np.isin(cls, (ROCK, SAND)).astype(np.float32), OVERSAMPLE) > 0
    # Waves break on the faces exposed to the open sea, not in the lee of a breakwater.
    surf = np.zeros_like(rough)
    for k in (1.0, 2.0, 3.0):
        step = layout.seaward * k
        surf |= ndimage.shift(rough.astype(np.uint8), (-step[1], step[0]), order=0) > 0
    surf &= ~land_c
    return Static(coarse, fine, cls, texture.astype(np.float32), sea_distance, surf)


def _shift_fine(a: np.ndarray, shift_px: tuple[float, float], order: int = 1) -> np.ndarray:
    """Shift the last two axes by (dx, dy) pixels of 10 m, on the fine grid."""
    dx, dy = shift_px
    if dx == 0 and dy == 0:
        return a
    shift = (0.0,) * (a.ndim - 2) + (dy * OVERSAMPLE, dx * OVERSAMPLE)
    return ndimage.shift(a, shift, order=order, mode="nearest")


# -- Sentinel-1 -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class S1Config:
    toward: np.ndarray  # unit vector from the ground to the sensor, horizontal
    incidence: float  # degrees
    looks: int
    nesz_db: float
    noise_removed: bool
    res_m: tuple[float, float]  # (x, y)
    class_db: np.ndarray
    class_vh_db: np.ndarray
    texture_db: float
    edge_db: float
    edge_power: float
    piled_db: float
    sea_vh_db: float
    shelter: float
    shelter_m: float
    k_shape: float
    calibration_db: float
    key: int  # seeds what is fixed to an object (its scatterers), the same on both dates


def _own_rng(*keys: float) -> np.random.Generator:
    """A generator fixed by ``keys``: an object's scatterers do not change between dates."""
    return np.random.default_rng([abs(int(k)) for k in keys])


def _s1_config(rng: np.random.Generator) -> S1Config:
    look = rng.uniform(76, 84) if rng.random() < 0.5 else rng.uniform(276, 284)
    class_db = np.array(
        [
            -30.0,  # water (unused)
            rng.uniform(-11, -8),  # paved
            rng.uniform(-13, -10),  # yard
            rng.uniform(-13, -9),  # bare
            rng.uniform(-9, -6),  # vegetation
            rng.uniform(-10, -6),  # roof
            rng.uniform(-5, -1),  # rock
            rng.uniform(-9, -5),  # pier deck
            rng.uniform(-18, -14),  # sand
            rng.uniform(-17, -13),  # asphalt road
        ]
    )
    class_vh = np.array([-8.0, -9, -9, -7, -6, -9, -6, -8, -8, -8]) + rng.uniform(-1, 1, 10)
    return S1Config(
        toward=-_compass(look),
        incidence=float(rng.uniform(30, 45)),
        looks=int(rng.integers(4, 6)),
        nesz_db=float(rng.uniform(-27, -22)),
        noise_removed=bool(rng.random() < 0.5),
        res_m=(float(rng.uniform(19, 21.5)), float(rng.uniform(20.5, 23))),
        class_db=class_db,
        class_vh_db=class_vh,
        texture_db=float(rng.uniform(1.5, 3.0)),
        edge_db=float(rng.uniform(2, 12)),
        edge_power=float(rng.uniform(2, 8)),
        piled_db=float(rng.uniform(3, 8)),
        sea_vh_db=float(rng.uniform(-9, -6)),
        shelter=float(rng.uniform(0, 0.8)),
        shelter_m=float(rng.uniform(100, 400)),
        k_shape=float(rng.uniform(3, 25)),
        calibration_db=float(rng.uniform(-0.5, 0.5)),
        key=int(rng.integers(1 << 30)),
    )


@dataclasses.dataclass
class Canvas:
    """What a date's fine grid holds: values where something covers the sea, the share
    of the sea covered, the sea's shading, and point scatterers (x, y, value per band)."""

    val: np.ndarray
    cover: np.ndarray
    seagain: np.ndarray
    points: list[tuple[float, float, np.ndarray]]
    grid: Grid


def _add(cv: Canvas, geom: BaseGeometry, value: ArrayLike) -> None:
    w = _window(geom, cv.grid)
    if w is not None:
        win, mask = w
        cv.val[(slice(None), *win)][:, mask] += np.asarray(value, np.float32)[:, None]


def _scale(cv: Canvas, geom: BaseGeometry, factor: float) -> None:
    w = _window(geom, cv.grid)
    if w is not None:
        win, mask = w
        cv.val[(slice(None), *win)][:, mask] *= factor
        cv.seagain[win][mask] *= factor


def _occupy(cv: Canvas, geom: BaseGeometry) -> None:
    """The object hides what was below it (ground or sea)."""
    w = _window(geom, cv.grid)
    if w is not None:
        win, mask = w
        cv.val[(slice(None), *win)][:, mask] = 0.0
        cv.cover[win][mask] = 1.0


def _s1_prism(
    cv: Canvas,
    cfg: S1Config,
    fp: Polygon,
    height: float,
    top: np.ndarray,
    wall_db: float,
    wall_power: float,
    rng: np.random.Generator,
    texture_shape: float = 2.0,
) -> None:
    """A raised object: hidden ground, radar shadow, laid-over top, base dihedrals."""
    tan = math.tan(math.radians(cfg.incidence))
    lay = cfg.toward * height / tan
    _occupy(cv, fp)
    _scale(cv, _extrude(fp, -cfg.toward * height * tan).difference(fp), 0.02)
    bright = _extrude(fp, lay).difference(fp.difference(affinity.translate(fp, *lay)))
    w = _window(bright, cv.grid)
    if w is not None:
        win, mask = w
        tex = rng.gamma(texture_shape, 1 / texture_shape, int(mask.sum())).astype(np.float32)
        cv.val[(slice(None), *win)][:, mask] += top[:, None] * tex
    for edge, cos in _edges_facing(fp, cfg.toward):
        strength = 10 ** (wall_db / 10) * cos**wall_power * OVERSAMPLE
        vh = strength * 10 ** (rng.uniform(-16, -12) / 10)
        _add(cv, edge.buffer(FINE_M / 2, cap_style="flat"), [strength, vh])


def _s1_canvas(
    layout: Layout, static: Static, state: DateState, cfg: S1Config, rng: np.random.Generator
) -> Canvas:
    cls = static.classes
    change = 0.6 * _zoom(_smooth_noise(rng, static.coarse.shape, 6.0))
    vv_db = cfg.class_db[cls] + cfg.texture_db * static.texture + change
    vv = np.power(10.0, vv_db / 10, dtype=np.float32)
    vh = vv * np.power(10.0, cfg.class_vh_db[cls] / 10, dtype=np.float32)
    land = cls != WATER
    val = np.stack([vv * land, vh * land]).astype(np.float32)
    cv = Canvas(val, land.astype(np.float32), np.ones(cls.shape, np.float32), [], static.fine)
    tan = math.tan(math.radians(cfg.incidence))
    for pier, piled in zip(layout.piers, layout.piled, strict=True):
        if piled:
            w = _window(pier.intersection(layout.land), cv.grid)
            if w is not None:
                cv.val[(slice(None), *w[0])][:, w[1]] *= 10 ** (cfg.piled_db / 10)
    # Quay walls: a dihedral with the sea where they face the sensor, hidden by a hull.
    hulls = unary_union([vessel_hull(v).buffer(5) for v in state.vessels])
    for q in layout.quays:
        cos = float(q.normal @ cfg.toward)
        strength = 10 ** ((cfg.edge_db - 12) / 10) + 10 ** (cfg.edge_db / 10) * max(cos, 0) ** (
            cfg.edge_power
        )
        foot = LineString([q.start + q.normal * 1.25, q.end + q.normal * 1.25])
        strip = foot.buffer(FINE_M / 2, cap_style="flat").difference(hulls)
        _add(cv, strip, [strength * OVERSAMPLE, strength * OVERSAMPLE * 0.03])
    for i, b in enumerate(layout.buildings):
        own = _own_rng(cfg.key, 7, i)
        top = 10 ** (cfg.class_db[ROOF] / 10) * np.array([1.0, 0.15])
        _s1_prism(cv, cfg, b.footprint, b.height, top, own.uniform(8, 15), 4.0, own)
    for s in state.stacks:
        own = _own_rng(cfg.key, s.seed, s.tiers)
        top = 10 ** (s.db / 10) * np.array([1.0, 10 ** (own.uniform(-11, -8) / 10)])
        _s1_prism(cv, cfg, s.footprint, 2.6 * s.tiers, top, s.db + 6, 3.0, own, 3.0)
        for corner in np.asarray(s.footprint.exterior.coords)[:4]:
            if own.random() < 0.4:
                value = 10 ** (own.uniform(6, 14) / 10)
                cv.points.append((corner[0], corner[1], np.array([value, value * 0.05])))
    for c in state.cranes:
        own = _own_rng(cfg.key, 8, c.quay, round(c.s))
        _s1_crane(cv, cfg, layout.quays[c.quay], c, own, tan)
    for v in state.vessels:
        _s1_vessel(cv, cfg, v, _own_rng(cfg.key, 9, v.ident), tan)
    # Vehicles and loose boxes on the yards and aprons: scatterers that come and go.
    for _ in range(int(rng.integers(5, 40))):
        for _attempt in range(20):
            r, c = rng.integers(0, cls.shape[0]), rng.integers(0, cls.shape[1])
            if cls[r, c] in (PAVED, YARD):
                x = cv.grid.left + (c + 0.5) * FINE_M
                y = cv.grid.top - (r + 0.5) * FINE_M
                value = 10 ** (rng.uniform(-8, 6) / 10)
                cv.points.append((x, y, np.array([value, value * 0.1])))
                break
    return cv


def _s1_crane(
    cv: Canvas, cfg: S1Config, q: Quay, c: Crane, rng: np.random.Generator, tan: float
) -> None:
    base = q.start + q.direction * c.s - q.normal * rng.uniform(12, 20)
    legs = LineString([base, base + cfg.toward * c.height / tan]).buffer(3.0, cap_style="flat")
    value = 10 ** (rng.uniform(-2, 4) / 10)
    _add(cv, legs, [value, value * 0.2])
    if c.boom_down:
        lay = cfg.toward * 0.6 * c.height / tan
        boom = LineString([base - q.normal * 30 + lay, base + q.normal * 55 + lay])
        value = 10 ** (rng.uniform(-3, 3) / 10)
        _add(cv, boom.buffer(2.0, cap_style="flat"), [value, value * 0.2])
    for frac in rng.uniform(0, 1, 3):
        p = base + cfg.toward * frac * c.height / tan
        value = 10 ** (rng.uniform(10, 16) / 10)
        cv.points.append((p[0], p[1], np.array([value, value * 0.05])))


def _s1_vessel(cv: Canvas, cfg: S1Config, v: Vessel, rng: np.random.Generator, tan: float) -> None:
    hull = vessel_hull(v)
    deck = 10 ** (v.hull_db / 10)
    vh_ratio = 10 ** (v.vh_db / 10)
    _s1_prism(
        cv, cfg, hull, v.freeboard, np.array([deck, deck * vh_ratio]), v.dihedral_db, 8.0, rng, 0.8
    )
    bridge = vessel_bridge(v)
    gain = 10 ** (rng.uniform(3, 7) / 10)
    tan_lay = cfg.toward * v.freeboard / tan
    _s1_prism(
        cv,
        cfg,
        affinity.translate(bridge, *tan_lay),
        v.bridge_h,
        np.array([deck * gain, deck * gain * vh_ratio]),
        v.dihedral_db - 3,
        4.0,
        rng,
        1.0,
    )
    xs, ys = _to_ground(v, v.points[:, 0], v.points[:, 1])
    for x, y, z, db in zip(xs, ys, v.points[:, 2], v.points[:, 3], strict=True):
        p = np.array([x, y]) + cfg.toward * z / tan
        value = 10 ** (db / 10)
        cv.points.append((p[0], p[1], np.array([value, value * vh_ratio])))


def _s1_sea(cfg: S1Config, static: Static, wind: float, rng: np.random.Generator) -> np.ndarray:
    shape = static.coarse.shape
    vv_db = -26 + 12 * math.log10(max(wind, 1.0) / 2) - 0.25 * (cfg.incidence - 37)
    vv_db = float(np.clip(vv_db, -28, -14))
    mean = 10 ** (vv_db / 10) * (1 - cfg.shelter * np.exp(-static.sea_distance / cfg.shelter_m))
    mean *= np.power(10.0, 0.5 * _smooth_noise(rng, shape, 60.0) / 10)
    g = _smooth_noise(rng, shape, rng.uniform(0.6, 1.5))
    wavelength, heading = rng.uniform(80, 250), rng.uniform(0, 2 * np.pi)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] * PIXEL_M
    amp = rng.uniform(0, 0.6)
    phase = 2 * np.pi * (cols * math.cos(heading) - rows * math.sin(heading)) / wavelength
    g = (g + amp * np.sin(phase + rng.uniform(0, 2 * np.pi))) / math.sqrt(1 + amp**2 / 2)
    texture = _gamma_marginal(g, cfg.k_shape)
    vv = mean * texture
    if rng.random() < 0.3:
        slick = ndimage.gaussian_filter(
            rng.standard_normal(shape), (rng.uniform(3, 8), rng.uniform(10, 25))
        )
        vv = np.where(slick > np.quantile(slick, rng.uniform(0.9, 0.97)), vv * 0.2, vv)
    return np.stack([vv, vv * 10 ** (cfg.sea_vh_db / 10)]).astype(np.float32)


def _psf_transfer(cfg: S1Config, shape: tuple[int, int]) -> np.ndarray:
    """Hamming-weighted band-limited transfer function with unit energy."""

    def axis(n: int, res_m: float) -> np.ndarray:
        f = np.fft.fftfreq(n)
        band = 1.18 / (res_m / PIXEL_M)
        u = f / band
        return np.where(np.abs(u) <= 0.5, 0.54 + 0.46 * np.cos(2 * np.pi * u), 0.0)

    h = np.outer(axis(shape[0], cfg.res_m[1]), axis(shape[1], cfg.res_m[0]))
    return h / math.sqrt(np.mean(np.abs(h) ** 2))


def _s1_image(
    sigma: np.ndarray,
    points: list[tuple[float, float, np.ndarray]],
    grid: Grid,
    cfg: S1Config,
    rng: np.random.Generator,
) -> np.ndarray:
    """Speckle, point targets, the impulse response, looks and thermal noise."""
    transfer = _psf_transfer(cfg, sigma.shape[1:])
    nesz = 10 ** (cfg.nesz_db / 10)
    out = np.zeros_like(sigma)
    if points:
        xy = np.array([(p[0], p[1]) for p in points])
        values = np.array([p[2] for p in points])  # (n, band)
        fc = (xy[:, 0] - grid.left) / grid.res - 0.5
        fr = (grid.top - xy[:, 1]) / grid.res - 0.5
        c0, r0 = np.floor(fc).astype(int), np.floor(fr).astype(int)
        tc, tr = fc - c0, fr - r0
    for band in range(sigma.shape[0]):
        acc = np.zeros(sigma.shape[1:])
        for _ in range(cfg.looks):
            z = np.sqrt(sigma[band] / 2) * (
                rng.standard_normal(sigma.shape[1:]) + 1j * rng.standard_normal(sigma.shape[1:])
            )
            if points:
                amp = np.sqrt(values[:, band]) * np.exp(1j * rng.uniform(0, 2 * np.pi, len(xy)))
                for dr, dc, w in (
                    (0, 0, (1 - tr) * (1 - tc)),
                    (0, 1, (1 - tr) * tc),
                    (1, 0, tr * (1 - tc)),
                    (1, 1, tr * tc),
                ):
                    r = np.clip(r0 + dr, 0, sigma.shape[1] - 1)
                    c = np.clip(c0 + dc, 0, sigma.shape[2] - 1)
                    np.add.at(z, (r, c), amp * w)
            field = np.fft.ifft2(np.fft.fft2(z) * transfer)
            acc += np.abs(field) ** 2 + rng.exponential(nesz, sigma.shape[1:])
        out[band] = acc / cfg.looks
    if cfg.noise_removed:
        out = np.maximum(out - nesz, 1e-5)
    return out.astype(np.float32)


def _render_s1(
    layout: Layout,
    static: Static,
    state: DateState,
    cfg: S1Config,
    rng: np.random.Generator,
    shift_px: tuple[float, float],
    calibration_db: float,
) -> np.ndarray:
    cv = _s1_canvas(layout, static, state, cfg, rng)
    val = _shift_fine(cv.val, shift_px)
    cover = _shift_fine(cv.cover, shift_px)
    seagain = _shift_fine(cv.seagain, shift_px)
    dx, dy = shift_px
    points = [(x + dx * PIXEL_M, y - dy * PIXEL_M, v) for x, y, v in cv.points]
    sea = _s1_sea(cfg, static, state.wind, rng)
    sigma = _block_mean(val, OVERSAMPLE) + sea * _block_mean(seagain * (1 - cover), OVERSAMPLE)
    image = _s1_image(sigma, points, static.coarse, cfg, rng) * 10 ** (calibration_db / 10)
    return image[:, MARGIN_PX:-MARGIN_PX, MARGIN_PX:-MARGIN_PX]


# -- Sentinel-2 -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class S2Config:
    sun: tuple[tuple[float, float], tuple[float, float]]  # (azimuth, elevation) per date
    spectra: dict[str, np.ndarray]
    turbidity: float
    psf: np.ndarray  # per band, pixels
    noise: float
    gains: np.ndarray  # after / before per band
    scl: bool
    digital: bool
    foam: np.ndarray  # reflectance of a pixel of white water


def _s2_config(rng: np.random.Generator) -> S2Config:
    az, el = rng.uniform(120, 210), rng.uniform(25, 65)
    # Same local time (sun-synchronous): 5-10 days later the azimuth barely moves, the
    # elevation follows the declination (up to 0.4 degrees a day near the equinoxes).
    sun = ((az, el), (az + rng.uniform(-2, 2), float(np.clip(el + rng.uniform(-4, 4), 20, 70))))
    spectra = {
        k: np.asarray(v, np.float32) * rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, 5)
        for k, v in SPECTRA.items()
    }
    spectra["water_clear"] = np.asarray(SPECTRA["water_clear"], np.float32) * rng.uniform(0.8, 1.3)
    return S2Config(
        sun=sun,
        spectra={k: v.astype(np.float32) for k, v in spectra.items()},
        turbidity=float(rng.uniform(0, 0.8)),
        psf=rng.uniform(0.5, 0.7, 5),
        noise=float(rng.uniform(0.002, 0.004)),
        gains=rng.normal(1.0, 0.03, 5).astype(np.float32),
        scl=bool(rng.random() < 0.5),
        digital=bool(rng.random() < 0.5),
        foam=_foam(rng),
    )


def _foam(rng: np.random.Generator) -> np.ndarray:
    """White water: flat in the visible, dimmer in the near infrared and far dimmer in the
    SWIR, as the water films of the bubbles absorb (how much depends on the foam)."""
    visible = rng.uniform(0.3, 0.5)
    return np.array(
        [
            visible,
            visible,
            0.97 * visible,
            visible * rng.uniform(0.55, 0.85),
            visible * rng.uniform(0.08, 0.25),
        ],
        dtype=np.float32,
    )


def _blend(
    cv: Canvas,
    geom: BaseGeometry,
    colour: ArrayLike,
    alpha: float = 1.0,
    scl: np.ndarray | None = None,
    scl_code: int = 5,
) -> None:
    w = _window(geom, cv.grid)
    if w is None:
        return
    win, mask = w
    colour = np.asarray(colour, np.float32)
    sub = cv.val[(slice(None), *win)]
    if colour.ndim == 1:
        colour = colour[:, None]
    sub[:, mask] = sub[:, mask] * (1 - alpha) + alpha * colour
    cv.cover[win][mask] = cv.cover[win][mask] * (1 - alpha) + alpha
    if scl is not None and alpha >= 0.5:
        scl[win][mask] = scl_code


def _shade(cv: Canvas, geom: BaseGeometry, strength: float = 1.0) -> None:
    """A sun shadow: direct light removed, the diffuse sky light left."""
    w = _window(geom, cv.grid)
    if w is None:
        return
    win, mask = w
    keep = 1 - strength * (1 - SHADOW_KEEP)
    cv.val[(slice(None), *win)][:, mask] *= keep[:, None]
    cv.seagain[win][mask] *= float(keep.mean())


def _containers(
    cv: Canvas,
    fp_centre: tuple[float, float],
    theta: float,
    length: float,
    width: float,
    seed: int,
    geom: BaseGeometry,
) -> None:
    """Paint a block of 12.2 m x 2.44 m containers of random colours."""
    w = _window(geom, cv.grid)
    if w is None:
        return
    win, mask = w
    x, y = _centres(cv.grid, win)
    dx, dy = x[mask] - fp_centre[0], y[mask] - fp_centre[1]
    u = dx * math.cos(theta) + dy * math.sin(theta) + length / 2
    v = -dx * math.sin(theta) + dy * math.cos(theta) + width / 2
    crng = np.random.default_rng(seed)
    table = crng.integers(0, len(CONTAINERS), (int(length // 12.2) + 2, int(width // 2.44) + 2))
    idx = table[
        np.clip((u // 12.2).astype(int), 0, table.shape[0] - 1),
        np.clip((v // 2.44).astype(int), 0, table.shape[1] - 1),
    ]
    colours = np.asarray(CONTAINERS, np.float32)[idx].T  # (band, n)
    shade = 0.85 + 0.15 * ((v % 2.44) > 0.4)  # dark seams between containers
    cv.val[(slice(None), *win)][:, mask] = colours * shade
    cv.cover[win][mask] = 1.0


def _s2_canvas(
    layout: Layout,
    static: Static,
    state: DateState,
    cfg: S2Config,
    date: int,
    rng: np.random.Generator,
) -> tuple[Canvas, np.ndarray, list]:
    cls = static.classes
    sp = cfg.spectra
    table = np.stack(
        [
            np.zeros(5, np.float32),
            sp["paved"],
            sp["yard"],
            sp["bare"],
            sp["vegetation"],
            sp["paved"],
            sp["rock"],
            sp["pier"],
            sp["sand"],
            sp["asphalt"],
        ]
    )
    texture_amp = np.array([0, 0.10, 0.06, 0.12, 0.15, 0.05, 0.2, 0.06, 0.08, 0.05], np.float32)
    tex = 1 + texture_amp[cls] * static.texture
    val = table[cls].transpose(2, 0, 1) * tex
    veg = cls == VEG
    val[3][veg] *= 1 + 0.06 * _zoom(_smooth_noise(rng, static.coarse.shape, 10.0))[veg]
    land = cls != WATER
    scl = np.where(land, 5, 6).astype(np.uint8)
    scl[veg] = 4
    cv = Canvas(
        val.astype(np.float32),
        land.astype(np.float32),
        np.ones(cls.shape, np.float32),
        [],
        static.fine,
    )
    az, el = cfg.sun[date]
    away = -_compass(az) / math.tan(math.radians(el))  # shadow per metre of height
    prisms: list[tuple[Polygon, float, float]] = []
    for b in layout.buildings:
        _blend(cv, b.footprint, sp[b.roof])
        prisms.append((b.footprint, b.height, 1.0))
    for s in state.stacks:
        _containers(cv, (s.x, s.y), s.theta, s.length, s.width, s.seed, s.footprint)
        prisms.append((s.footprint, 2.6 * s.tiers, 1.0))
    for c in state.cranes:
        q = layout.quays[c.quay]
        base = q.start + q.direction * c.s - q.normal * 16
        theta = math.atan2(q.direction[1], q.direction[0])
        portal = _rect(base[0], base[1], theta, 25, 32)
        colour = PAINTS[c.colour] if c.colour in PAINTS else PAINTS["grey"]
        _blend(cv, portal, colour, 0.45)
        if c.boom_down:
            boom = LineString([base - q.normal * 30, base + q.normal * 60]).buffer(
                2.5, cap_style="flat"
            )
            _blend(cv, boom, colour, 0.6)
        mast = LineString([base - q.direction * 10, base + q.direction * 10]).buffer(3.0)
        prisms.append((mast, c.height, 0.6))
    for v in state.vessels:
        hull = vessel_hull(v)
        _blend(cv, hull, PAINTS[v.deck], scl=scl, scl_code=v.scl)
        L, b = v.length, v.beam / 2
        if v.vtype == "container" and v.loaded:
            cargo = _vessel_part(v, -0.33 * L, 0.36 * L, 0.85 * b)
            cx, cy = _to_ground(v, 0.015 * L, 0.0)
            _containers(
                cv, (float(cx), float(cy)), v.theta, 0.69 * L, 1.7 * b, v.ident * 7919 + 1, cargo
            )
        elif v.vtype == "tanker":
            _blend(cv, _vessel_part(v, -0.35 * L, 0.4 * L, 1.5), PAINTS["grey"], 0.8)
        elif v.vtype == "bulk":
            for a0 in np.arange(-0.32 * L, 0.36 * L, 25.0):
                _blend(cv, _vessel_part(v, a0, a0 + 15, 0.6 * b), PAINTS["grey"], 0.7)
        _blend(cv, vessel_bridge(v), PAINTS[v.bridge_paint])
        prisms.append((hull, v.freeboard, 1.0))
        prisms.append((vessel_bridge(v), v.freeboard + v.bridge_h, 1.0))
    for fp, h, strength in prisms:
        _shade(cv, _extrude(fp, away * h).difference(fp), strength)
    return cv, scl, prisms


def _s2_water(cfg: S2Config, static: Static, wind: float, rng: np.random.Generator) -> np.ndarray:
    shape = static.coarse.shape
    sp = cfg.spectra
    plume = _smooth_noise(rng, shape, rng.uniform(30, 80))
    turb = np.clip(cfg.turbidity + rng.uniform(0.05, 0.2) * plume, 0, 1)
    water = sp["water_clear"][:, None, None] * (1 - turb) + sp["water_turbid"][:, None, None] * turb
    water = water * (1 + 0.03 * rng.standard_normal(shape))
    if rng.random() < 0.3:  # sun glint: broadband, on wave facets
        g = rng.uniform(0.005, 0.03) * (0.6 + 0.4 * _smooth_noise(rng, shape, 40.0))
        # Wind waves shorter than a pixel average out; longer ones tilt the facets.
        facets = _gamma_marginal(_smooth_noise(rng, shape, 1.0), 8.0)
        g = np.clip(g, 0, None) * facets
        water = water + g * np.array([1, 1, 1, 0.95, 0.85], np.float32)[:, None, None]
    if wind > 8:  # whitecaps
        foam = (rng.random(shape) < 0.003 * (wind - 8)) * rng.uniform(0.02, 0.12, shape)
        water = water + foam * cfg.foam[:, None, None]
    if rng.random() < 0.4:  # surf along rubble and beaches
        foam = (
            static.surf_zone
            * rng.uniform(0.05, 0.3)
            * np.clip(0.6 + 0.4 * _smooth_noise(rng, shape, 2.0), 0, None)
        )
        water = water + foam * cfg.foam[:, None, None]
    return water.astype(np.float32)


def _s2_atmosphere(
    image: np.ndarray, cfg: S2Config, date: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """Haze and small cumulus with their shadows; returns the cloud fields for SCL."""
    shape = image.shape[1:]
    fields = {
        "cloud": np.zeros(shape, np.float32),
        "shadow": np.zeros(shape, np.float32),
        "haze": np.zeros(shape, np.float32),
    }
    if rng.random() < 0.35:
        tau = np.clip(rng.uniform(0.2, 1.0) * (0.5 + 0.5 * _smooth_noise(rng, shape, 40.0)), 0, 1)
        image = image * (1 - 0.2 * tau) + tau * HAZE[:, None, None] * rng.uniform(0.5, 1.5)
        fields["haze"] = tau
    if rng.random() < 0.2:
        g = _smooth_noise(rng, shape, rng.uniform(6, 15))
        alpha = np.clip((g - np.quantile(g, 1 - rng.uniform(0.03, 0.10))) / 0.6, 0, 1)
        az, el = cfg.sun[date]
        offset = -_compass(az) * rng.uniform(600, 2000) / math.tan(math.radians(el)) / PIXEL_M
        shadow = ndimage.shift(alpha, (-offset[1], offset[0]), order=1, mode="constant")
        image = image * (1 - 0.8 * shadow * (1 - SHADOW_KEEP[:, None, None]))
        image = image * (1 - alpha) + alpha * CLOUD[:, None, None] * rng.uniform(0.8, 1.3)
        fields["cloud"], fields["shadow"] = alpha, shadow
    return image, fields


def _s2_scl(scl_fine: np.ndarray, fields: dict, rng: np.random.Generator) -> np.ndarray:
    """Sen2Cor-like classes at 20 m, upsampled to 10 m."""
    k = 2 * OVERSAMPLE
    h, w = scl_fine.shape[0] // k, scl_fine.shape[1] // k
    blocks = scl_fine.reshape(h, k, w, k)
    codes = np.array([4, 5, 6, 7, 8, 9], np.uint8)
    counts = np.stack([(blocks == c).sum(axis=(1, 3)) for c in codes])
    scl = codes[np.argmax(counts, axis=0)]
    cloud = _block_mean(fields["cloud"], 2)
    shadow = _block_mean(fields["shadow"], 2)
    haze = _block_mean(fields["haze"], 2)
    if rng.random() < 0.5:
        scl[haze > 0.6] = 10
    scl[shadow > 0.3] = 3
    scl[cloud > 0.2] = 8
    scl[cloud > 0.5] = 9
    return np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1)


def _render_s2(
    layout: Layout,
    static: Static,
    state: DateState,
    cfg: S2Config,
    date: int,
    rng: np.random.Generator,
    shift_px: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """The date's bands (and SCL), and its cloud opacity (0-1), both unpadded."""
    cv, scl_fine, _ = _s2_canvas(layout, static, state, cfg, date, rng)
    val = _shift_fine(cv.val, shift_px)
    cover = _shift_fine(cv.cover, shift_px)
    seagain = _shift_fine(cv.seagain, shift_px)
    scl_fine = _shift_fine(scl_fine, shift_px, order=0)
    water = _s2_water(cfg, static, state.wind, rng)
    image = _block_mean(val, OVERSAMPLE) + water * _block_mean(seagain * (1 - cover), OVERSAMPLE)
    image, fields = _s2_atmosphere(image, cfg, date, rng)
    if date == 1:
        image = image * cfg.gains[:, None, None]
    out = np.empty_like(image)
    for b in range(4):
        out[b] = ndimage.gaussian_filter(image[b], cfg.psf[b], mode="nearest")
    swir = ndimage.gaussian_filter(_block_mean(image[4], 2), cfg.psf[4], mode="nearest")
    out[4] = np.repeat(np.repeat(swir, 2, axis=0), 2, axis=1)
    sd = np.sqrt(cfg.noise**2 + (0.01 * np.clip(out, 0, None)) ** 2)
    out = np.clip(out + sd * rng.standard_normal(out.shape), 0.0005, 1.5).astype(np.float32)
    if cfg.scl:
        scl = _s2_scl(scl_fine, fields, rng).astype(np.float32)
        out = np.concatenate([out, scl[None]])
    crop = (slice(MARGIN_PX, -MARGIN_PX), slice(MARGIN_PX, -MARGIN_PX))
    return out[(slice(None), *crop)], fields["cloud"][crop]


# -- the pair ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OtherPair:
    """A simulated pair and its truth.

    Attributes
    ----------
    before, after : Raster
        As a reader would deliver them (S1 linear sigma0; S2 float reflectance or
        uint16 digital numbers, with SCL on some seeds).
    new_vessels, departed, new_cargo : geopandas.GeoDataFrame
        Truth footprints on the before grid, with a ``kind`` column ("vessel",
        "vessel", "cargo").
    vessels_before, vessels_after : geopandas.GeoDataFrame
        Every vessel of each date, with ``setting`` ("berth" or "anchor").
    shift_px : (float, float)
        Misregistration of the after scene's content, (columns, rows).
    after_offset_m : (float, float)
        Where the after raster shows a ground feature, relative to its true place
        (x, y metres in the CRS).
    land : shapely geometry
        The land, piers and breakwater, in the CRS.
    rough : shapely geometry
        Breakwater and beaches, where waves may break (CRS).
    cloud : ndarray or None
        S2: cloud opacity (0-1) of each date, (2, row, col) on the raster grid.
    objects : geopandas.GeoDataFrame
        Everything that may change, for attributing errors: vessels, stacks and cranes
        with ``kind``, ``status`` (stay, swung, new, departed, gone, restacked, moved)
        and ``date`` (before, after, both).
    info : dict
        The draws that shape the scene (wind, pass, SCL, units, ...).
    """

    before: Raster
    after: Raster
    new_vessels: gpd.GeoDataFrame
    departed: gpd.GeoDataFrame
    new_cargo: gpd.GeoDataFrame
    vessels_before: gpd.GeoDataFrame
    vessels_after: gpd.GeoDataFrame
    shift_px: tuple[float, float]
    after_offset_m: tuple[float, float]
    land: BaseGeometry
    rough: BaseGeometry
    cloud: np.ndarray | None
    objects: gpd.GeoDataFrame
    info: dict


def _vessel_frame(
    vessels: list[Vessel], crs: CRS, origin: tuple[float, float], new_ids: set[int] | None = None
) -> gpd.GeoDataFrame:
    rows = [
        {
            "id": v.ident,
            "kind": "vessel",
            "setting": v.setting,
            "vtype": v.vtype,
            "length_m": v.length,
            "beam_m": v.beam,
            "heading_deg": (90 - math.degrees(v.theta)) % 360,
            "deck": v.deck,
            "hull_db": v.hull_db,
            "swung": v.swung,
            "scl": v.scl,
            "new": bool(new_ids and v.ident in new_ids),
        }
        for v in vessels
    ]
    geoms = [affinity.translate(vessel_hull(v), *origin) for v in vessels]
    columns = [
        "id",
        "kind",
        "setting",
        "vtype",
        "length_m",
        "beam_m",
        "heading_deg",
        "deck",
        "hull_db",
        "swung",
        "scl",
        "new",
    ]
    return gpd.GeoDataFrame(rows, columns=columns, geometry=geoms, crs=crs)


def _stack_frame(stacks: list[Stack], crs: CRS, origin: tuple[float, float]) -> gpd.GeoDataFrame:
    rows = [
        {
            "id": s.ident,
            "kind": "cargo",
            "length_m": s.length,
            "width_m": s.width,
            "tiers": s.tiers,
            "s1_db": s.db,
        }
        for s in stacks
    ]
    geoms = [affinity.translate(s.footprint, *origin) for s in stacks]
    columns = ["id", "kind", "length_m", "width_m", "tiers", "s1_db"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry=geoms, crs=crs)


def simulate(seed: int, sensor: str, size_px: int = 512) -> OtherPair:
    """Simulate a before/after pair of a port for one sensor.

    Parameters
    ----------
    seed : int
        Draws the port, the traffic (shared by both sensors) and the imaging.
    sensor : {"s1", "s2"}
    size_px : int, default 512
        Side of the scene in 10 m pixels (even).

    Returns
    -------
    OtherPair
    """
    if sensor not in ("s1", "s2"):
        raise ValueError(f"sensor must be 's1' or 's2', got {sensor!r}")
    if size_px % 2:
        raise ValueError("size_px must be even")
    size_m = size_px * PIXEL_M
    world = np.random.default_rng([seed, 11])
    layout = make_layout(world, size_m)
    traffic = make_traffic(world, layout)
    static = _static(np.random.default_rng([seed, 13]), layout, size_px)
    look = np.random.default_rng([seed, 23, 1 if sensor == "s1" else 2])
    magnitude, angle = look.uniform(0.3, 3.0), look.uniform(0, 2 * np.pi)
    shift = (float(magnitude * math.cos(angle)), float(magnitude * math.sin(angle)))
    epsg = int(look.choice(EPSG_CHOICES))
    north = epsg < 32700
    x0 = float(np.round(look.uniform(300_000, 650_000), -1))
    y0 = float(
        np.round(
            look.uniform(1_000_000, 6_000_000) if north else look.uniform(4_000_000, 9_000_000), -1
        )
    )
    crs = CRS.from_epsg(epsg)
    transform = from_origin(x0, y0 + size_m, PIXEL_M, PIXEL_M)
    t0 = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=int(look.integers(0, 700)))
    if sensor == "s1":
        cfg1 = _s1_config(look)
        t0 += timedelta(hours=18 if cfg1.toward[0] < 0 else 6)
        t1 = t0 + timedelta(days=int(look.choice([6, 12])))
        images = [
            _render_s1(layout, static, traffic.before, cfg1, look, (0.0, 0.0), 0.0),
            _render_s1(layout, static, traffic.after, cfg1, look, shift, cfg1.calibration_db),
        ]
        names, nodata = S1_NAMES, None
        veils = []
        info = {
            "pass": "ascending" if cfg1.toward[0] < 0 else "descending",
            "incidence": cfg1.incidence,
            "looks": cfg1.looks,
            "nesz_db": cfg1.nesz_db,
            "noise_removed": cfg1.noise_removed,
            "calibration_db": cfg1.calibration_db,
            "k_shape": cfg1.k_shape,
            "edge_db": cfg1.edge_db,
        }
    else:
        cfg2 = _s2_config(look)
        t0 += timedelta(hours=10, minutes=30)
        t1 = t0 + timedelta(days=int(look.choice([5, 10])))
        rendered = [
            _render_s2(layout, static, traffic.before, cfg2, 0, look, (0.0, 0.0)),
            _render_s2(layout, static, traffic.after, cfg2, 1, look, shift),
        ]
        images = [image for image, _ in rendered]
        veils = [cloud for _, cloud in rendered]
        names = S2_NAMES + (("SCL",) if cfg2.scl else ())
        nodata = None
        if cfg2.digital:
            converted = []
            for img in images:
                dn = np.clip(np.round(img[:5] * 10_000), 1, 65535).astype(np.uint16)
                converted.append(np.concatenate([dn, img[5:].astype(np.uint16)]))
            images, nodata = converted, 0
        info = {
            "scl": cfg2.scl,
            "digital": cfg2.digital,
            "sun": cfg2.sun,
            "turbidity": cfg2.turbidity,
            "cloud_fraction": [round(float((v > 0.2).mean()), 4) for v in veils],
        }
    info.update(
        {
            "wind": (traffic.before.wind, traffic.after.wind),
            "epsg": epsg,
            "quays": len(layout.quays),
            "piers": len(layout.piers),
            "breakwater": layout.breakwater is not None,
            "yards": len(layout.yards),
        }
    )
    # What a Sentinel-1 file's metadata says of its viewing geometry.
    viewing = {}
    if sensor == "s1":
        away = -cfg1.toward
        viewing = {
            "look_azimuth_deg": math.degrees(math.atan2(away[0], away[1])) % 360.0,
            "incidence_deg": cfg1.incidence,
        }
    rasters = [
        Raster(
            img, transform, crs, nodata=nodata, time=t, sensor=sensor, band_names=names, **viewing
        )
        for img, t in zip(images, (t0, t1), strict=True)
    ]
    origin = (x0, y0)
    new_ids = {v.ident for v in traffic.new_vessels}
    frames = {
        "new_vessels": _vessel_frame(traffic.new_vessels, crs, origin, new_ids),
        "departed": _vessel_frame(traffic.departed, crs, origin),
        "new_cargo": _stack_frame(traffic.new_stacks, crs, origin),
        "vessels_before": _vessel_frame(traffic.before.vessels, crs, origin),
        "vessels_after": _vessel_frame(traffic.after.vessels, crs, origin, new_ids),
    }
    for frame in frames.values():
        frame["cloud"] = _clouded(frame, veils, transform)
    return OtherPair(
        before=rasters[0],
        after=rasters[1],
        **frames,
        shift_px=shift,
        after_offset_m=(shift[0] * PIXEL_M, -shift[1] * PIXEL_M),
        land=affinity.translate(layout.land, *origin),
        rough=affinity.translate(
            unary_union([g for g in (layout.breakwater, layout.beaches) if g is not None]),
            *origin,
        ),
        cloud=np.stack(veils) if veils else None,
        objects=_objects_frame(layout, traffic, crs, origin),
        info=info,
    )


def _clouded(frame: gpd.GeoDataFrame, veils: list[np.ndarray], transform: Affine) -> list:
    """The largest cloud opacity of either date within 20 m of each footprint."""
    out = []
    for geom in frame.geometry:
        worst = 0.0
        left, bottom, right, top = geom.buffer(20).bounds
        c0, r0 = ~transform * (left, top)
        c1, r1 = ~transform * (right, bottom)
        for veil in veils:
            rows = slice(max(int(r0), 0), max(math.ceil(r1), 0))
            cols = slice(max(int(c0), 0), max(math.ceil(c1), 0))
            patch = veil[rows, cols]
            if patch.size:
                worst = max(worst, float(patch.max()))
        out.append(round(worst, 3))
    return out


def _objects_frame(
    layout: Layout, traffic: Traffic, crs: CRS, origin: tuple[float, float]
) -> gpd.GeoDataFrame:
    rows, geoms = [], []

    def add(kind: str, ident: int, status: str, date: str, geom: BaseGeometry) -> None:
        rows.append({"kind": kind, "id": ident, "status": status, "date": date})
        geoms.append(affinity.translate(geom, *origin))

    after = {v.ident: v for v in traffic.after.vessels}
    for v in traffic.before.vessels:
        if v.ident not in after:
            add("vessel", v.ident, "departed", "before", vessel_hull(v))
        elif after[v.ident].swung:
            add("vessel", v.ident, "swung", "before", vessel_hull(v))
            add("vessel", v.ident, "swung", "after", vessel_hull(after[v.ident]))
        else:
            add("vessel", v.ident, "stay", "both", vessel_hull(v))
    for v in traffic.new_vessels:
        add("vessel", v.ident, "new", "after", vessel_hull(v))
    tiers = {s.ident: s.tiers for s in traffic.before.stacks}
    for s in traffic.before.stacks:
        if s.status == "gone":
            add("stack", s.ident, "gone", "before", s.footprint)
    for s in traffic.after.stacks:
        if s.status == "new":
            add("stack", s.ident, "new", "after", s.footprint)
        else:
            status = "stay" if tiers[s.ident] == s.tiers else "restacked"
            add("stack", s.ident, status, "both", s.footprint)
    for k, (cb, ca) in enumerate(zip(traffic.before.cranes, traffic.after.cranes, strict=True)):
        q = layout.quays[cb.quay]
        theta = math.atan2(q.direction[1], q.direction[0])
        for crane, date in ((cb, "before"), (ca, "after")):
            base = q.start + q.direction * crane.s - q.normal * 16
            status = "moved" if cb.s != ca.s else "stay"
            add("crane", k, status, date, _rect(base[0], base[1], theta, 25, 32))
    return gpd.GeoDataFrame(rows, columns=["kind", "id", "status", "date"], geometry=geoms, crs=crs)
