"""Products a user downloaded, into the imagery store beside fetched scenes.

``portwatch fetch`` fills the store from Sentinel Hub; :func:`import_scene` does the
same from what an analyst already holds (:mod:`imagery.products`, :mod:`imagery.grd`,
or any raster file), so that ``portwatch detect --store`` and ``portwatch batch`` run
over both alike:

- the part around the AOI is read (a Sentinel-1 GRD is calibrated and geocoded there);
- it is prepared to physical units (:func:`imagery.sensors.prepare`: sigma0 in linear
  power, or reflectance with SCL);
- it is put on the AOI's UTM grid at 10 m, the grid of every fetched scene
  (:meth:`imagery.aoi.AOI.utm_bounds`), by nearest neighbour: an S2 tile or a geocoded
  GRD on a 10 m grid of the same zone is copied pixel for pixel;
- it is written with its sidecar (:func:`imagery.store.write_scene`) under the date,
  platform and orbit the product's name and metadata give (Sentinel-1: relative orbit
  and pass direction, which pairing needs).

A scene already in the store and valid is left as it is, so an import can be rerun;
but a second slice of a Sentinel-1 pass or a second tile of a Sentinel-2 date (the same
store name) fills the pixels the first left empty, as ``portwatch fetch`` joins them,
and a product imported again on another ``s2_scale`` replaces its own pixels (each
product is read at its own scale: L2A's, or EO Browser's x 65535 when its numbers say
so, :func:`imagery.sensors.s2_digital_number_scale`). A fetched scene is never
overwritten by an import.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from pathlib import Path, PurePosixPath

import numpy as np
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from imagery.errors import InputError, NoOverlapError
from imagery.raster import Raster
from imagery.reproject import warp_onto

log = logging.getLogger(__name__)

__all__ = ["ImportResult", "ProductIdentity", "identify_product", "import_scene", "onto_aoi_grid"]

#: The store's pixel, metres (that of ``portwatch fetch``).
STORE_PIXEL_M = 10.0
#: Ground read around the AOI before the cut onto its grid, metres: two pixels, so that
#: the AOI's edge pixels are read whatever the source grid's offset.
READ_MARGIN_M = 2 * STORE_PIXEL_M

_S1_NAME = re.compile(
    r"^S1([A-D])_(?:IW|EW|SM|S\d)_(?:GRD|SLC)[HMF_]?_1S(?:DV|SV|DH|SH|HH|VV)_(\d{8}T\d{6})_"
    r"\d{8}T\d{6}_(\d{6})_",
    re.I,
)
_S2_NAME = re.compile(r"^S2([A-D])_MSIL2A_(\d{8}T\d{6})_N\d{4}_R(\d{3})_T(\w{5})_", re.I)
#: First absolute orbit of relative orbit 1 for each Sentinel-1 unit (175 orbits a cycle).
_S1_ORBIT_OFFSET = {"A": 73, "B": 27}


@dataclasses.dataclass(frozen=True)
class ProductIdentity:
    """Where a product sits in the store: platform, relative orbit, pass direction, tile."""

    platform: str
    relative_orbit: int | None = None
    direction: str | None = None
    tile: str | None = None


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """One product's import. ``status``: ``imported``; ``merged`` (another slice or tile
    of a pass already stored filled its gaps); ``replaced`` (imported again on another
    ``s2_scale``); ``skipped`` (already stored, or adding nothing, or a fetched scene)."""

    source: Path
    status: str
    scene: object  # imagery.store.StoredScene


def identify_product(path: str | Path, sensor: str) -> ProductIdentity:
    """Platform, relative orbit and direction from a product's name and metadata.

    Sentinel-1 names (``S1A_IW_GRDH_1SDV_<start>_<stop>_<absolute orbit>_...``) give the
    platform; the relative orbit comes from the manifest (``relativeOrbitNumber``), else
    from the absolute orbit (``(absolute - offset) mod 175 + 1``; offset 73 for S1A, 27
    for S1B); the direction from the annotation's ``pass``. Sentinel-2 L2A names give
    platform, relative orbit (``R135``) and tile. Anything else: the sensor's name
    (``S1``/``S2``) and unknown orbit.
    """
    name = Path(path).name
    if sensor == "s1":
        match = _S1_NAME.match(name)
        if not match:
            return ProductIdentity("S1")
        unit, absolute = match.group(1).upper(), int(match.group(3))
        relative, direction = _s1_manifest(Path(path))
        if relative is None and unit in _S1_ORBIT_OFFSET:
            relative = (absolute - _S1_ORBIT_OFFSET[unit]) % 175 + 1
        return ProductIdentity(f"S1{unit}", relative, direction)
    match = _S2_NAME.match(name)
    if not match:
        return ProductIdentity("S2")
    return ProductIdentity(
        f"S2{match.group(1).upper()}", int(match.group(3)), None, match.group(4).upper()
    )


def _s1_manifest(path: Path) -> tuple[int | None, str | None]:
    """Relative orbit (manifest) and pass direction (manifest or annotation), if given."""
    from imagery.products import is_product, product_listing

    if not is_product(path):
        return None, None
    listing = product_listing(path)
    relative = direction = None
    manifest = listing.named("manifest.safe")
    if manifest is not None:
        text = listing.read_text(manifest)
        found = re.search(r"relativeOrbitNumber[^>]*>\s*(\d+)\s*<", text)
        relative = int(found.group(1)) if found else None
        found = re.search(r":pass>\s*(ASCENDING|DESCENDING)\s*<", text, re.I)
        direction = found.group(1).upper() if found else None
    if direction is None:
        for member in listing.members:
            parts = PurePosixPath(member).parts
            if "annotation" in parts and "calibration" not in parts and member.endswith(".xml"):
                found = re.search(r"<pass>\s*(\w+)\s*</pass>", listing.read_text(member))
                if found:
                    direction = found.group(1).upper()
                    break
    return relative, direction


def onto_aoi_grid(raster: Raster, aoi, *, pixel_m: float = STORE_PIXEL_M) -> Raster:
    """``raster`` on the AOI's UTM grid (``aoi.utm_bounds``), nearest neighbour, NaN nodata."""
    left, bottom, right, top = aoi.utm_bounds(resolution_m=pixel_m)
    width = round((right - left) / pixel_m)
    height = round((top - bottom) / pixel_m)
    transform = from_origin(left, top, pixel_m, pixel_m)
    return warp_onto(raster, aoi.utm_crs, transform, (height, width), resampling=Resampling.nearest)


