"""Change evidence shared by every flag of a pair: per-object change tests, signed
change scores, change objects, and the geometry tests that tell one ship or stack from
another (near, same ship, moved)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage, stats

from imagery.change import ChangeMap, PixelStep, s2_pixel_step
from imagery.flags.params import DetectParams
from imagery.objects import hysteresis_threshold, label_objects, label_sums, measure_objects
from imagery.raster import Raster
from imagery.vessels import S1_PSF_SIGMA_M
from imagery.vessels.common import line_opening, opening


def shore_distance_m(water: np.ndarray, pixel_m: float) -> np.ndarray:
    """Distance of every pixel to the nearest water pixel, metres (inf without water)."""
    if not water.any():
        return np.full(water.shape, np.inf)
    return ndimage.distance_transform_edt(~water) * pixel_m


def _close(frame: gpd.GeoDataFrame, other: gpd.GeoDataFrame, match_m: float) -> np.ndarray:
    """(len(frame), len(other)) booleans: centres within ``match_m`` or half the longer
    object's length of each other."""
    a = np.column_stack([frame["x"], frame["y"]])
    b = np.column_stack([other["x"], other["y"]])
    distance = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    reach = np.maximum(
        match_m,
        0.5
        * np.maximum(frame["length_m"].to_numpy()[:, None], other["length_m"].to_numpy()[None, :]),
    )
    return distance <= reach


def _unmatched(frame: gpd.GeoDataFrame, other: gpd.GeoDataFrame, match_m: float) -> np.ndarray:
    """Boolean per row of ``frame``: no object of ``other`` near it."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    if other.empty:
        return np.ones(len(frame), dtype=bool)
    return ~_close(frame, other, match_m).any(axis=1)


def _change_probability(
    mean_z: np.ndarray, area_px: np.ndarray, window_px: int, n_tests: float
) -> np.ndarray:
    # Neighbouring z values share their averaging window: an object of A pixels holds
    # about A / window^2 independent tests; its combined score is mean_z * sqrt(that).
    independent = np.maximum(area_px / float(window_px * window_px), 1.0)
    z_object = np.nan_to_num(mean_z) * np.sqrt(independent)
    p = stats.norm.sf(z_object)
    return 1.0 / (1.0 + n_tests * p)


def pixel_step(
    before: Raster,
    after: Raster,
    water: np.ndarray,
    usable: np.ndarray,
    change: ChangeMap,
    params: DetectParams,
    *,
    origin: tuple[int, int] = (0, 0),
) -> PixelStep | None:
    """S2's per-pixel near-infrared evidence for a pair (:func:`imagery.change.s2_pixel_step`),
    scored on the water clear and tested on both dates, against the water's local step
    (``params.water_reference_m``; ``origin``: the first row and column of these
    rasters in their file); None for S1, or with too little such water."""
    if before.sensor != "s2":
        return None
    return s2_pixel_step(
        before,
        after,
        water & usable & change.valid,
        registration_px=params.berth_registration_px,
        reference_m=params.water_reference_m,
        origin=origin,
    )


def _object_evidence(
    frame: pd.DataFrame,
    change: ChangeMap,
    grid: Raster,
    params: DetectParams,
    *,
    per_pixel: bool,
) -> np.ndarray:
    """:func:`_change_probability` of change objects, counting the tests per averaging
    window of the change map, or per pixel for per-pixel evidence."""
    window = 1 if per_pixel else params.change_window_px
    n_tests = max(1.0, float(change.valid.sum()) / window**2)
    area_px = frame["area_m2"].to_numpy() / grid.pixel_m**2
    return _change_probability(frame["z_mean"].to_numpy(), area_px, window, n_tests)


def signed_z(change: ChangeMap, sensor: str) -> np.ndarray:
    """Change score signed by direction: large positive where the later date is brighter.

    S1's test is one-sided already; S2's chi-square is direction-free, so it takes the
    sign of the overall brightness change (ships and stacks brighten water and pavement).
    """
    z = np.nan_to_num(change.z)
    if sensor == "s1":
        return z
    return z * np.sign(np.nan_to_num(change.magnitude))


def change_objects(
    z: np.ndarray,
    domain: np.ndarray,
    grid: Raster,
    *,
    seed_z: float,
    grow_z: float,
    thin_seeds: bool = False,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Objects of significant change: seeds above ``seed_z`` (at least 2 x 2 pixels;
    with ``thin_seeds``, lines of three in any of four directions) grown by hysteresis
    over pixels above ``grow_z``, inside ``domain``: hysteresis (seed-and-grow)
    thresholding (Canny 1986).

    Returns the measured objects (with ``z_mean``/``z_max``) and the grown mask.
    """
    z = np.where(domain, z, 0.0)
    if thin_seeds:
        seeds = line_opening(z > seed_z, length_px=3)
    else:
        seeds = opening(z > seed_z, np.ones((2, 2), dtype=bool))
    if not seeds.any():
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=grid.crs), crs=grid.crs), seeds
    # Only the opened seeds may start an object: a line of single pixels above seed_z
    # (a shoreline's mixed pixels, a speckle streak) only grows one that is.
    image = np.where(seeds, np.maximum(z, seed_z + 1.0), np.minimum(z, seed_z))
    grown = hysteresis_threshold(image, grow_z, seed_z)
    labels, n = label_objects(grown)
    frame = measure_objects(
        labels, n, transform=grid.transform, crs=grid.crs, values={"z": np.where(grown, z, 0.0)}
    )
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=grid.crs), grown


