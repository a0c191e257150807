"""Vessels and cargo blocks: footprints with internal structure and scatterers.

A :class:`PortObject` is something that comes and goes between dates: a vessel at a
berth or at anchor, or a cargo block (a container stack or a bulk pile) in a yard. Its
``footprint`` is the true ground polygon reported as truth; ``parts`` split it into
surfaces that look different (hull and deck, hatch covers or container bays, a
superstructure, a forecastle; bays of containers of different colours and heights),
and ``points``/``edges`` are the strong C-band scatterers on it (masts, superstructure
corners, the hull-sea dihedral). Nothing is a flat noise-free rectangle.

Ship-local coordinates: ``a`` metres along the hull towards the bow, ``c`` metres to
port. Headings are compass degrees (clockwise from grid north) of the bow, or of the
long axis for cargo.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
from shapely import affinity
from shapely.geometry import LineString, Polygon, box
from shapely.geometry.base import BaseGeometry

from imagery.simulate.layout import Part, Slot, sample_boundary
from imagery.simulate.materials import (
    BULK_COLOURS,
    CONTAINER_COLOURS,
    DECK_COLOURS,
    look_from,
    mix,
)

__all__ = ["PortObject", "make_boat", "make_cargo", "make_vessel", "rotate_object"]

VESSEL_TYPES = ("container", "bulk", "tanker", "general")
_TYPE_WEIGHTS = (0.3, 0.3, 0.2, 0.2)
TIER_M = 2.6  # height of one container tier


@dataclasses.dataclass(frozen=True, eq=False)
class PortObject:
    """A vessel or a cargo block on the ground.

    Attributes
    ----------
    id : int
        Stable across dates: a vessel that stays keeps its id.
    kind : {"vessel", "cargo", "boat"}
        ``boat`` is small craft drawn as clutter and never reported.
    setting : {"berth", "anchor", "yard", "harbour"}
    footprint : shapely Polygon
        True ground outline, scene CRS metres.
    parts : tuple of Part
    points : ndarray, shape (n, 4)
        Point scatterers: x, y, strength (dB over one pixel), height (m).
    edges : ndarray, shape (n, 6)
        Dihedral edge samples: x, y, nx, ny, spacing (m), strength (dB).
    length_m, width_m, heading_deg : float
    subtype : str
        Vessel type or cargo kind (``container``, ``coal``, ...).
    place : str
        Berth name, ``anchorage``, or ``slot<n>``.
    pivot : (x, y) or None
        Anchor position an anchored ship swings around (near its bow).
    """

    id: int
    kind: str
    setting: str
    footprint: Polygon
    parts: tuple[Part, ...]
    points: np.ndarray
    edges: np.ndarray
    length_m: float
    width_m: float
    heading_deg: float
    subtype: str
    place: str
    pivot: tuple[float, float] | None = None
    slot: int | None = None


def _to_world(g: BaseGeometry, centre: tuple[float, float], heading_deg: float) -> BaseGeometry:
    h = math.radians(heading_deg)
    s, c = math.sin(h), math.cos(h)
    return affinity.affine_transform(g, [s, -c, c, s, centre[0], centre[1]])


def _points_to_world(
    local: np.ndarray, centre: tuple[float, float], heading_deg: float
) -> np.ndarray:
    if len(local) == 0:
        return np.zeros((0, 4))
    h = math.radians(heading_deg)
    s, c = math.sin(h), math.cos(h)
    x = centre[0] + s * local[:, 0] - c * local[:, 1]
    y = centre[1] + c * local[:, 0] + s * local[:, 1]
    return np.column_stack([x, y, local[:, 2:]])


def hull_outline(length_m: float, width_m: float, bow_m: float) -> Polygon:
    """Ship-local hull: a pointed bow of length ``bow_m`` and a chamfered stern."""
    half_l, half_w = length_m / 2, width_m / 2
    ch = min(0.2 * width_m, 3.0)
    return Polygon(
        [
            (-half_l, -(half_w - ch)),
            (-half_l + ch, -half_w),
            (half_l - bow_m, -half_w),
            (half_l, 0.0),
            (half_l - bow_m, half_w),
            (-half_l + ch, half_w),
            (-half_l, half_w - ch),
        ]
    )


def _edges(footprint: Polygon, strength: tuple[float, float], rng) -> np.ndarray:
    s = sample_boundary(footprint, step_m=2.5)
    db = rng.uniform(*strength) + rng.normal(0.0, 1.0, size=len(s))
    return np.column_stack([s, db])


def make_vessel(
    rng: np.random.Generator,
    *,
    id: int,
    centre: tuple[float, float],
    heading_deg: float,
    length_m: float,
    width_m: float,
    setting: str,
    place: str,
    pivot: tuple[float, float] | None = None,
) -> PortObject:
    """A vessel with a type-dependent deck layout and a bright superstructure.

    The deck's mean C-band sigma0 is drawn in 0..+9 dB VV, superstructure +5..+9 dB
    above it, cargo and hatches 0..+5 dB above, and a few masts and superstructure
    corners are point scatterers, so the hull's mean is roughly 0..+15 dB VV. VH is
    6-10 dB below VV. Optical colours come from :data:`materials.DECK_COLOURS`.
    """
    kind = str(rng.choice(VESSEL_TYPES, p=_TYPE_WEIGHTS))
    L, W = length_m, width_m
    bow = rng.uniform(0.08, 0.15) * L
    hull = hull_outline(L, W, bow)
    freeboard = float(np.clip(0.04 * L, 3.0, 14.0) * rng.uniform(0.8, 1.2))
    deck_vv = rng.uniform(0.0, 9.0)
    pol = rng.uniform(6.0, 10.0)
    deck_refl = DECK_COLOURS[rng.integers(len(DECK_COLOURS))] * rng.uniform(0.85, 1.15, size=4)
    local: list[tuple[BaseGeometry, float, float, np.ndarray, float]] = [
        (hull, deck_vv, deck_vv - pol, deck_refl, freeboard)
    ]
    # superstructure aft (a few general cargo ships carry it amidships)
    s_len = max(8.0, rng.uniform(0.08, 0.14) * L)
    midship = kind == "general" and rng.random() < 0.3
    a_s = -s_len / 2 if midship else -L / 2 + 0.03 * L
    sup_h = freeboard + rng.uniform(12.0, 25.0)
    white = rng.uniform(0.22, 0.38) * np.array([1.0, 1.02, 1.02, 1.05])
    sup_vv = deck_vv + rng.uniform(5.0, 9.0)
    local.append((box(a_s, -0.4 * W, a_s + s_len, 0.4 * W), sup_vv, sup_vv - pol, white, sup_h))
    fore = L / 2 - bow - 0.04 * L
    aft = -L / 2 + 0.05 * L
    if midship:
        cargo = [(aft, a_s - 3.0), (a_s + s_len + 3.0, fore)]
    else:
        aft = a_s + s_len + 3.0
        cargo = [(aft, fore)]
    for lo, hi in cargo:
        if hi - lo < 8.0:
            continue
        if kind == "container":
            bays = max(1, round((hi - lo) / rng.uniform(12.0, 16.0)))
            edges = np.linspace(lo, hi, bays + 1)
            for b0, b1 in itertools.pairwise(edges):
                if rng.random() < 0.2:
                    continue
                tiers = rng.integers(1, 7)
                refl = mix(CONTAINER_COLOURS, rng, parts=3)
                vv = deck_vv + rng.uniform(0.0, 5.0)
                local.append(
                    (
                        box(b0, -0.46 * W, b1 - 0.5, 0.46 * W),
                        vv,
                        vv - pol,
                        refl,
                        freeboard + TIER_M * tiers,
                    )
                )
        else:
            hatches = max(2, round((hi - lo) / rng.uniform(18.0, 26.0)))
            edges = np.linspace(lo, hi, hatches + 1)
            hatch_refl = deck_refl * rng.uniform(0.7, 1.6)
            if kind == "tanker":
                vv = deck_vv + 2.0
                local.append(
                    (box(lo, -0.06 * W, hi, 0.06 * W), vv, vv - pol, deck_refl * 1.4, freeboard + 2)
                )
                continue
            for b0, b1 in itertools.pairwise(edges):
                pad = 0.2 * (b1 - b0)
                vv = deck_vv + rng.uniform(-1.0, 4.0)
                local.append(
                    (
                        box(b0 + pad, -0.33 * W, b1 - pad, 0.33 * W),
                        vv,
                        vv - pol,
                        hatch_refl,
                        freeboard + 1,
                    )
                )
    fcs = hull.intersection(box(L / 2 - bow - 0.04 * L, -W, L / 2, W))
    local.append((fcs, deck_vv + 2.0, deck_vv + 2.0 - pol, deck_refl * 1.1, freeboard + 2.0))

    pts = [
        (a_s + 0.5, 0.35 * W, rng.uniform(10.0, 22.0), sup_h),
        (a_s + 0.5, -0.35 * W, rng.uniform(10.0, 22.0), sup_h),
        (a_s + s_len / 2, 0.0, rng.uniform(8.0, 20.0), sup_h + 8.0),
        (L / 2 - bow, 0.0, rng.uniform(4.0, 14.0), freeboard + 10.0),
    ]
    if kind == "general":
        for a in np.linspace(aft, fore, int(rng.integers(2, 5)) + 2)[1:-1]:
            pts.append((a, 0.0, rng.uniform(8.0, 18.0), freeboard + 20.0))
    footprint = _to_world(hull, centre, heading_deg)
    parts = tuple(
        Part(_to_world(g, centre, heading_deg), "ship", look_from(vv, vh, refl), h)
        for g, vv, vh, refl, h in local
    )
    return PortObject(
        id=id,
        kind="vessel",
        setting=setting,
        footprint=footprint,
        parts=parts,
        points=_points_to_world(np.asarray(pts, dtype=float), centre, heading_deg),
        edges=_edges(footprint, (3.0, 10.0), rng),
        length_m=float(L),
        width_m=float(W),
        heading_deg=float(heading_deg % 360.0),
        subtype=kind,
        place=place,
        pivot=pivot,
    )


def make_cargo(rng: np.random.Generator, *, id: int, slot: Slot) -> PortObject:
    """A container stack (bays of 1-5 tiers, mixed colours) or a bulk pile filling ``slot``.

    Container stacks are -3..+5 dB VV on average, brighter where stacked higher, with
    a bright dihedral along their walls; bulk piles are rougher, darker mounds.
    """
    L = slot.length_m - rng.uniform(1.0, 4.0)
    W = slot.width_m - rng.uniform(0.5, 2.0)
    local: list[tuple[BaseGeometry, float, float, np.ndarray, float]] = []
    if slot.bulk:
        colour = BULK_COLOURS[rng.integers(len(BULK_COLOURS))] * rng.uniform(0.85, 1.15)
        shape = LineString([(-L / 2 + W / 2, 0.0), (L / 2 - W / 2, 0.0)]).buffer(W / 2, 12)
        vv = rng.uniform(-9.0, -3.0)
        cuts = np.linspace(-L / 2, L / 2, int(rng.integers(2, 5)) + 1)
        height = rng.uniform(5.0, 15.0)
        for a0, a1 in itertools.pairwise(cuts):
            piece = shape.intersection(box(a0, -W, a1, W))
            v = vv + rng.uniform(-1.0, 1.0)
            local.append(
                (piece, v, v - rng.uniform(6.0, 8.0), colour * rng.uniform(0.9, 1.1), height)
            )
        subtype = ("coal", "ore", "sand", "timber")[
            int(np.argmin(np.abs(BULK_COLOURS - colour).sum(1)))
        ]
        edges = np.zeros((0, 6))
        footprint = shape
    else:
        base = rng.uniform(-3.0, 5.0)
        bays = max(2, round(L / rng.uniform(12.0, 25.0)))
        cuts = np.linspace(-L / 2, L / 2, bays + 1)
        for a0, a1 in itertools.pairwise(cuts):
            tiers = int(rng.integers(1, 6))
            v = base + 1.2 * (tiers - 3) + rng.uniform(-1.5, 1.5)
            refl = mix(CONTAINER_COLOURS, rng, parts=3)
            local.append(
                (box(a0, -W / 2, a1, W / 2), v, v - rng.uniform(7.0, 11.0), refl, TIER_M * tiers)
            )
        footprint = box(-L / 2, -W / 2, L / 2, W / 2)
        subtype = "container"
        edges = None
    world = _to_world(footprint, slot.centre, slot.heading_deg)
    if edges is None:
        edges = _edges(world, (0.0, 6.0), rng)
    parts = tuple(
        Part(_to_world(g, slot.centre, slot.heading_deg), "cargo", look_from(vv, vh, refl), h)
        for g, vv, vh, refl, h in local
    )
    return PortObject(
        id=id,
        kind="cargo",
        setting="yard",
        footprint=world,
        parts=parts,
        points=np.zeros((0, 4)),
        edges=edges,
        length_m=float(L),
        width_m=float(W),
        heading_deg=float(slot.heading_deg),
        subtype=subtype,
        place=f"slot{slot.index}",
        slot=slot.index,
    )


def make_boat(
    rng: np.random.Generator, *, id: int, centre: tuple[float, float], heading_deg: float
) -> PortObject:
    """A small craft (10-30 m): tugs, pilot and fishing boats; clutter, never truth."""
    L = rng.uniform(10.0, 30.0)
    W = L / rng.uniform(3.0, 4.0)
    hull = hull_outline(L, W, 0.25 * L)
    vv = rng.uniform(-2.0, 8.0)
    refl = DECK_COLOURS[rng.integers(len(DECK_COLOURS))] * rng.uniform(0.9, 1.6)
    footprint = _to_world(hull, centre, heading_deg)
    part = Part(footprint, "ship", look_from(vv, vv - rng.uniform(6, 10), refl), 3.0)
    pts = np.array([[0.0, 0.0, rng.uniform(5.0, 15.0), 6.0]])
    return PortObject(
        id=id,
        kind="boat",
        setting="harbour",
        footprint=footprint,
        parts=(part,),
        points=_points_to_world(pts, centre, heading_deg),
        edges=np.zeros((0, 6)),
        length_m=float(L),
        width_m=float(W),
        heading_deg=float(heading_deg % 360.0),
        subtype="boat",
        place="harbour",
    )


def rotate_object(obj: PortObject, angle_deg: float, origin: tuple[float, float]) -> PortObject:
    """``obj`` turned ``angle_deg`` clockwise (compass sense) about ``origin``."""
    ccw = -angle_deg
    a = math.radians(ccw)
    ca, sa = math.cos(a), math.sin(a)

    def turn(arr: np.ndarray, normals: bool) -> np.ndarray:
        if len(arr) == 0:
            return arr
        out = arr.copy()
        dx, dy = arr[:, 0] - origin[0], arr[:, 1] - origin[1]
        out[:, 0] = origin[0] + ca * dx - sa * dy
        out[:, 1] = origin[1] + sa * dx + ca * dy
        if normals:
            out[:, 2] = ca * arr[:, 2] - sa * arr[:, 3]
            out[:, 3] = sa * arr[:, 2] + ca * arr[:, 3]
        return out

    return dataclasses.replace(
        obj,
        footprint=affinity.rotate(obj.footprint, ccw, origin=origin),
        parts=tuple(
            dataclasses.replace(p, geometry=affinity.rotate(p.geometry, ccw, origin=origin))
            for p in obj.parts
        ),
        points=turn(obj.points, False),
        edges=turn(obj.edges, True),
        heading_deg=float((obj.heading_deg + angle_deg) % 360.0),
    )
