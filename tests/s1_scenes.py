"""Speckled Sentinel-1 test scenes from a map of mean backscatter."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from rasterio.transform import from_origin
from scipy import ndimage

from imagery.raster import Raster

#: VH as a fraction of VV over every surface of these scenes.
VH_SHARE = 0.2
LOOKS = 4.4  # S1 IW GRD


def speckled_s1(mean: np.ndarray, when: datetime, seed: int) -> Raster:
    """A dual-pol UTM 10 m scene: ``mean`` (linear VV sigma0) times gamma speckle of
    4.4 looks, VH a fifth of VV."""
    rng = np.random.default_rng(seed)
    vv = mean * rng.gamma(LOOKS, 1 / LOOKS, mean.shape)
    vh = VH_SHARE * mean * rng.gamma(LOOKS, 1 / LOOKS, mean.shape)
    return Raster(
        data=np.stack([vv, vh]).astype(np.float32),
        transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=float("nan"),
        time=when,
        sensor="s1",
        band_names=("VV", "VH"),
    )


def june(day: int) -> datetime:
    return datetime(2024, 6, day, 21, 30, tzinfo=UTC)


def store_s1_pass(store, aoi_id: str, raster: Raster, direction: str, orbit: int) -> None:
    """Write ``raster`` into the imagery ``store`` as an S1A pass of ``direction``
    (ASCENDING or DESCENDING) and relative ``orbit``, named as ``portwatch fetch`` names it."""
    from imagery.store import scene_path, write_scene

    label = f"{direction[:3].replace('DES', 'DSC')}{orbit:03d}"
    write_scene(
        scene_path(store, aoi_id, "s1", raster.time, "S1A", label),
        raster,
        aoi_id=aoi_id,
        platform="S1A",
        orbit_direction=direction,
        relative_orbit=orbit,
    )


#: Three ships at anchor in :func:`anchorage`: (row, col) of each hull's upper-left pixel.
ANCHORED = ((80, 100), (200, 300), (320, 420))


def anchorage(
    *,
    vh_db: float | None = -25.0,
    vv_db: float = -18.0,
    seed: int = 3,
    ships: tuple[tuple[int, int], ...] = ANCHORED,
    when: datetime | None = None,
) -> Raster:
    """A scene of sea alone (4 x 5 km), its VV rising and falling by 2 dB with the wind
    over a few kilometres, with ships 150 m x 30 m at anchor 12 dB above it (at ``ships``),
    blurred to IW's 20 m resolution; VH at ``vh_db`` (None: VV only)."""
    rows, cols = 400, 500
    x = np.arange(cols) * 10.0
    y = np.arange(rows)[:, None] * 10.0
    streaks = 1.0 * np.sin(2 * np.pi * x / 3000.0) + 1.0 * np.sin(2 * np.pi * y / 2200.0)
    vv = 10 ** ((vv_db + streaks) / 10) * np.ones((rows, 1))
    for r, c in ships:
        vv[r : r + 3, c : c + 15] = 10 ** ((vv_db + 12.0) / 10)
    vv = ndimage.gaussian_filter(vv, 0.85)
    rng = np.random.default_rng(seed)
    bands, names = [vv * rng.gamma(LOOKS, 1 / LOOKS, vv.shape)], ("VV",)
    if vh_db is not None:
        hull = vv > 10 ** ((vv_db + 6.0) / 10)
        vh = np.where(hull, 10 ** ((vh_db + 12.0) / 10), 10 ** (vh_db / 10))
        bands, names = [*bands, vh * rng.gamma(LOOKS, 1 / LOOKS, vv.shape)], ("VV", "VH")
    return Raster(
        data=np.stack(bands).astype(np.float32),
        transform=from_origin(630000.0, 4680000.0, 10.0, 10.0),
        crs="EPSG:32652",
        nodata=float("nan"),
        time=when,
        sensor="s1",
        band_names=names,
    )