def _read_product(path: Path, aoi, sensor: str, s2_scale: float | None) -> Raster:
    """One product's scene over the AOI, in physical units, on the AOI's grid."""
    from imagery.grd import is_grd, read_grd
    from imagery.io import read_raster_around
    from imagery.sensors import prepare

    if sensor == "s1" and is_grd(path):
        raster = read_grd(path, aoi.bounds, margin_m=READ_MARGIN_M, crs=aoi.utm_crs)
    else:
        raster = read_raster_around(path, aoi.bounds, margin_m=READ_MARGIN_M, sensor=sensor)
    if raster.time is None:
        raise InputError(
            f"{path}: no acquisition time in its metadata or name; name it with the date "
            "(e.g. 2024-06-13_B02.tif) or tag it ACQUISITION_TIME"
        )
    raster = prepare(raster, sensor, source=str(path), grid="native", s2_scale=s2_scale)
    raster = onto_aoi_grid(raster, aoi)
    if not raster.valid_mask().any():
        raise NoOverlapError(f"{path}: no valid pixel over the AOI {aoi.id}")
    return raster


def _fill_in_order(parts: list[Raster]) -> Raster:
    """The first part, its gaps filled by the next parts in turn (one grid), on the bands
    every part has (a slice read as VV alone makes the scene VV alone)."""
    from imagery.sensors import keep_shared

    every = {b for part in parts for b in part.band_names}
    shared = keep_shared(parts, every)
    dropped = sorted(every - set(shared[0].band_names))
    if dropped:
        log.warning("bands not in every part of the pass, left out: %s", " ".join(dropped))
    parts = shared
    data = parts[0].data.astype(np.float32, copy=True)
    for part in parts[1:]:
        gaps = ~np.isfinite(data).all(axis=0) & part.valid_mask()
        data[:, gaps] = part.data[:, gaps]
    return parts[0].replace(data=data)


def _same_scale(stored: float | None, now: float | None) -> bool:
    """Two imports read the digital numbers alike: None (float reflectance, or an import
    recorded before the scale was decided per file) is L2A's own scale, and 1.5259e-5,
    the figure the help gives, is 1 / 65535."""
    from imagery.sensors import L2A_SCALE

    return math.isclose(stored or L2A_SCALE, now or L2A_SCALE, rel_tol=1e-3)


