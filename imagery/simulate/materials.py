"""What surfaces look like to each sensor: C-band sigma0 and Sentinel-2 reflectance.

A :class:`Look` holds one surface's mean Sentinel-1 backscatter (VV and VH, dB) and its
Sentinel-2 L2A surface reflectance in B02, B03, B04, B08 (0-1). Each man-made surface
draws its look once, so a quay or a ship keeps its colour from date to date.

Levels follow the published C-band and optical ranges for port surfaces: smooth paving
is dark in C-band (specular), buildings and steel bright, ships' decks and
superstructures bright; optical concrete has a flat spectrum around 0.12-0.25, ship
hulls range from near-black to white but all are brighter than water in B08.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["CONTAINER_COLOURS", "DECK_COLOURS", "Look", "draw_look", "look_from", "mix"]


@dataclasses.dataclass(frozen=True)
class Look:
    """Mean appearance of one surface.

    Attributes
    ----------
    vv_db, vh_db : float
        Sentinel-1 sigma0 in dB of the surface area (before speckle and blur).
    reflectance : tuple of 4 float
        Sentinel-2 L2A surface reflectance in B02, B03, B04, B08.
    """

    vv_db: float
    vh_db: float
    reflectance: tuple[float, float, float, float]


#: Reflectance (B02, B03, B04, B08) of container paints seen from above.
CONTAINER_COLOURS = np.array(
    [
        (0.06, 0.06, 0.17, 0.24),  # red / maroon
        (0.11, 0.09, 0.06, 0.10),  # blue
        (0.05, 0.10, 0.06, 0.15),  # green
        (0.28, 0.29, 0.29, 0.31),  # white
        (0.14, 0.15, 0.15, 0.17),  # grey
        (0.06, 0.11, 0.24, 0.30),  # orange
        (0.06, 0.07, 0.10, 0.14),  # brown
    ]
)

#: Deck / hull colours of ships (B02, B03, B04, B08); the darkest is still several
#: times water's B08.
DECK_COLOURS = np.array(
    [
        (0.05, 0.05, 0.09, 0.12),  # red-brown deck
        (0.045, 0.05, 0.055, 0.075),  # dark grey / black
        (0.04, 0.08, 0.05, 0.11),  # green deck
        (0.15, 0.16, 0.17, 0.19),  # light grey
        (0.10, 0.09, 0.065, 0.10),  # blue
        (0.07, 0.075, 0.08, 0.10),  # weathered steel
    ]
)

#: Bulk cargo on the ground: coal, iron ore, sand/grain, timber.
BULK_COLOURS = np.array(
    [
        (0.03, 0.03, 0.033, 0.038),
        (0.05, 0.06, 0.12, 0.18),
        (0.15, 0.18, 0.22, 0.27),
        (0.06, 0.08, 0.10, 0.22),
    ]
)

ROOF_COLOURS = np.array(
    [
        (0.16, 0.17, 0.18, 0.20),  # concrete
        (0.28, 0.30, 0.31, 0.33),  # light metal
        (0.06, 0.08, 0.15, 0.22),  # red tiles / rust
        (0.14, 0.13, 0.10, 0.14),  # blue-painted metal
        (0.06, 0.065, 0.07, 0.09),  # dark roof
    ]
)

# (vv_db range, vv - vh range, flat reflectance range, spectral tilt per band)
_SURFACES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "paved": ((-17.0, -13.0), (7.0, 9.0), (0.10, 0.16)),
    "apron": ((-14.0, -10.0), (7.0, 9.0), (0.13, 0.24)),
    "pier": ((-13.0, -9.0), (7.0, 9.0), (0.13, 0.25)),
    "yard": ((-16.0, -12.0), (7.0, 9.0), (0.07, 0.12)),
    "road": ((-20.0, -16.0), (7.0, 9.0), (0.06, 0.10)),
    "breakwater": ((-6.0, -1.0), (6.0, 8.0), (0.10, 0.18)),
}
_CONCRETE_TILT = np.array([0.93, 0.97, 1.0, 1.06])


def mix(palette: np.ndarray, rng: np.random.Generator, *, parts: int = 2) -> np.ndarray:
    """Reflectance of a random mixture of ``parts`` palette colours (sub-pixel mixing)."""
    pick = rng.integers(0, len(palette), size=parts)
    w = rng.dirichlet(np.ones(parts))
    return (palette[pick] * w[:, np.newaxis]).sum(axis=0)


def _reflectance(values) -> tuple[float, float, float, float]:
    r = np.clip(np.asarray(values, dtype=float), 0.002, 0.95)
    return (float(r[0]), float(r[1]), float(r[2]), float(r[3]))


def draw_look(material: str, rng: np.random.Generator) -> Look:
    """Draw the look of one surface of a man-made ``material``.

    ``material`` is one of the surfaces in this module (``paved``, ``apron``, ``pier``,
    ``yard``, ``road``, ``breakwater``) or ``building``.
    """
    if material == "building":
        vv = rng.uniform(-7.0, 4.0)
        refl = ROOF_COLOURS[rng.integers(len(ROOF_COLOURS))] * rng.uniform(0.85, 1.15)
        return Look(vv, vv - rng.uniform(6.0, 9.0), _reflectance(refl))
    vv_range, pol_range, refl_range = _SURFACES[material]
    vv = rng.uniform(*vv_range)
    refl = rng.uniform(*refl_range) * _CONCRETE_TILT * rng.uniform(0.97, 1.03, size=4)
    return Look(vv, vv - rng.uniform(*pol_range), _reflectance(refl))


def look_from(vv_db: float, vh_db: float, reflectance: np.ndarray | tuple[float, ...]) -> Look:
    """A :class:`Look` from explicit values (reflectance clipped to a valid range)."""
    return Look(float(vv_db), float(vh_db), _reflectance(reflectance))
