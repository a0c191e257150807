"""Sentinel-1 layover: what stands above the ground is imaged towards the sensor.

A side-looking radar ranges each echo by its slant distance, so a scatterer ``h`` metres
above the ground returns as early as a point of the ground ``h / tan(incidence)`` closer
to the sensor. Terrain-corrected ground-range products (GRD, and the tiles Sentinel Hub
serves) remove this for the terrain model's surface, which holds no ships: a ship's
echoes (its hull side above the waterline, its deck edges and superstructure, up to
40-50 m above the water) are all drawn towards the sensor, and a detection's centre lies
off the hull by some tens of metres, more than a 20 m match tolerance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely

from imagery.grid import map_units_per_metre, to_lonlat
from imagery.raster import Raster

__all__ = [
    "S1_IW_INCIDENCE_DEG",
    "correct_layover",
    "layover_offset_m",
    "other_look",
    "s1_look_azimuth",
    "s1_look_azimuth_over",
    "with_pass_direction",
]

#: Incidence at the middle of Sentinel-1's IW swath (29.1-46.0 degrees), for a scene
#: whose file does not record its own.
S1_IW_INCIDENCE_DEG = 37.5
#: Two Sentinel-1 passes whose looks differ by more than this (degrees) see the port
#: from different sides: an ascending and a descending pass (about 78 and 282 degrees).
#: Passes of one relative orbit look within a degree of each other, and neighbouring
#: orbits of one direction within a few.
S1_SAME_LOOK_DEG = 30.0
#: Sentinel-1's orbit: inclination (degrees) and ground speed of the sub-satellite point
#: (km/s); the Earth's surface turns eastwards at 0.465 cos(latitude) km/s beneath it.
S1_INCLINATION_DEG = 98.18
S1_GROUND_SPEED_KM_S = 6.8

log = logging.getLogger(__name__)
EARTH_SURFACE_SPEED_KM_S = 0.465


def s1_look_azimuth(orbit_direction: str, lat_deg: float) -> float:
    """Compass direction (degrees) Sentinel-1 looks across the ground at ``lat_deg`` on an
    ``"ASCENDING"`` or ``"DESCENDING"`` (``"asc"``, ``"dsc"``) pass: right-looking, 90 degrees clockwise from
    the ground track's heading, about 76-80 ascending and 280-284 descending.

    The heading follows from the orbit's inclination (``sin(a) = cos(i) / cos(lat)`` in
    the inertial frame) and the Earth turning beneath it.
    """
    direction = {"ASC": "ASCENDING", "DSC": "DESCENDING", "DESC": "DESCENDING"}.get(
        orbit_direction.strip().upper(), orbit_direction.strip().upper()
    )
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError(
            f"orbit direction must be ASCENDING or DESCENDING, got {orbit_direction!r}"
        )
    cos_lat = math.cos(math.radians(lat_deg))
    sin_a = max(-1.0, min(1.0, math.cos(math.radians(S1_INCLINATION_DEG)) / max(cos_lat, 1e-6)))
    east = S1_GROUND_SPEED_KM_S * sin_a - EARTH_SURFACE_SPEED_KM_S * cos_lat
    north = S1_GROUND_SPEED_KM_S * math.sqrt(1.0 - sin_a * sin_a)
    if direction == "DESCENDING":
        north = -north
    heading = math.degrees(math.atan2(east, north))
    return (heading + 90.0) % 360.0


def layover_offset_m(height_m: float, incidence_deg: float) -> float:
    """Ground distance (m) by which a scatterer ``height_m`` above the ground is imaged
    towards the sensor at ``incidence_deg`` (degrees from the vertical).

    References
    ----------
    Curlander, J. C., & McDonough, R. N. (1991). *Synthetic Aperture Radar: Systems and
    Signal Processing*, section 8.1 (foreshortening and layover). Wiley.
    """
    if not 0.0 < incidence_deg < 90.0:
        raise ValueError(f"incidence must lie between 0 and 90 degrees, got {incidence_deg}")
    return height_m / math.tan(math.radians(incidence_deg))


def correct_layover(frame: gpd.GeoDataFrame, scene: Raster, height_m: float) -> gpd.GeoDataFrame:
    """Objects found on an S1 ``scene``, moved back to where they stand.

    Each object's outline and centre (``geometry``, and ``x``, ``y``, ``lon``, ``lat``
    when present) move ``layover_offset_m(height_m, incidence)`` along the scene's look
    direction, away from the sensor.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Objects in the scene's CRS.
    scene : Raster
        The scene they were found on. Its ``look_azimuth_deg`` says which way the sensor
        lies; without it (a file that does not record its viewing geometry) ``frame``
        is returned unchanged. ``incidence_deg`` defaults to :data:`S1_IW_INCIDENCE_DEG`.
    height_m : float
        Height above the water of an object's echoes taken together (m).

    Returns
    -------
    geopandas.GeoDataFrame
        A moved copy of ``frame`` (``frame`` itself when nothing moves).
    """
    if frame.empty or height_m == 0.0 or scene.look_azimuth_deg is None:
        return frame
    incidence = scene.incidence_deg if scene.incidence_deg is not None else S1_IW_INCIDENCE_DEG
    distance = layover_offset_m(height_m, incidence)
    look = math.radians(scene.look_azimuth_deg)
    east, north = distance * math.sin(look), distance * math.cos(look)
    out = frame.copy()
    crs = scene.crs
    per_m_x, per_m_y = map_units_per_metre(scene.transform, crs, scene.shape)
    dx, dy = east * per_m_x, north * per_m_y
    out["geometry"] = out.geometry.translate(xoff=dx, yoff=dy)
    if "x" in out.columns and "y" in out.columns:
        out["x"] = out["x"].to_numpy() + dx
        out["y"] = out["y"].to_numpy() + dy
        if "lon" in out.columns and "lat" in out.columns:
            out["lon"], out["lat"] = to_lonlat(out["x"].to_numpy(), out["y"].to_numpy(), crs)
    elif "lon" in out.columns and "lat" in out.columns:
        centres = shapely.centroid(np.asarray(out.geometry))
        out["lon"], out["lat"] = to_lonlat(shapely.get_x(centres), shapely.get_y(centres), crs)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=frame.crs)


def s1_look_azimuth_over(orbit_direction: str, transform, crs, shape: tuple[int, int]) -> float:
    """:func:`s1_look_azimuth` at the centre of a grid (``transform``, ``crs``, ``shape`` as
    (rows, cols))."""
    rows, cols = shape
    x, y = transform * (cols / 2.0, rows / 2.0)
    _, lat = to_lonlat([x], [y], crs)
    return s1_look_azimuth(orbit_direction, float(lat[0]))


def with_pass_direction(raster: Raster, orbit_direction: str) -> Raster:
    """``raster`` with the look of a Sentinel-1 pass in ``orbit_direction`` at its centre
    (:func:`s1_look_azimuth`), unless it records its own."""
    if raster.look_azimuth_deg is not None:
        return raster
    look = s1_look_azimuth_over(orbit_direction, raster.transform, raster.crs, raster.shape)
    return raster.replace(look_azimuth_deg=look)


def other_look(looks: Sequence[float | None], names: Sequence[str]) -> str | None:
    """A warning when Sentinel-1 scenes compared with the first look from another side.

    Layover, radar shadow and the walls that glint differ between an ascending and a
    descending pass (Ulaby et al. 2014, ch. 10): every building, crane and stack draws
    its echoes tens of metres away on the other side, which a change test reads as
    change. Passes of one relative orbit share their geometry.

    References
    ----------
    Ulaby, F. T., Long, D. G., et al. (2014). Microwave Radar and Radiometric Remote
    Sensing. University of Michigan Press.

    Parameters
    ----------
    looks : sequence of float or None
        Each scene's look azimuth (degrees clockwise from north; None when its file
        does not record it).
    names : sequence of str
        The scenes' names (file paths), in the same order.

    Returns
    -------
    str or None
        The warning (also logged), or None when every recorded look is within
        :data:`S1_SAME_LOOK_DEG` of the first scene that records one.
    """
    recorded = [(n, look) for n, look in zip(names, looks, strict=True) if look is not None]
    if len(recorded) < 2:
        return None
    (first_name, first), rest = recorded[0], recorded[1:]
    apart = [
        (name, look)
        for name, look in rest
        if abs((look - first + 180.0) % 360.0 - 180.0) > S1_SAME_LOOK_DEG
    ]
    if not apart:
        return None
    name, look = apart[0]
    message = (
        f"{name} looks from {look:.0f} degrees and {first_name} from {first:.0f}: passes from "
        "different sides draw every building, crane and stack's echoes in other places, "
        "and land will show change that is none; compare passes of one relative orbit"
    )
    log.warning("%s", message)
    return message
