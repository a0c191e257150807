"""Running a simulation: the port, its dates, the scenes and their truth.

:func:`simulate_series` ties the pieces together: a layout from the seed, a plan of
acquisitions on the sensor's revisit, the port's state on each date, the rendered
scenes (each misregistered by its recorded shift and carrying its calibration
difference), and the truth of every consecutive pair. :func:`simulate_pair` is the
two-date case. Everything is drawn from generators keyed by (seed, AOI, sensor, size,
resolution, purpose), so a run is reproducible and the port layout is the same for
Sentinel-1 and Sentinel-2 with the same seed.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
import zlib
from datetime import date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio.crs import CRS

from imagery.aoi import AOI
from imagery.errors import InputError
from imagery.raster import Raster
from imagery.simulate import s1, s2
from imagery.simulate.acquisition import REVISIT_DAYS, Acquisition, plan_acquisitions
from imagery.simulate.grid import coverage, render_transform, scene_transform
from imagery.simulate.layout import Layout, generate_layout
from imagery.simulate.objects import PortObject
from imagery.simulate.scene import draw_fixtures, scene_content
from imagery.simulate.traffic import PortState, Traffic
from imagery.simulate.truth import hidden_ids, object_frame

__all__ = ["Simulation", "simulate_pair", "simulate_series"]

log = logging.getLogger(__name__)

MIN_EXTENT_M = 1280.0
MAX_SIZE_PX = 8192
MAX_DATES = 100
#: Objects stay this many pixels inside the grid (misregistration + impulse response).
MARGIN_PX = 6
_SENSOR_KEY = {"s1": 1, "s2": 2}


@dataclasses.dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated series of scenes of one port, with its truth.

    Attributes
    ----------
    aoi_id, sensor : str
    seed, size_px : int
    resolution_m : float
    transform : affine.Affine
        Nominal grid of every scene (scenes are written with it).
    crs : rasterio.crs.CRS
        The AOI's UTM CRS.
    scenes : tuple of Raster
        S1: float32 sigma0 (linear) bands ``("VV", "VH")``; S2: uint16 bands
        ``("B02", "B03", "B04", "B08", "SCL")``, reflectance x 10000, nodata 0.
    truth : tuple of GeoDataFrame
        One per consecutive pair ``i -> i + 1``: objects new in scene ``i + 1`` and
        visible in both scenes (``after_index`` = i + 1). ``overlap`` is the share of
        the footprint covered by objects of scene ``i`` (a ship berthing where another
        one left: new, but hard to see as a change).
    departed : tuple of GeoDataFrame
        Per pair: vessels in scene ``i`` gone from scene ``i + 1``, visible in both;
        ``overlap`` is the share covered by objects of scene ``i + 1``.
    occluded : tuple of GeoDataFrame
        Per pair: new objects and departed vessels hidden by cloud in either scene
        (``change`` = ``"new"`` or ``"departed"``); kept out of ``truth``/``departed``.
    objects : tuple of GeoDataFrame
        Per scene: every vessel and cargo block present (``occluded`` flags cloud).
    water : ndarray of bool, shape (size_px, size_px)
        True water (land/water only; ships float on water) on the nominal grid.
    shifts_px : tuple of (dx, dy)
        True misregistration of each scene against scene 0, pixels: ground content at
        nominal pixel (col, row) appears at (col + dx, row + dy). Scene 0 is (0, 0).
    calibration_db : tuple of float
        Each scene's overall gain against scene 0, dB (S2: mean of the band gains).
    gains, offsets : tuple of tuple of float
        Per scene and band: ``observed = gain * true + offset`` (S2 offsets in
        reflectance; S1 offsets zero).
    acquisitions : tuple of Acquisition
    conditions : tuple of dict
        Per scene: sea state, clouds, noise... as drawn.
    layout : Layout
        The port's geometry (for diagnostics and plots).
    clutter_boats : tuple of int
        Small craft (10-30 m) drawn per scene but never counted as truth.
    removed_cargo : tuple of int
        Per pair: cargo blocks taken away.
    """

    aoi_id: str
    sensor: str
    seed: int
    size_px: int
    resolution_m: float
    transform: Affine
    crs: CRS
    scenes: tuple[Raster, ...]
    truth: tuple[gpd.GeoDataFrame, ...]
    departed: tuple[gpd.GeoDataFrame, ...]
    occluded: tuple[gpd.GeoDataFrame, ...]
    objects: tuple[gpd.GeoDataFrame, ...]
    water: np.ndarray
    shifts_px: tuple[tuple[float, float], ...]
    calibration_db: tuple[float, ...]
    gains: tuple[tuple[float, ...], ...]
    offsets: tuple[tuple[float, ...], ...]
    acquisitions: tuple[Acquisition, ...]
    conditions: tuple[dict, ...]
    layout: Layout
    clutter_boats: tuple[int, ...]
    removed_cargo: tuple[int, ...]

    @property
    def times(self) -> tuple[datetime, ...]:
        return tuple(s.time for s in self.scenes)

    @property
    def is_series(self) -> bool:
        """More than a before/after pair."""
        return len(self.scenes) > 2

    @property
    def cloud_fraction(self) -> tuple[float, ...]:
        """Share of each scene's pixels SCL marks as cloud, shadow or cirrus (S2; 0 for S1)."""
        if self.sensor != "s2":
            return tuple(0.0 for _ in self.scenes)
        return tuple(
            round(float(np.isin(s.band("SCL"), (3, 8, 9, 10)).mean()), 4) for s in self.scenes
        )


