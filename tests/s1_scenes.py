"""Speckled Sentinel-1 test scenes from a map of mean backscatter."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from rasterio.transform import from_origin

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
