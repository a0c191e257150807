"""When and how each scene is acquired: dates, orbit and sun, misregistration, calibration.

Dates follow the sensor's revisit from ``start`` (12 days for one Sentinel-1 unit, 5
days for the Sentinel-2 pair). Times of day are plausible for the longitude: Sentinel-1
passes near 06:00 (descending) or 18:00 (ascending) local solar time, Sentinel-2 near
10:30. Each scene after the first is displaced by 0.3-3 px per axis against its
predecessor (never more than 3 px from the first) and carries a calibration difference.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np

__all__ = ["REVISIT_DAYS", "Acquisition", "plan_acquisitions", "solar_position"]

REVISIT_DAYS = {"s1": 12, "s2": 5}
DEFAULT_START = date(2024, 6, 1)


@dataclasses.dataclass(frozen=True)
class Acquisition:
    """How one scene of a simulation is taken.

    Attributes
    ----------
    index : int
    time : datetime
        UTC.
    shift_px : (dx, dy)
        True misregistration against scene 0, pixels (columns, rows).
    gains, offsets : tuple of float
        Per band: ``observed = gain * true + offset`` (offsets are reflectance; zero for S1).
    calibration_db : float
        ``10 log10`` of the mean gain.
    orbit : {"ascending", "descending"}
    look_azimuth_deg : float
        Sentinel-1: compass direction from the satellite towards the ground (right-looking).
    incidence_deg : float
        Sentinel-1 incidence angle at the scene.
    sun_azimuth_deg, sun_elevation_deg : float
    """

    index: int
    time: datetime
    shift_px: tuple[float, float]
    gains: tuple[float, ...]
    offsets: tuple[float, ...]
    calibration_db: float
    orbit: str
    look_azimuth_deg: float
    incidence_deg: float
    sun_azimuth_deg: float
    sun_elevation_deg: float


def solar_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Sun azimuth (compass degrees) and elevation (degrees) at a UTC time and place.

    NOAA's low-precision formulas (about 0.5 degree), from the fractional year.

    References
    ----------
    NOAA Global Monitoring Laboratory, General Solar Position Calculations.
    https://gml.noaa.gov/grad/solcalc/solareqns.PDF
    """
    when = when.astimezone(UTC)
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60.0 + when.second / 3600.0
    g = 2.0 * math.pi / 365.0 * (doy - 1 + (hour - 12.0) / 24.0)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    solar_minutes = hour * 60.0 + eqtime + 4.0 * lon
    ha = math.radians(solar_minutes / 4.0 - 180.0)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    elevation = 90.0 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zen))))
    azimuth = math.degrees(
        math.atan2(math.sin(ha), math.cos(ha) * math.sin(phi) - math.tan(decl) * math.cos(phi))
    )
    return (azimuth + 180.0) % 360.0, elevation


def _utc_at_local_solar(day: date, local_hour: float, lon: float) -> datetime:
    utc_hour = (local_hour - lon / 15.0) % 24.0
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=utc_hour)


def _next_shift(
    rng: np.random.Generator, prev: tuple[float, float], *, lo: float, hi: float
) -> tuple[float, float]:
    """0.3-3 px from ``prev`` on each axis, staying within 3 px of scene 0."""
    out = []
    for p in prev:
        for _ in range(200):
            cand = p + rng.choice((-1.0, 1.0)) * rng.uniform(lo, hi)
            if abs(cand) <= hi:
                break
        out.append(round(float(cand), 4))
    return out[0], out[1]


def plan_acquisitions(
    rng: np.random.Generator,
    *,
    sensor: str,
    lon: float,
    lat: float,
    start: date | None,
    count: int,
    min_shift_px: float = 0.3,
    max_shift_px: float = 3.0,
) -> tuple[Acquisition, ...]:
    """Dates, times, geometry, misregistration and calibration of ``count`` scenes."""
    start = start or DEFAULT_START
    revisit = REVISIT_DAYS[sensor]
    if sensor == "s1":
        orbit = "ascending" if rng.random() < 0.5 else "descending"
        local = (18.0 if orbit == "ascending" else 6.0) + rng.uniform(-0.2, 0.2)
        heading = -12.0 - 0.1 * abs(lat) if orbit == "ascending" else 192.0 + 0.1 * abs(lat)
        look = (heading + 90.0) % 360.0
        incidence = rng.uniform(31.0, 45.0)
    else:
        orbit = "descending"
        local = 10.5 + rng.uniform(-0.25, 0.25)
        look, incidence = float("nan"), float("nan")
    plans = []
    shift = (0.0, 0.0)
    # One pass, in date order: the first scenes of a longer series equal a shorter one's.
    for i in range(count):
        if i:
            shift = _next_shift(rng, shift, lo=min_shift_px, hi=max_shift_px)
        when = _utc_at_local_solar(start + timedelta(days=i * revisit), local, lon)
        when += timedelta(seconds=float(rng.uniform(-30.0, 30.0)))
        when = when.replace(microsecond=0)
        gains, offsets = _calibration(rng, sensor, first=i == 0)
        az, el = solar_position(when, lon, lat)
        plans.append(
            Acquisition(
                index=i,
                time=when,
                shift_px=shift,
                gains=gains,
                offsets=offsets,
                calibration_db=round(10.0 * math.log10(float(np.mean(gains))), 4),
                orbit=orbit,
                look_azimuth_deg=look,
                incidence_deg=incidence,
                sun_azimuth_deg=az,
                sun_elevation_deg=el,
            )
        )
    return tuple(plans)


def _calibration(
    rng: np.random.Generator, sensor: str, *, first: bool
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if sensor == "s1":
        if first:
            return (1.0, 1.0), (0.0, 0.0)
        db = float(rng.choice((-1.0, 1.0)) * rng.uniform(0.2, 0.8))
        g = 10.0 ** (db / 10.0)
        return (g, g), (0.0, 0.0)
    if first:
        return (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0)
    overall = rng.uniform(0.96, 1.04)
    gains = np.clip(overall * (1.0 + rng.uniform(-0.015, 0.015, size=4)), 0.95, 1.05)
    haze = rng.uniform(0.0, 0.004)
    offsets = rng.uniform(-0.002, 0.002, size=4) + haze * np.array([1.0, 0.6, 0.35, 0.1])
    return tuple(float(g) for g in gains), tuple(round(float(o), 5) for o in offsets)