def import_scene(
    store: str | Path,
    path: str | Path,
    aoi,
    sensor: str,
    *,
    s2_scale: float | None = None,
    identity: ProductIdentity | None = None,
) -> ImportResult:
    """Put one product or raster file into the store, cut to the AOI.

    Parameters
    ----------
    store : path-like
        The imagery store (created if needed).
    path : path-like
        A product folder or zip (:mod:`imagery.products`), a Sentinel-1 GRD ``.SAFE``,
        or a raster file.
    aoi : imagery.aoi.AOI
    sensor : {"s1", "s2"}
    s2_scale : float, optional
        Reflectance per digital number; by default the product's numbers tell it
        (:func:`imagery.sensors.s2_file_scale`).
    identity : ProductIdentity, optional
        Overrides what :func:`identify_product` reads from the product.

    Raises
    ------
    InputError
        No acquisition time, or unreadable product.
    NoOverlapError
        The product holds no valid pixel over the AOI.
    """
    from imagery.io import read_raster
    from imagery.sensors import L2A_SCALE, s2_file_scale
    from imagery.store import (
        check_scene,
        orbit_label,
        read_scene,
        remember_aoi,
        scene_path,
        write_scene,
    )

    path = Path(path)
    identity = identity or identify_product(path, sensor)
    if sensor == "s2" and s2_scale is None:
        s2_scale = s2_file_scale(path)  # read at the product's own scale, and recorded
        if s2_scale is not None and s2_scale != L2A_SCALE:
            log.warning(
                "%s: its numbers are no L2A reflectance x 10000; imported as reflectance "
                "x 65535 (EO Browser's 16-bit exports); give --s2-scale 1e-4 if it is L2A",
                path,
            )
    raster = _read_product(path, aoi, sensor, s2_scale)
    orbit = orbit_label(
        sensor,
        direction=identity.direction,
        relative_orbit=identity.relative_orbit,
        tile=identity.tile,
    )
    target = scene_path(store, aoi.id, sensor, raster.time, identity.platform, orbit)
    remember_aoi(store, aoi)
    source = str(path.resolve())
    sources, status = [source], "imported"
    if target.exists() and not check_scene(target):
        stored = read_scene(target)
        request = stored.metadata.get("request") or {}
        earlier = request.get("imported_from")
        if earlier is None:
            return ImportResult(path, "skipped", stored)  # fetched: kept as fetched
        earlier = [earlier] if isinstance(earlier, str) else list(earlier)
        scales = dict(request.get("s2_scales") or {})
        if source in earlier:
            if _same_scale(scales.get(source, request.get("s2_scale")), s2_scale):
                return ImportResult(path, "skipped", stored)
            # Imported again on another scale: the scene is put together again from
            # its products in their order, each on its own scale and this one on the
            # new, so that each keeps the pixels it gave.
            if len(earlier) > 1:
                try:
                    parts = [
                        raster
                        if other == source
                        else _read_product(
                            Path(other), aoi, sensor, scales.get(other, request.get("s2_scale"))
                        )
                        for other in earlier
                    ]
                    raster = _fill_in_order(parts)
                except (InputError, NoOverlapError, OSError) as exc:
                    # Another product is gone or unreadable: this one's pixels win.
                    log.warning("%s: the scene kept the other products' pixels (%s)", target, exc)
                    raster = _fill_in_order([raster, read_raster(target)])
            sources, status = earlier, "replaced"
        else:
            # Another slice or tile of the same pass, on its own scale (each product
            # is read at its own; what is stored is reflectance): it fills the gaps.
            held = read_raster(target)
            if not (~held.valid_mask() & raster.valid_mask()).any():
                return ImportResult(path, "skipped", stored)
            raster = _fill_in_order([held, raster])
            sources, status = [*earlier, source], "merged"
        scales = {s: scales.get(s, request.get("s2_scale")) for s in earlier}
    else:
        scales = {}
    scales[source] = s2_scale
    scene = write_scene(
        target,
        raster,
        aoi_id=aoi.id,
        platform=identity.platform,
        orbit_direction=identity.direction,
        relative_orbit=identity.relative_orbit,
        acquisition={
            "products": [Path(s).name for s in sources],
            "source": "local",
            **dataclasses.asdict(identity),
        },
        request={"imported_from": sources, "s2_scale": s2_scale, "s2_scales": scales},
    )
    return ImportResult(path, status, scene)
