"""What one date's scene is made of, independent of the sensor that looks at it.

:func:`scene_content` gathers, for one :class:`~imagery.simulate.traffic.PortState`,
every polygon in painting order (the fixed port, then cargo, then ships), the C-band
dihedral edges and point scatterers with their strengths, and the things tall enough
to cast shadows. The strengths of the port's fixed scatterers are drawn once per
simulation (:class:`Fixtures`), so a quay edge is as bright on every date; cranes
travel along their rails between dates.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from affine import Affine
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from imagery.simulate.grid import pixel_centres
from imagery.simulate.layout import Layout, Part
from imagery.simulate.traffic import PortState

__all__ = [
    "Fixtures",
    "SceneContent",
    "draw_fixtures",
    "scene_content",
    "shadow_polygons",
    "urban_weight",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Fixtures:
    """Per-simulation strengths of the port's fixed scatterers (dB over one pixel)."""

    edge_db: np.ndarray
    wall_db: np.ndarray
    crane_db: np.ndarray  # (n, 2): top of the gantry, legs on the quay


@dataclasses.dataclass(frozen=True, eq=False)
class SceneContent:
    """Everything drawn for one date, in ground metres.

    Attributes
    ----------
    parts : tuple of Part
        Painting order: later parts cover earlier ones. The first ``n_fixed`` are the
        port's fixed surfaces, the rest belong to vessels, cargo and boats.
    edges : ndarray, shape (n, 6)
        Dihedral line samples: x, y, outward normal nx, ny, spacing (m), strength (dB).
    points : ndarray, shape (n, 4)
        Point scatterers: x, y, strength (dB over one pixel), height (m).
    casters : tuple of (geometry, height_m, exclude)
        Shadow casters; the shadow is the geometry swept by the shadow vector times its
        height, minus ``exclude`` (the caster's own body).
    """

    parts: tuple[Part, ...]
    edges: np.ndarray
    points: np.ndarray
    casters: tuple[tuple[BaseGeometry, float, BaseGeometry], ...]
    n_fixed: int


def draw_fixtures(rng: np.random.Generator, layout: Layout) -> Fixtures:
    """Strengths of quay edges, building walls and cranes, fixed for a simulation."""
    n_edges = len(layout.edges)
    # quay edges: a level per stretch of quay plus fender / bollard variation
    edge_db = rng.uniform(3.0, 9.0) + rng.normal(0.0, 1.5, size=n_edges)
    wall_db = rng.uniform(0.0, 8.0) + rng.normal(0.0, 2.0, size=len(layout.walls))
    crane_db = np.column_stack(
        [rng.uniform(10.0, 18.0, len(layout.cranes)), rng.uniform(3.0, 10.0, len(layout.cranes))]
    )
    return Fixtures(edge_db=edge_db, wall_db=wall_db, crane_db=crane_db)


def scene_content(
    layout: Layout, fixtures: Fixtures, state: PortState, rng: np.random.Generator
) -> SceneContent:
    """Collect the drawing of one date (cranes move along their rails by up to 40 m)."""
    things = [*state.cargo, *state.vessels, *state.boats]
    parts = list(layout.parts)
    for obj in things:
        parts.extend(obj.parts)
    edges = [np.column_stack([layout.edges[:, :5], fixtures.edge_db])]
    if len(layout.walls):
        edges.append(np.column_stack([layout.walls[:, :5], fixtures.wall_db]))
    edges += [o.edges for o in things if len(o.edges)]
    points = [layout.scatterers]
    if len(layout.cranes):
        travel = rng.uniform(-40.0, 40.0, size=len(layout.cranes))
        x = layout.cranes[:, 0] + travel * layout.cranes[:, 2]
        y = layout.cranes[:, 1] + travel * layout.cranes[:, 3]
        points.append(np.column_stack([x, y, fixtures.crane_db[:, 0], np.full_like(x, 50.0)]))
        points.append(np.column_stack([x, y, fixtures.crane_db[:, 1], np.zeros_like(x)]))
    points += [o.points for o in things if len(o.points)]
    casters = [(p.geometry, p.height_m, p.geometry) for p in layout.parts if p.height_m > 0]
    for obj in things:
        if obj.kind == "cargo":
            height = float(np.mean([p.height_m for p in obj.parts]))
            casters.append((obj.footprint, height, obj.footprint))
            continue
        for p in obj.parts:
            if p.height_m > 0:
                casters.append((p.geometry, p.height_m, obj.footprint))
    return SceneContent(
        parts=tuple(parts),
        edges=np.concatenate(edges) if edges else np.zeros((0, 6)),
        points=np.concatenate([p for p in points if len(p)]) if points else np.zeros((0, 4)),
        casters=tuple(casters),
        n_fixed=len(layout.parts),
    )


def shadow_polygons(
    casters: tuple[tuple[BaseGeometry, float, BaseGeometry], ...],
    *,
    azimuth_deg: float,
    metres_per_metre: float,
) -> list[BaseGeometry]:
    """Ground shadows cast along compass ``azimuth_deg``, ``metres_per_metre`` of height.

    Each shadow is the caster swept from its base to its translated top (convex hull of
    the two, exact for the convex parts used here) minus the caster's own body.
    """
    ux = math.sin(math.radians(azimuth_deg)) * metres_per_metre
    uy = math.cos(math.radians(azimuth_deg)) * metres_per_metre
    out = []
    for geom, height, body in casters:
        moved = affinity.translate(geom, ux * height, uy * height)
        swept = geom.union(moved).convex_hull
        shadow = swept.difference(body)
        if not shadow.is_empty:
            out.append(shadow)
    return out


def urban_weight(layout: Layout, transform: Affine, size_px: int) -> np.ndarray:
    """0-1 weight of built-up land around the port and the town, on a scene grid."""
    x, y = pixel_centres(transform, size_px)
    w = np.zeros_like(x)
    for cx, cy, radius in layout.urban:
        d2 = (x - cx) ** 2 + (y - cy) ** 2
        w = np.maximum(w, np.exp(-d2 / (2.0 * radius**2)))
    return w.astype(np.float32)