def _rng(seed: int, aoi_id: str, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(aoi_id.encode()), *key])


def _check(aoi: AOI, sensor: str, seed: int, size_px: int, resolution_m: float) -> None:
    if not isinstance(aoi, AOI):
        raise InputError(f"aoi must be an imagery.aoi.AOI (see get_aoi), got {type(aoi).__name__}")
    if sensor not in _SENSOR_KEY:
        raise InputError(f"sensor must be 's1' or 's2', got {sensor!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if not 2.0 <= resolution_m <= 100.0:
        raise InputError(f"resolution_m must be between 2 and 100 m, got {resolution_m}")
    if not isinstance(size_px, (int, np.integer)) or size_px > MAX_SIZE_PX:
        raise InputError(
            f"size must be an integer number of pixels up to {MAX_SIZE_PX}, got {size_px!r}"
        )
    if size_px * resolution_m < MIN_EXTENT_M:
        need = math.ceil(MIN_EXTENT_M / resolution_m)
        raise InputError(
            f"a {size_px} px grid at {resolution_m:g} m is too small for a port; "
            f"use at least {need} px ({MIN_EXTENT_M / 1000:g} km across)"
        )


def simulate_pair(
    aoi: AOI,
    *,
    sensor: str,
    seed: int,
    size_px: int = 512,
    resolution_m: float = 10.0,
    start: date | None = None,
    windy: bool = False,
) -> Simulation:
    """Simulate a before/after pair of one port.

    Parameters
    ----------
    aoi : AOI
        The grid is centred on its centroid, on its UTM zone.
    sensor : {"s1", "s2"}
    seed : int
        Non-negative; the same (aoi, sensor, seed, size, resolution) gives the same scenes.
    size_px : int
        Side of the square grid, pixels (at least 1.28 km across).
    resolution_m : float
        Pixel size, metres.
    start : date, optional
        Date of the first scene (default 2024-06-01); the second follows one revisit later.
    windy : bool, default False
        Sentinel-1: every pass over a sea under a 7-15 m/s wind, VV -12 to -8 dB, as
        bright as the land (:data:`imagery.simulate.s1.WINDY_WATER_VV_DB`); otherwise
        the same scenes.

    Returns
    -------
    Simulation
        Two scenes, one truth table.

    Examples
    --------
    >>> from imagery.aoi import get_aoi
    >>> sim = simulate_pair(get_aoi("rajin"), sensor="s1", seed=1, size_px=256)
    >>> [s.band_names for s in sim.scenes]
    [('VV', 'VH'), ('VV', 'VH')]
    """
    _check(aoi, sensor, seed, size_px, resolution_m)
    return _simulate(
        aoi, sensor, int(seed), 2, int(size_px), float(resolution_m), start, windy=windy
    )


def simulate_series(
    aoi: AOI,
    *,
    sensor: str,
    seed: int,
    dates: int,
    size_px: int = 512,
    resolution_m: float = 10.0,
    start: date | None = None,
    windy: bool = False,
) -> Simulation:
    """Simulate ``dates`` consecutive acquisitions of one port on the sensor's revisit.

    The same port throughout: vessels arrive and leave, anchored ships swing, stacks
    grow; each scene has its own misregistration and calibration. Dates are ``start``
    plus multiples of 12 days (S1) or 5 days (S2). Parameters as :func:`simulate_pair`;
    ``dates`` must be at least 3 (use :func:`simulate_pair` for two).
    """
    _check(aoi, sensor, seed, size_px, resolution_m)
    if isinstance(dates, bool) or not isinstance(dates, (int, np.integer)) or dates < 3:
        raise InputError(
            f"a series needs at least 3 dates, got {dates!r}; for a before/after pair "
            "use simulate_pair (leave out --dates)"
        )
    if dates > MAX_DATES:
        raise InputError(f"at most {MAX_DATES} dates in one series, got {dates}")
    return _simulate(
        aoi, sensor, int(seed), int(dates), int(size_px), float(resolution_m), start, windy=windy
    )


def _simulate(
    aoi: AOI,
    sensor: str,
    seed: int,
    count: int,
    size_px: int,
    resolution_m: float,
    start: date | None,
    *,
    windy: bool = False,
) -> Simulation:
    if windy and sensor != "s1":
        raise InputError("a windy sea is simulated for Sentinel-1 only")
    sk = _SENSOR_KEY[sensor]
    scale = [size_px, round(resolution_m * 1000)]
    crs = CRS.from_epsg(aoi.utm_epsg)
    centre = aoi.geometry_in(aoi.utm_crs).centroid
    transform = scene_transform((centre.x, centre.y), size_px=size_px, resolution_m=resolution_m)
    extent = size_px * resolution_m
    bounds = (transform.c, transform.f - extent, transform.c + extent, transform.f)

    layout = generate_layout(_rng(seed, aoi.id, 1, *scale), bounds=bounds)
    lon, lat = aoi.centroid
    plans = plan_acquisitions(
        _rng(seed, aoi.id, 2, sk, *scale), sensor=sensor, lon=lon, lat=lat, start=start, count=count
    )
    traffic = Traffic(layout, margin_m=MARGIN_PX * resolution_m)
    states: list[PortState] = [traffic.initial(_rng(seed, aoi.id, 3, sk, *scale, 0))]
    for i in range(1, count):
        rng = _rng(seed, aoi.id, 3, sk, *scale, i)
        states.append(traffic.step(rng, states[-1], days=REVISIT_DAYS[sensor]))
    fixtures = draw_fixtures(_rng(seed, aoi.id, 4, *scale), layout)
    ground = _rng(seed, aoi.id, 5, sk, *scale)
    if sensor == "s1":
        renderer = s1.S1Renderer(layout, transform=transform, size_px=size_px, rng=ground)
        draw_conditions, names, nodata = (
            functools.partial(s1.draw_conditions, windy=windy),
            s1.BANDS,
            None,
        )
    else:
        renderer = s2.S2Renderer(layout, transform=transform, size_px=size_px, rng=ground)
        draw_conditions, names, nodata = s2.draw_conditions, s2.BANDS, 0

    scenes, conditions, clouds = [], [], []
    for i, (state, acq) in enumerate(zip(states, plans, strict=True)):
        content = scene_content(layout, fixtures, state, _rng(seed, aoi.id, 6, sk, *scale, i))
        cond = draw_conditions(_rng(seed, aoi.id, 7, sk, *scale, i))
        out = renderer.render(content, acq, cond, _rng(seed, aoi.id, 8, sk, *scale, i))
        data, cloud = (out, None) if sensor == "s1" else out
        scenes.append(
            Raster(
                data=data,
                transform=transform,
                crs=crs,
                nodata=nodata,
                time=acq.time,
                sensor=sensor,
                band_names=names,
                look_azimuth_deg=None if math.isnan(acq.look_azimuth_deg) else acq.look_azimuth_deg,
                incidence_deg=None if math.isnan(acq.incidence_deg) else acq.incidence_deg,
            )
        )
        conditions.append(cond)
        clouds.append(cloud)
        log.info("simulated %s scene %d/%d (%s)", sensor, i + 1, count, acq.time.date())

    truth, departed, occluded, objects = _truth(states, plans, clouds, transform, crs)
    water = coverage([layout.land], transform=transform, size_px=size_px, supersample=4) < 0.5
    return Simulation(
        aoi_id=aoi.id,
        sensor=sensor,
        seed=seed,
        size_px=size_px,
        resolution_m=resolution_m,
        transform=transform,
        crs=crs,
        scenes=tuple(scenes),
        truth=truth,
        departed=departed,
        occluded=occluded,
        objects=objects,
        water=water,
        shifts_px=tuple(a.shift_px for a in plans),
        calibration_db=tuple(a.calibration_db for a in plans),
        gains=tuple(a.gains for a in plans),
        offsets=tuple(a.offsets for a in plans),
        acquisitions=plans,
        conditions=tuple(conditions),
        layout=layout,
        clutter_boats=tuple(len(s.boats) for s in states),
        removed_cargo=tuple(
            len({c.id for c in a.cargo} - {c.id for c in b.cargo})
            for a, b in itertools.pairwise(states)
        ),
    )


def _truth(
    states: list[PortState],
    plans: tuple[Acquisition, ...],
    clouds: list[np.ndarray | None],
    transform: Affine,
    crs: CRS,
):
    def hidden(objs: list[PortObject], i: int) -> set[int]:
        cloud = clouds[i]
        if cloud is None or not objs:
            return set()
        return hidden_ids(objs, cloud, render_transform(transform, plans[i].shift_px))

    first_seen: dict[int, int] = {}
    objects = []
    for i, state in enumerate(states):
        objs = list(state.objects)
        for o in objs:
            first_seen.setdefault(o.id, i)
        by_first: dict[int, list[PortObject]] = {}
        for o in objs:
            by_first.setdefault(first_seen[o.id], []).append(o)
        frames = [
            object_frame(
                group,
                crs=crs,
                before_time=plans[k].time,
                after_time=plans[i].time,
                hidden=hidden(objs, i),
                extra={"scene_index": i},
            )
            for k, group in sorted(by_first.items())
        ]
        if not frames:
            frames = [
                object_frame([], crs=crs, before_time=plans[i].time, after_time=plans[i].time)
            ]
        objects.append(_concat(frames, crs))

    truth, departed, occluded = [], [], []
    for i in range(len(states) - 1):
        before, after = states[i], states[i + 1]
        before_ids = {o.id for o in before.objects}
        after_ids = {o.id for o in after.objects}
        new = [o for o in after.objects if o.id not in before_ids]
        gone = [v for v in before.vessels if v.id not in after_ids]
        hide_new = hidden(new, i) | hidden(new, i + 1)
        hide_gone = hidden(gone, i) | hidden(gone, i + 1)
        times = {"before_time": plans[i].time, "after_time": plans[i + 1].time}
        extra = {"after_index": i + 1}

        seen_new = [o for o in new if o.id not in hide_new]
        seen_gone = [o for o in gone if o.id not in hide_gone]
        truth.append(_table(seen_new, before.objects, crs, times, extra))
        departed.append(_table(seen_gone, after.objects, crs, times, extra))
        hidden_new = [o for o in new if o.id in hide_new]
        hidden_gone = [o for o in gone if o.id in hide_gone]
        occluded.append(
            _concat(
                [
                    _table(hidden_new, before.objects, crs, times, {**extra, "change": "new"}),
                    _table(hidden_gone, after.objects, crs, times, {**extra, "change": "departed"}),
                ],
                crs,
            )
        )
    return tuple(truth), tuple(departed), tuple(occluded), tuple(objects)


def _table(
    objs: list[PortObject],
    others: tuple[PortObject, ...],
    crs: CRS,
    times: dict[str, datetime],
    extra: dict[str, object],
) -> gpd.GeoDataFrame:
    hidden = {o.id for o in objs} if "change" in extra else ()
    frame = object_frame(objs, crs=crs, hidden=hidden, extra=extra, **times)
    frame["overlap"] = _overlap(objs, others)
    return frame


def _overlap(objects: list[PortObject], others: tuple[PortObject, ...]) -> list[float]:
    """Share of each footprint covered by ``others`` (a ship arriving where one left)."""
    if not objects:
        return []
    union = shapely.union_all([o.footprint for o in others]) if others else None
    out = []
    for o in objects:
        covered = 0.0 if union is None else o.footprint.intersection(union).area
        out.append(round(covered / o.footprint.area, 3))
    return out


def _concat(frames: list[gpd.GeoDataFrame], crs: CRS) -> gpd.GeoDataFrame:
    """Rows of several frames (at least one given; empty ones only keep the columns)."""
    frames = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)


def seed_list(text: str) -> list[int]:
    """Seeds written as ranges and single seeds, comma-separated: ``"100-131"``
    (inclusive), ``"7"``, ``"1,5,9"`` or ``"1-5,9"``, as the benchmarks take them."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if first < 0 or last < first:
                raise ValueError(part)
            seeds.extend(range(first, last + 1))
    except ValueError:
        raise InputError(
            f"seeds {text!r}: expected non-negative seeds and ranges low-high, "
            "comma-separated (100-131, 1,5,9 or 1-5,9)"
        ) from None
    return seeds


def seeds_argument(text: str) -> str:
    """``argparse`` type of a ``--seeds`` option: ``text`` unchanged once
    :func:`seed_list` reads it, else a usage error that says why (not a traceback)."""
    import argparse

    try:
        seed_list(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
