"""Truth tables: what is in each scene, what is new, what left, what the clouds hide.

Rows are :class:`~imagery.simulate.objects.PortObject` footprints on the ground (true
positions, not displaced by a scene's misregistration) in the scene's UTM CRS, with
the fields of :data:`TRUTH_FIELDS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer

from imagery.simulate.grid import to_pixel
from imagery.simulate.objects import PortObject

__all__ = ["TRUTH_FIELDS", "hidden_ids", "iso", "object_frame"]

#: Columns of every truth table (plus ``geometry``), in order.
TRUTH_FIELDS = (
    "id",
    "kind",
    "setting",
    "subtype",
    "length_m",
    "width_m",
    "heading_deg",
    "area_m2",
    "lon",
    "lat",
    "before_time",
    "after_time",
    "occluded",
)


def iso(when: datetime) -> str:
    """ISO 8601 UTC with a ``Z``, to the second."""
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def object_frame(
    objects: Sequence[PortObject],
    *,
    crs,
    before_time: datetime,
    after_time: datetime,
    hidden: Iterable[int] = (),
    extra: dict[str, object] | None = None,
) -> gpd.GeoDataFrame:
    """A GeoDataFrame of ``objects`` in ``crs`` with the truth fields.

    ``hidden`` holds the ids to flag ``occluded``; ``extra`` adds constant columns
    (``after_index``, ``scene_index``, ``change``).
    """
    hidden = set(hidden)
    centroids = [o.footprint.centroid for o in objects]
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    if objects:
        lon, lat = to_wgs84.transform([c.x for c in centroids], [c.y for c in centroids])
    else:
        lon, lat = [], []
    rows = {
        "id": [o.id for o in objects],
        "kind": [o.kind for o in objects],
        "setting": [o.setting for o in objects],
        "subtype": [o.subtype for o in objects],
        "length_m": [round(o.length_m, 2) for o in objects],
        "width_m": [round(o.width_m, 2) for o in objects],
        "heading_deg": [round(o.heading_deg, 2) for o in objects],
        "area_m2": [round(o.footprint.area, 1) for o in objects],
        "lon": [round(float(v), 7) for v in np.atleast_1d(lon)] if objects else [],
        "lat": [round(float(v), 7) for v in np.atleast_1d(lat)] if objects else [],
        "before_time": [iso(before_time)] * len(objects),
        "after_time": [iso(after_time)] * len(objects),
        "occluded": [o.id in hidden for o in objects],
    }
    for key, value in (extra or {}).items():
        rows[key] = [value] * len(objects)
    frame = gpd.GeoDataFrame(rows, geometry=[o.footprint for o in objects], crs=crs)
    return frame.astype({"id": "int64", "occluded": "bool"})


def hidden_ids(
    objects: Sequence[PortObject],
    cloud: np.ndarray,
    transform: Affine,
    *,
    max_opacity: float = 0.25,
) -> set[int]:
    """Ids of objects whose footprint is, on average, under cloud thicker than ``max_opacity``.

    ``transform`` is the scene's render transform (so the footprint lands where the
    scene drew it); ``cloud`` the scene's per-pixel opacity.
    """
    if not cloud.any():
        return set()
    rows, cols = cloud.shape
    found = set()
    for obj in objects:
        left, bottom, right, top = obj.footprint.bounds
        c, r = to_pixel(transform, np.array([left, right]), np.array([top, bottom]))
        c0, c1 = max(0, int(np.floor(c.min()))), min(cols, int(np.ceil(c.max())) + 1)
        r0, r1 = max(0, int(np.floor(r.min()))), min(rows, int(np.ceil(r.max())) + 1)
        if c1 <= c0 or r1 <= r0:
            continue
        cc, rr = np.meshgrid(np.arange(c0, c1) + 0.5, np.arange(r0, r1) + 0.5)
        x = transform.a * cc + transform.b * rr + transform.c
        y = transform.d * cc + transform.e * rr + transform.f
        inside = shapely.contains_xy(obj.footprint, x, y)
        if not inside.any():
            inside = np.ones_like(inside)
        if cloud[r0:r1, c0:c1][inside].mean() > max_opacity:
            found.add(obj.id)
    return found
