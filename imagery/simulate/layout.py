"""The port's fixed geometry: coastline, quays, piers, basin, yards, roads, buildings.

:func:`generate_layout` builds a procedural port from a random generator, in ground
metres on the scene's UTM grid. It is drawn in a local frame whose ``v`` axis points to
sea and ``u`` axis runs along the coast, then rotated by a random angle, so seeds vary
the coast orientation, the number and length of piers, whether there is a dock basin
and a breakwater, and the mix of container and bulk yards.

The layout also lists where things can be put: berths (edges of quays and piers that
face water, with their outward normal), cargo slots in the yards, an anchorage further
out, and the scatterers that stay put between dates (quay edges, building walls and
corners, masts and pylons on land).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from imagery.simulate.materials import Look, draw_look

__all__ = ["Berth", "Frame", "Layout", "Part", "Slot", "generate_layout", "sample_boundary"]


@dataclasses.dataclass(frozen=True)
class Part:
    """One drawable polygon: where it is, what it is made of, how it looks.

    ``material`` is ``"natural"`` (textured land, drawn from ground fields), ``"water"``
    or a man-made surface (drawn flat with ``look``). ``height_m`` > 0 casts shadows.
    """

    geometry: BaseGeometry
    material: str
    look: Look | None = None
    height_m: float = 0.0


@dataclasses.dataclass(frozen=True)
class Frame:
    """Local port frame: ``u`` along the coast, ``v`` to sea, origin at the grid centre."""

    cx: float
    cy: float
    theta: float  # direction of +v, radians counter-clockwise from grid east

    def xy(self, u, v):
        """Ground (x, y) of local (u, v); works on scalars and arrays."""
        s, c = math.sin(self.theta), math.cos(self.theta)
        u, v = np.asarray(u), np.asarray(v)
        return self.cx + s * u + c * v, self.cy - c * u + s * v

    def vec(self, du, dv) -> tuple[float, float]:
        """A local direction as a ground vector."""
        s, c = math.sin(self.theta), math.cos(self.theta)
        return s * du + c * dv, -c * du + s * dv

    def geom(self, g: BaseGeometry) -> BaseGeometry:
        s, c = math.sin(self.theta), math.cos(self.theta)
        return affinity.affine_transform(g, [s, c, -c, s, self.cx, self.cy])

    def uv(self, x, y):
        """Local (u, v) of ground points."""
        s, c = math.sin(self.theta), math.cos(self.theta)
        dx = np.asarray(x) - self.cx
        dy = np.asarray(y) - self.cy
        return s * dx - c * dy, c * dx + s * dy


@dataclasses.dataclass(frozen=True)
class Berth:
    """A straight mooring edge: ships lie along ``direction``, on the ``normal`` side."""

    name: str
    origin: tuple[float, float]
    direction: tuple[float, float]
    normal: tuple[float, float]
    length_m: float

    def at(self, s_m: float, offset_m: float) -> tuple[float, float]:
        """Ground point ``s_m`` along the edge and ``offset_m`` out over the water."""
        return (
            self.origin[0] + self.direction[0] * s_m + self.normal[0] * offset_m,
            self.origin[1] + self.direction[1] * s_m + self.normal[1] * offset_m,
        )

    @property
    def heading_deg(self) -> float:
        return heading_of(*self.direction)


@dataclasses.dataclass(frozen=True)
class Slot:
    """A place in a yard where one cargo block (a stack or a bulk pile) can stand."""

    index: int
    yard: int
    row: int
    position: int
    centre: tuple[float, float]
    heading_deg: float
    length_m: float
    width_m: float
    bulk: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """The fixed port: static parts in painting order and where objects may go.

    Attributes
    ----------
    frame : Frame
    bounds : (left, bottom, right, top)
        The nominal grid, metres.
    land : geometry
        All solid ground, piers and breakwaters included.
    water : geometry
        The grid (plus a margin) minus ``land``.
    parts : tuple of Part
        Static surfaces in painting order.
    berths, slots : tuples
    anchorage : geometry or None
        Where ships anchor.
    sheltered : geometry
        Water in the basin and behind breakwaters (calmer, darker in C-band).
    edges : ndarray, shape (n, 5)
        Samples of quay and pier edges facing water: x, y, outward normal nx, ny, spacing.
    walls : ndarray, shape (n, 6)
        Samples of building walls: x, y, nx, ny, spacing, height.
    cranes : ndarray, shape (n, 4)
        Quay cranes: x, y and their rail direction ux, uy.
    scatterers : ndarray, shape (n, 4)
        Fixed bright points: x, y, strength (dB over one pixel), height.
    urban : tuple of (x, y, radius_m)
        Centres of built-up land (land there is less vegetated).
    """

    frame: Frame
    bounds: tuple[float, float, float, float]
    land: BaseGeometry
    water: BaseGeometry
    parts: tuple[Part, ...]
    berths: tuple[Berth, ...]
    slots: tuple[Slot, ...]
    anchorage: BaseGeometry | None
    sheltered: BaseGeometry
    edges: np.ndarray
    walls: np.ndarray
    cranes: np.ndarray
    scatterers: np.ndarray
    urban: tuple[tuple[float, float, float], ...]
    n_piers: int
    has_basin: bool
    has_breakwater: bool


def heading_of(dx: float, dy: float) -> float:
    """Compass heading (degrees clockwise from grid north, 0-360) of a ground vector."""
    return float(math.degrees(math.atan2(dx, dy)) % 360.0)


def _rect(u0: float, u1: float, v0: float, v1: float) -> Polygon:
    return box(min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1))


def _noise_1d(rng: np.random.Generator, n: int, *, beta: float, outer: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    amp = (f**2 + (1.0 / outer) ** 2) ** (-beta / 4.0)
    out = np.fft.irfft(spec * amp, n)
    return (out - out.mean()) / (out.std() or 1.0)


def sample_boundary(geom: BaseGeometry, *, step_m: float) -> np.ndarray:
    """Points along every ring of ``geom`` with outward normals.

    Returns
    -------
    ndarray, shape (n, 5)
        x, y, nx, ny (unit normal pointing away from the polygon body), and the edge
        length each sample stands for (metres).
    """
    out = []
    for poly in shapely.get_parts(shapely.orient_polygons(geom)):
        if poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)
            d = np.diff(xy, axis=0)
            length = np.hypot(d[:, 0], d[:, 1])
            keep = length > 1e-6
            xy0, d, length = xy[:-1][keep], d[keep], length[keep]
            count = np.maximum(1, np.ceil(length / step_m)).astype(int)
            seg = np.repeat(np.arange(len(length)), count)
            k = np.concatenate([np.arange(c) for c in count]) if len(count) else np.array([])
            t = (k + 0.5) / count[seg]
            pts = xy0[seg] + d[seg] * t[:, np.newaxis]
            unit = d[seg] / length[seg, np.newaxis]
            normal = np.column_stack([unit[:, 1], -unit[:, 0]])
            ds = (length / count)[seg]
            out.append(np.column_stack([pts, normal, ds]))
    return np.concatenate(out) if out else np.zeros((0, 5))


def _to_world_samples(frame: Frame, samples: np.ndarray) -> np.ndarray:
    if len(samples) == 0:
        return samples
    x, y = frame.xy(samples[:, 0], samples[:, 1])
    nx, ny = frame.vec(samples[:, 2], samples[:, 3])
    return np.column_stack([x, y, nx, ny, samples[:, 4:]])


@dataclasses.dataclass
class _Pier:
    stem: Polygon
    u: float
    width: float
    length: float
    tilt_deg: float
    cap: Polygon | None = None
    half_cap: float = 0.0
    cap_thick: float = 0.0

    @property
    def shape(self) -> Polygon:
        return self.stem if self.cap is None else self.stem.union(self.cap)


@dataclasses.dataclass
class _Draft:
    """Geometry in local (u, v) metres while the port is being built."""

    half: float
    v_quay: float
    u0: float
    u1: float
    depth: float
    apron: float
    natural: Polygon
    coast_u: np.ndarray
    coast_v: np.ndarray
    basin: Polygon | None = None
    piers: list[_Pier] = dataclasses.field(default_factory=list)
    breakwater: BaseGeometry | None = None
    shelter: BaseGeometry | None = None
    v_out: float = 0.0


def _coast(rng: np.random.Generator, half: float) -> _Draft:
    radius = half * math.sqrt(2.0) + 400.0
    v_quay = rng.uniform(-0.28, -0.08) * half
    usable = math.sqrt(max((0.9 * half) ** 2 - v_quay**2, (0.5 * half) ** 2))
    front = min(2 * usable - 100.0, rng.uniform(0.9, 1.5) * half)
    u0 = rng.uniform(-usable + 50.0, usable - 50.0 - front)
    u1 = u0 + front
    depth = min(rng.uniform(350.0, 650.0), 0.45 * half + 0.3 * abs(v_quay) + 150.0)
    u = np.arange(-radius, radius + 20.0, 20.0)
    v_nat = v_quay - rng.uniform(0.05, 0.15) * half
    # Natural coastlines have a fractal dimension of about 1.2-1.3 (profile spectrum ~ k^-2.5).
    wiggle = _noise_1d(rng, len(u), beta=2.5, outer=100.0) * rng.uniform(0.03, 0.08) * half
    natural = np.clip(v_nat + wiggle, -0.75 * half, v_quay + 0.25 * half)
    outside = np.maximum.reduce([u0 - u, u - u1, np.zeros_like(u)])
    w = np.clip(outside / rng.uniform(150.0, 400.0), 0.0, 1.0)
    coast = v_quay * (1 - w) + natural * w
    # Keep the platform behind the quay line on solid ground whatever the wiggle does.
    inside = (u > u0 - 40) & (u < u1 + 40)
    coast[inside] = v_quay
    ring = [*zip(u, coast, strict=True), (radius, -radius), (-radius, -radius)]
    return _Draft(
        half=half,
        v_quay=v_quay,
        u0=u0,
        u1=u1,
        depth=depth,
        apron=rng.uniform(25.0, 45.0),
        natural=Polygon(ring).buffer(0),
        coast_u=u,
        coast_v=coast,
    )


def _basin_and_piers(rng: np.random.Generator, d: _Draft) -> None:
    front = d.u1 - d.u0
    if front > 700 and rng.random() < 0.65:
        width = rng.uniform(150.0, min(320.0, front * 0.3))
        depth = max(150.0, rng.uniform(0.45, 0.75) * (d.depth - 80.0))
        b0 = rng.uniform(d.u0 + 90.0, d.u1 - 90.0 - width)
        d.basin = _rect(b0, b0 + width, d.v_quay - depth, d.v_quay + 2.0)
    wanted = int(rng.integers(1, 5))
    for _ in range(80):
        if len(d.piers) >= wanted:
            break
        up = rng.uniform(d.u0 + 70.0, d.u1 - 70.0)
        if any(abs(up - p.u) < 300.0 for p in d.piers):
            continue
        if d.basin is not None:
            b0, _, b1, _ = d.basin.bounds
            if b0 - 160.0 < up < b1 + 160.0:
                continue
        width = rng.uniform(30.0, 60.0)
        reach = math.sqrt(max((d.half - 130.0) ** 2 - up**2, 0.0)) - d.v_quay
        longest = min(600.0, reach, 0.55 * d.half)
        if longest < 150.0:
            continue
        length = rng.uniform(150.0, longest)
        tilt = rng.uniform(-8.0, 8.0)
        stem = _rect(up - width / 2, up + width / 2, d.v_quay - 5.0, d.v_quay + length)
        stem = affinity.rotate(stem, tilt, origin=(up, d.v_quay))
        pier = _Pier(stem, up, width, length, tilt)
        if rng.random() < 0.25:
            pier.half_cap = width / 2 + rng.uniform(30.0, 80.0)
            pier.cap_thick = rng.uniform(25.0, 40.0)
            cap = _rect(
                up - pier.half_cap,
                up + pier.half_cap,
                d.v_quay + length - pier.cap_thick,
                d.v_quay + length,
            )
            pier.cap = affinity.rotate(cap, tilt, origin=(up, d.v_quay))
        d.piers.append(pier)
    longest = max((p.length for p in d.piers), default=0.0)
    d.v_out = d.v_quay + longest


def _breakwater(rng: np.random.Generator, d: _Draft) -> None:
    if rng.random() >= 0.5:
        return
    left = rng.random() < 0.5
    u_s = d.u0 - rng.uniform(30.0, 100.0) if left else d.u1 + rng.uniform(30.0, 100.0)
    v_end = d.v_out + rng.uniform(150.0, 300.0) if d.piers else d.v_quay + rng.uniform(300, 500)
    if math.hypot(u_s, v_end) > d.half - 60.0:
        return
    arm = rng.uniform(0.35, 0.7) * (d.u1 - d.u0)
    u_e = u_s + arm if left else u_s - arm
    width = rng.uniform(25.0, 40.0)
    near = np.abs(d.coast_u - u_s) < 60.0
    root = float(d.coast_v[near].min()) - 40.0 if near.any() else d.v_quay - 0.2 * d.half
    line = LineString([(u_s, root), (u_s, v_end), (u_e, v_end)])
    d.breakwater = line.buffer(width / 2, cap_style="flat", join_style="mitre")
    d.shelter = _rect(u_s, u_e, d.v_quay, v_end)
    d.v_out = v_end + width / 2


def _yards(rng: np.random.Generator, d: _Draft, road_w: float) -> list[tuple[Polygon, bool]]:
    v_hi = d.v_quay - d.apron - 10.0
    v_lo = d.v_quay - d.depth + road_w + 20.0
    if v_hi - v_lo < 40.0:
        return []
    region = _rect(d.u0 + 30.0, d.u1 - 30.0, v_lo, v_hi)
    if d.basin is not None:
        region = region.difference(d.basin.buffer(d.apron + 10.0, join_style="mitre"))
    count = max(1, round((d.u1 - d.u0) / rng.uniform(400.0, 700.0)))
    edges = np.linspace(d.u0 + 30.0, d.u1 - 30.0, count + 1)
    yards = []
    container_first = int(rng.integers(count))
    for i in range(count):
        piece = region.intersection(_rect(edges[i] + 9.0, edges[i + 1] - 9.0, v_lo, v_hi))
        for poly in shapely.get_parts(piece):
            if poly.area > 5000.0:
                bulk = i != container_first and rng.random() < 0.3
                yards.append((poly, bulk))
    return yards


def _slots(rng: np.random.Generator, yards: list[tuple[Polygon, bool]]) -> list[tuple]:
    found = []
    for y_index, (poly, bulk) in enumerate(yards):
        u_lo, v_lo, u_hi, v_hi = poly.bounds
        row_w = rng.uniform(40.0, 60.0) if bulk else rng.uniform(22.0, 40.0)
        row_gap = rng.uniform(20.0, 30.0) if bulk else rng.uniform(10.0, 16.0)
        lengths = (84.0, 250.0) if bulk else (44.0, 160.0)
        gap = rng.uniform(20.0, 30.0) if bulk else rng.uniform(8.0, 14.0)
        inner = poly.buffer(-2.0)
        row = 0
        v_top = v_hi - 5.0
        while v_top - row_w > v_lo:
            u = u_lo + rng.uniform(3.0, 15.0)
            position = 0
            while True:
                length = rng.uniform(*lengths)
                if not bulk and rng.random() < 0.1:
                    length = rng.uniform(160.0, 250.0)
                if u + length > u_hi - 3.0:
                    length = u_hi - 3.0 - u
                    if length < lengths[0]:
                        break
                rect = _rect(u, u + length, v_top - row_w, v_top)
                if inner.contains(rect):
                    found.append((y_index, row, position, rect, length, row_w, bulk))
                    position += 1
                u += length + gap
            row += 1
            v_top -= row_w + row_gap
    return found


def _roads_and_buildings(
    rng: np.random.Generator, d: _Draft, land: BaseGeometry, road_w: float
) -> tuple[list[Polygon], list[tuple[Polygon, float]], tuple[float, float, float]]:
    big = d.half * math.sqrt(2.0) + 400.0
    v_back = d.v_quay - d.depth
    roads = [_rect(-big, big, v_back + 5.0, v_back + 5.0 + road_w).intersection(land)]
    ua = rng.uniform(d.u0 + 50.0, d.u1 - 50.0)
    roads.append(_rect(ua - road_w / 2, ua + road_w / 2, -big, v_back + 10.0).intersection(land))
    if rng.random() < 0.6:
        v_r = v_back - rng.uniform(300.0, 900.0)
        line = LineString(
            [(-big, v_r + rng.uniform(-150, 150)), (big, v_r + rng.uniform(-150, 150))]
        )
        roads.append(line.buffer(road_w / 2, cap_style="flat").intersection(land))
    roads = [r for r in roads if not r.is_empty]
    taken = shapely.union_all([*roads, _rect(d.u0, d.u1, v_back, d.v_quay)])
    buildings: list[tuple[Polygon, float]] = []
    safe_land = land.buffer(-8.0)

    def try_add(poly: Polygon, height: float) -> None:
        if not safe_land.contains(poly) or poly.intersects(taken):
            return
        if any(poly.distance(b) < 6.0 for b, _ in buildings):
            return
        buildings.append((poly, height))

    for _ in range(int(rng.integers(3, 9))):
        w = rng.uniform(40.0, 140.0)
        u = rng.uniform(d.u0, d.u1 - w)
        depth = rng.uniform(25.0, 60.0)
        try_add(_rect(u, u + w, v_back - 12.0 - depth, v_back - 12.0), rng.uniform(10.0, 20.0))
    town = (
        rng.uniform(-0.6, 0.6) * d.half,
        v_back - rng.uniform(250.0, 650.0),
        rng.uniform(300.0, 500.0),
    )
    angle = rng.uniform(-15.0, 15.0)
    for _ in range(int(rng.integers(25, 60))):
        r = town[2] * math.sqrt(rng.random())
        a = rng.uniform(0, 2 * math.pi)
        cu, cv = town[0] + r * math.cos(a), town[1] + r * math.sin(a)
        w, h = rng.uniform(12.0, 40.0), rng.uniform(12.0, 40.0)
        poly = affinity.rotate(
            _rect(cu - w / 2, cu + w / 2, cv - h / 2, cv + h / 2), angle + rng.uniform(-4, 4)
        )
        try_add(poly, rng.uniform(6.0, 30.0))
    return roads, buildings, town


def _berths(d: _Draft, frame: Frame) -> list[Berth]:
    found: list[tuple[str, tuple, tuple, tuple, float]] = []
    # quay line, minus pier roots and the basin mouth
    blocked = [(p.u - p.width / 2 - 25.0, p.u + p.width / 2 + 25.0) for p in d.piers]
    if d.basin is not None:
        b0, _, b1, _ = d.basin.bounds
        blocked.append((b0 - 15.0, b1 + 15.0))
    start = d.u0 + 20.0
    for lo, hi in [*sorted(blocked), (d.u1 - 20.0, d.u1 - 20.0)]:
        if lo - start >= 60.0:
            name = f"quay{len(found)}"
            found.append((name, (start, d.v_quay), (1.0, 0.0), (0.0, 1.0), lo - start))
        start = max(start, hi)
    for i, p in enumerate(d.piers):
        t = math.radians(p.tilt_deg)
        axis = (-math.sin(t), math.cos(t))
        side = (math.cos(t), math.sin(t))
        usable = p.length - 20.0 - (p.cap_thick + 15.0 if p.cap is not None else 0.0)
        for sign, tag in ((1.0, "e"), (-1.0, "w")):
            root = (
                p.u + sign * side[0] * p.width / 2 + axis[0] * 15.0,
                d.v_quay + sign * side[1] * p.width / 2 + axis[1] * 15.0,
            )
            if usable > 50.0:
                found.append(
                    (f"pier{i}{tag}", root, axis, (sign * side[0], sign * side[1]), usable)
                )
        if p.cap is not None:
            reach = p.half_cap - 5.0
            end = (p.u + axis[0] * p.length, d.v_quay + axis[1] * p.length)
            origin = (end[0] - side[0] * reach, end[1] - side[1] * reach)
            found.append((f"pier{i}head", origin, side, axis, 2 * reach))
    if d.basin is not None:
        b0, bv0, b1, _ = d.basin.bounds
        top = d.v_quay - 10.0
        found.append(("basin_w", (b0, bv0 + 10.0), (0.0, 1.0), (1.0, 0.0), top - bv0 - 10.0))
        found.append(("basin_e", (b1, bv0 + 10.0), (0.0, 1.0), (-1.0, 0.0), top - bv0 - 10.0))
        found.append(("basin_head", (b0 + 10.0, bv0), (1.0, 0.0), (0.0, 1.0), b1 - b0 - 20.0))
    berths = []
    for name, origin, direction, normal, length in found:
        if length < 50.0:
            continue
        ox, oy = frame.xy(*origin)
        berths.append(
            Berth(
                name=name,
                origin=(float(ox), float(oy)),
                direction=tuple(float(c) for c in frame.vec(*direction)),
                normal=tuple(float(c) for c in frame.vec(*normal)),
                length_m=float(length),
            )
        )
    return berths


def _cranes(rng: np.random.Generator, berths: list[Berth]) -> np.ndarray:
    rows = []
    for b in berths:
        if b.name.startswith("pier") and rng.random() < 0.6:
            continue
        s = rng.uniform(10.0, 60.0)
        while s < b.length_m - 10.0:
            if rng.random() < 0.7:
                x, y = b.at(s, -rng.uniform(12.0, 20.0))
                rows.append((x, y, *b.direction))
            s += rng.uniform(50.0, 110.0)
    return np.asarray(rows, dtype=float).reshape(-1, 4)


def _anchorage(
    d: _Draft, frame: Frame, water: BaseGeometry, land: BaseGeometry
) -> BaseGeometry | None:
    disk = frame.geom(Point(0.0, 0.0).buffer(d.half - 120.0, 64))
    v_a = d.v_out + 350.0
    big = 4.0 * d.half
    offshore = frame.geom(_rect(-big, big, v_a, big))
    clear = water.difference(land.buffer(300.0))
    region = disk.intersection(offshore).intersection(clear)
    if region.area >= 3e5:
        return region
    region = disk.intersection(water.difference(land.buffer(400.0)))
    return region if region.area >= 1e5 else None


def generate_layout(
    rng: np.random.Generator, *, bounds: tuple[float, float, float, float]
) -> Layout:
    """A procedural port filling the grid ``bounds`` (left, bottom, right, top), metres.

    The grid should be at least about 1.3 km across; piers, basin and anchorage scale
    with it up to the sizes of a real port (piers up to 600 m).
    """
    left, bottom, right, top = bounds
    half = min(right - left, top - bottom) / 2.0
    frame = Frame((left + right) / 2.0, (bottom + top) / 2.0, rng.uniform(0.0, 2 * math.pi))
    d = _coast(rng, half)
    _basin_and_piers(rng, d)
    _breakwater(rng, d)
    road_w = rng.uniform(10.0, 20.0)

    platform = _rect(d.u0, d.u1, d.v_quay - d.depth, d.v_quay)
    structures = [p.shape for p in d.piers]
    solid = shapely.union_all([d.natural, *structures])
    if d.breakwater is not None:
        solid = solid.union(d.breakwater)
    if d.basin is not None:
        solid = solid.difference(d.basin)
        platform = platform.difference(d.basin)
    natural = d.natural.difference(d.basin) if d.basin is not None else d.natural
    big = 4.0 * d.half
    water_uv = _rect(-big, big, -big, big).difference(solid)
    apron = platform.intersection(water_uv.buffer(d.apron, join_style="mitre"))
    yards = _yards(rng, d, road_w)
    slot_rows = _slots(rng, yards)
    roads, buildings, town = _roads_and_buildings(rng, d, natural, road_w)

    man_made = shapely.union_all([platform, *structures])
    edges = sample_boundary(solid, step_m=2.5)
    if len(edges):
        inside = edges[:, :2] - 3.0 * edges[:, 2:4]
        outside = edges[:, :2] + 4.0 * edges[:, 2:4]
        keep = shapely.contains_xy(man_made, inside[:, 0], inside[:, 1]) & ~shapely.contains_xy(
            solid, outside[:, 0], outside[:, 1]
        )
        edges = edges[keep]

    parts: list[Part] = [Part(frame.geom(natural), "natural")]
    parts.append(Part(frame.geom(platform), "paved", draw_look("paved", rng)))
    parts += [Part(frame.geom(y), "yard", draw_look("yard", rng)) for y, _ in yards]
    parts += [Part(frame.geom(r), "road", draw_look("road", rng)) for r in roads]
    parts.append(Part(frame.geom(apron), "apron", draw_look("apron", rng)))
    for p in d.piers:
        parts.append(Part(frame.geom(p.shape), "pier", draw_look("pier", rng)))
    if d.breakwater is not None:
        parts.append(Part(frame.geom(d.breakwater), "breakwater", draw_look("breakwater", rng)))
    parts += [Part(frame.geom(b), "building", draw_look("building", rng), h) for b, h in buildings]

    walls = []
    corners = []
    for b, h in buildings:
        s = sample_boundary(b, step_m=2.5)
        walls.append(np.column_stack([s, np.full(len(s), h)]))
        for cu, cv in list(b.exterior.coords)[:-1]:
            if rng.random() < 0.5:
                corners.append((cu, cv, rng.uniform(5.0, 18.0), h))
    walls_arr = np.concatenate(walls) if walls else np.zeros((0, 6))

    land_world = frame.geom(solid)
    water_world = frame.geom(water_uv)
    natural_world = frame.geom(natural)
    scatterers = _land_scatterers(rng, natural_world, corners, frame, slot_rows, bounds)
    berths = _berths(d, frame)
    heading_u = heading_of(*frame.vec(1.0, 0.0))
    slots = []
    for i, (yard, row, pos, rect, length, width, bulk) in enumerate(slot_rows):
        c = rect.centroid
        cx, cy = frame.xy(c.x, c.y)
        slots.append(
            Slot(i, yard, row, pos, (float(cx), float(cy)), heading_u, length, width, bulk)
        )
    shelter_parts = [g for g in (d.basin, d.shelter) if g is not None]
    sheltered = frame.geom(shapely.union_all(shelter_parts)).intersection(water_world)
    pc = platform.centroid
    px, py = frame.xy(pc.x, pc.y)
    tx, ty = frame.xy(town[0], town[1])
    return Layout(
        frame=frame,
        bounds=bounds,
        land=land_world,
        water=water_world,
        parts=tuple(parts),
        berths=tuple(berths),
        slots=tuple(slots),
        anchorage=_anchorage(d, frame, water_world, land_world),
        sheltered=sheltered,
        edges=_to_world_samples(frame, edges),
        walls=_to_world_samples(frame, walls_arr),
        cranes=_cranes(rng, berths),
        scatterers=scatterers,
        urban=((float(px), float(py), (d.u1 - d.u0) / 2.0), (float(tx), float(ty), town[2])),
        n_piers=len(d.piers),
        has_basin=d.basin is not None,
        has_breakwater=d.breakwater is not None,
    )


def _land_scatterers(
    rng: np.random.Generator,
    natural: BaseGeometry,
    corners: list[tuple[float, float, float, float]],
    frame: Frame,
    slot_rows: list[tuple],
    bounds: tuple[float, float, float, float],
) -> np.ndarray:
    rows = []
    for cu, cv, strength, h in corners:
        x, y = frame.xy(cu, cv)
        rows.append((x, y, strength, h))
    # light masts between yard rows
    for _, _, _, rect, *_ in slot_rows[:: max(1, len(slot_rows) // 8)]:
        x, y = frame.xy(rect.centroid.x, rect.bounds[3] + 4.0)
        rows.append((x, y, rng.uniform(0.0, 8.0), 30.0))
    # pylons, sheds and fences on open land
    left, bottom, right, top = bounds
    n = int(rng.uniform(0.5, 2.0) * natural.area / 1e5)
    if n:
        x = rng.uniform(left, right, size=4 * n)
        y = rng.uniform(bottom, top, size=4 * n)
        ok = shapely.contains_xy(natural, x, y)
        x, y = x[ok][:n], y[ok][:n]
        for xi, yi in zip(x, y, strict=True):
            rows.append((xi, yi, rng.uniform(0.0, 12.0), rng.uniform(5.0, 40.0)))
    return np.asarray(rows, dtype=float).reshape(-1, 4)