def _brightness_weights(scene: Raster | None, water: np.ndarray) -> tuple[np.ndarray | None, float]:
    """Per-pixel weights for measuring a vessel, and the sensor's PSF to take off.

    S1: backscatter above the water's median, in units of it; S2: near-infrared
    reflectance above the water's. A blurred ship's halo then counts for little.
    """
    if scene is None:
        return None, 0.0
    band = scene.band("VV") if scene.sensor == "s1" else scene.band("B08")
    sea = band[water & np.isfinite(band)]
    if sea.size < 100:
        return None, 0.0
    level = float(np.median(sea[:: max(1, sea.size // 200_000)]))
    if scene.sensor == "s1":
        return np.nan_to_num(band / max(level, 1e-12) - 1.0, nan=0.0), S1_PSF_SIGMA_M
    return np.nan_to_num(band - level, nan=0.0), 0.0


def _near_vessels(vessels: list[gpd.GeoDataFrame], grid: Raster, distance_m: float) -> np.ndarray:
    from rasterio import features

    shapes = [g for frame in vessels for g in frame.geometry if g is not None]
    if not shapes:
        return np.zeros(grid.shape, dtype=bool)
    return features.rasterize(
        ((g.buffer(distance_m), 1) for g in shapes),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        dtype="uint8",
    ).astype(bool)


def _same_ship_nearby(
    frame: gpd.GeoDataFrame, others: gpd.GeoDataFrame, params: DetectParams
) -> np.ndarray:
    """Per object of ``frame``: is there an object of ``others`` within
    ``cargo_moved_m`` of at least half its area and a length within
    ``moved_length_tolerance`` of the longer of the two?"""
    out = np.zeros(len(frame), dtype=bool)
    if frame.empty or others.empty:
        return out
    pairs = others.sindex.query(frame.geometry, predicate="dwithin", distance=params.cargo_moved_m)
    if pairs.shape[1] == 0:
        return out
    mine, theirs = pairs
    length = frame["length_m"].to_numpy()[mine]
    other_length = others["length_m"].to_numpy()[theirs]
    similar = np.abs(length - other_length) <= params.moved_length_tolerance * np.maximum(
        length, other_length
    )
    big = others["area_m2"].to_numpy()[theirs] >= 0.5 * frame["area_m2"].to_numpy()[mine]
    np.logical_or.at(out, mine, similar & big)
    return out


def _moved(
    frame: gpd.GeoDataFrame,
    change: ChangeMap,
    side: np.ndarray,
    keep_out: np.ndarray,
    grid: Raster,
    params: DetectParams,
    *,
    sign: float = 1.0,
) -> np.ndarray:
    """Per change object: is there an opposite change of at least half its size nearby,
    on ``side`` (a mask) and off ``keep_out``?"""
    from rasterio import features

    decrease = (
        change.valid & side & ~keep_out & (sign * signed_z(change, grid.sensor) < -params.cargo_z)
    )
    if not decrease.any():
        return np.zeros(len(frame), dtype=bool)
    zones = features.rasterize(
        ((g.buffer(params.cargo_moved_m), i + 1) for i, g in enumerate(frame.geometry)),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        dtype="int32",
    )
    pixel_area = grid.pixel_m**2
    lost = label_sums(decrease, zones, len(frame)) * pixel_area
    return lost >= 0.5 * frame["area_m2"].to_numpy()
