"""The port catalogue: areas of interest (AOIs), one GeoJSON file per port.

An AOI file is a GeoJSON ``FeatureCollection`` in WGS84 longitude/latitude (RFC 7946)
holding one feature with ``"role": "aoi"`` (a Polygon over the quays, piers and
anchorage) and, optionally, one with ``"role": "water"`` (Polygon or MultiPolygon of
the water inside the AOI, used as the water mask when given). The AOI feature's
properties are ``id``, ``name``, ``country``, ``locode`` (UN/LOCODE or null) and
``reason`` (why the port is watched). A bare ``Feature`` or a collection with a single
feature is accepted as the AOI.

Loading validates the file and raises :class:`~imagery.errors.AOIError` naming the file
and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from functools import cached_property
from pathlib import Path

import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from imagery.errors import AOIError

__all__ = [
    "AOI",
    "catalogue_dir",
    "get_aoi",
    "load_aoi",
    "load_catalogue",
    "safe_id",
    "utm_epsg",
]

log = logging.getLogger(__name__)

MIN_AREA_KM2 = 0.5
MAX_AREA_KM2 = 400.0
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_GEOD = Geod(ellps="WGS84")


def safe_id(text: str) -> str:
    """Turn ``text`` into an id safe to use as one path component.

    Lower-cases, maps anything outside ``[a-z0-9_-]`` to ``-``, strips leading dots and
    dashes, and refuses an empty result, so an AOI id can never climb out of a folder
    (``../``) or name a hidden file.
    """
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", str(text).strip().lower()).strip("-_.")
    if not cleaned:
        raise AOIError(f"id {text!r} holds no usable character (allowed: a-z, 0-9, _ and -)")
    return cleaned[:63]


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing (lon, lat), with Norway/Svalbard rules."""
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if infos:
        return int(infos[0].code)
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@dataclasses.dataclass(frozen=True)
class AOI:
    """A watched port: its polygon in WGS84 and what it is.

    Attributes
    ----------
    id : str
        Short, path-safe identifier (``rajin``).
    name, country : str
    locode : str or None
        UN/LOCODE (``KPNJN``) where one exists.
    reason : str
        One sentence on why the port is watched.
    geometry : shapely Polygon
        Longitude/latitude, WGS84.
    water : shapely Polygon or MultiPolygon, optional
        Water inside the AOI, longitude/latitude.
    path : Path, optional
        The file it was loaded from.
    """

    id: str
    name: str
    country: str
    locode: str | None
    reason: str
    geometry: Polygon
    water: BaseGeometry | None = None
    path: Path | None = None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        return tuple(self.geometry.bounds)  # type: ignore[return-value]

    @cached_property
    def area_km2(self) -> float:
        """Geodesic area on the WGS84 ellipsoid, km²."""
        return abs(_GEOD.geometry_area_perimeter(self.geometry)[0]) / 1e6

    @cached_property
    def centroid(self) -> tuple[float, float]:
        c = self.geometry.centroid
        return c.x, c.y

    @cached_property
    def utm_epsg(self) -> int:
        """EPSG code of the UTM zone of the AOI's centroid."""
        return utm_epsg(*self.centroid)

    @property
    def utm_crs(self) -> CRS:
        return CRS.from_epsg(self.utm_epsg)

    def geometry_in(self, crs) -> BaseGeometry:
        """The AOI polygon transformed to ``crs``."""
        return _to_crs(self.geometry, crs)

    def water_in(self, crs) -> BaseGeometry | None:
        """The water polygon transformed to ``crs`` (None when the AOI has none)."""
        return None if self.water is None else _to_crs(self.water, crs)

    def utm_bounds(self, *, resolution_m: float = 10.0) -> tuple[float, float, float, float]:
        """AOI bounds on its UTM grid, snapped outward to ``resolution_m``."""
        import math

        left, bottom, right, top = self.geometry_in(self.utm_crs).bounds
        r = resolution_m
        return (
            math.floor(left / r) * r,
            math.floor(bottom / r) * r,
            math.ceil(right / r) * r,
            math.ceil(top / r) * r,
        )

    def to_geojson(self) -> dict:
        props = {
            "role": "aoi",
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "locode": self.locode,
            "reason": self.reason,
        }
        features = [{"type": "Feature", "properties": props, "geometry": mapping(self.geometry)}]
        if self.water is not None:
            features.append(
                {
                    "type": "Feature",
                    "properties": {"role": "water"},
                    "geometry": mapping(self.water),
                }
            )
        return {"type": "FeatureCollection", "features": features}


def _to_crs(geom: BaseGeometry, crs) -> BaseGeometry:
    transformer = Transformer.from_crs("EPSG:4326", CRS.from_user_input(crs), always_xy=True)
    return shapely.transform(geom, lambda xy: _stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _stack(xy):
    import numpy as np

    return np.column_stack(xy)


def _fail(path: Path, problem: str) -> AOIError:
    return AOIError(f"{path}: {problem}")


def _features(doc: object, path: Path) -> list[dict]:
    if not isinstance(doc, dict):
        raise _fail(path, "not a GeoJSON object")
    kind = doc.get("type")
    if kind == "Feature":
        return [doc]
    if kind == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list) or not feats:
            raise _fail(path, "FeatureCollection has no features")
        return feats
    raise _fail(path, f"expected a GeoJSON Feature or FeatureCollection, got type {kind!r}")


def _geometry(feature: dict, path: Path, what: str) -> BaseGeometry:
    raw = feature.get("geometry")
    if not isinstance(raw, dict):
        raise _fail(path, f"{what} feature has no geometry")
    try:
        geom = shape(raw)
    except Exception as exc:
        raise _fail(path, f"{what} geometry cannot be parsed ({exc})") from exc
    if geom.is_empty:
        raise _fail(path, f"{what} geometry is empty")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise _fail(
            path,
            f"{what} coordinates {geom.bounds} are not WGS84 longitude/latitude "
            "(RFC 7946 GeoJSON is lon, lat in degrees)",
        )
    _check_antimeridian(geom, path, what)
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise _fail(path, f"{what} polygon is invalid: {reason}")
    return geom


def _check_antimeridian(geom: BaseGeometry, path: Path, what: str) -> None:
    # RFC 7946 (3.1.9) cuts a geometry that crosses the antimeridian in two; a single
    # polygon from 179.9 to -179.9 instead spans the globe on the flat lon/lat map, so
    # its centroid (and UTM zone) lands near lon 0 and the catalog search covers every
    # longitude. A port is a few km across: a span over 180 degrees can only be that.
    minx, _, maxx, _ = geom.bounds
    if maxx - minx > 180:
        raise _fail(
            path,
            f"{what} polygon spans {maxx - minx:.1f} degrees of longitude ({minx:g} to "
            f"{maxx:g}): it crosses the antimeridian, which portwatch cannot fetch; split it "
            "at 180 degrees into two AOI files, one on each side",
        )


def load_aoi(path: str | os.PathLike) -> AOI:
    """Load and validate one AOI file.

    Checks: readable JSON; a Polygon AOI feature with ``id`` and ``name``; valid
    geometry; coordinates in WGS84 longitude/latitude order (a polygon whose first
    coordinate looks like a latitude and second like a longitude is refused); a
    geodesic area between 0.5 and 400 km²; a path-safe id; an optional water polygon
    that intersects the AOI.

    Raises
    ------
    AOIError
        Naming the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such AOI file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"not valid JSON ({exc})") from exc
    feats = _features(doc, path)
    roles = [(f.get("properties") or {}).get("role") for f in feats]
    aoi_feats = [f for f, r in zip(feats, roles, strict=True) if r in (None, "aoi")]
    water_feats = [f for f, r in zip(feats, roles, strict=True) if r == "water"]
    if len(aoi_feats) != 1:
        raise _fail(path, f"expected exactly one AOI feature (role 'aoi'), found {len(aoi_feats)}")
    if len(water_feats) > 1:
        raise _fail(path, f"expected at most one water feature, found {len(water_feats)}")
    feature = aoi_feats[0]
    props = feature.get("properties") or {}
    geom = _geometry(feature, path, "AOI")
    if not isinstance(geom, Polygon):
        raise _fail(path, f"AOI geometry must be a Polygon, got {geom.geom_type}")
    _check_lon_lat_order(geom, path)
    raw_id = props.get("id")
    if not raw_id or not isinstance(raw_id, str):
        raise _fail(path, "AOI feature has no 'id' property")
    if not _ID_PATTERN.match(raw_id):
        raise _fail(
            path,
            f"id {raw_id!r} is not path-safe (use lower-case a-z, 0-9, '_' and '-'; e.g. {safe_id(raw_id)!r})",
        )
    name = props.get("name")
    if not name or not isinstance(name, str):
        raise _fail(path, "AOI feature has no 'name' property")
    water = None
    if water_feats:
        water = _geometry(water_feats[0], path, "water")
        if not isinstance(water, Polygon | MultiPolygon):
            raise _fail(
                path, f"water geometry must be a Polygon or MultiPolygon, got {water.geom_type}"
            )
        if not water.intersects(geom):
            raise _fail(path, "water polygon does not intersect the AOI")
        water = water.intersection(geom)
    aoi = AOI(
        id=raw_id,
        name=name,
        country=str(props.get("country") or ""),
        locode=(str(props["locode"]).upper().replace(" ", "") if props.get("locode") else None),
        reason=str(props.get("reason") or ""),
        geometry=geom,
        water=water,
        path=path,
    )
    area = aoi.area_km2
    if not MIN_AREA_KM2 <= area <= MAX_AREA_KM2:
        raise _fail(
            path,
            f"AOI area {area:.3f} km² is outside the sane range {MIN_AREA_KM2}-{MAX_AREA_KM2} km² "
            "(a port's quays, piers and anchorage)",
        )
    return aoi


def _check_lon_lat_order(geom: Polygon, path: Path) -> None:
    # A swapped (lat, lon) polygon is still valid GeoJSON-looking numbers; catch the
    # unambiguous case: every "latitude" beyond +-90 would already fail, so test for
    # "longitudes" that all fit in a latitude band while "latitudes" cannot be latitudes
    # of a port (ports lie between 80S and 80N).
    minx, miny, maxx, maxy = geom.bounds
    if (abs(miny) > 80 or abs(maxy) > 80) and max(abs(minx), abs(maxx)) <= 80:
        raise _fail(
            path,
            f"coordinates {geom.bounds} look like (lat, lon); GeoJSON requires (lon, lat) order",
        )


def catalogue_dir() -> Path:
    """The folder of bundled AOI files.

    ``PORTWATCH_AOI_DIR`` wins; else the repository's ``aoi/`` beside the package (a
    source checkout or editable install); else the copy installed inside the package.
    """
    env = os.environ.get("PORTWATCH_AOI_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "aoi", here / "_catalogue"):
        if candidate.is_dir():
            return candidate
    raise AOIError(
        f"no AOI catalogue found (looked in {here.parent / 'aoi'}); set PORTWATCH_AOI_DIR"
    )


def load_catalogue(directory: str | os.PathLike | None = None) -> dict[str, AOI]:
    """Load and validate every ``*.geojson`` in ``directory`` (the bundled catalogue by default).

    Raises
    ------
    AOIError
        A file is invalid, or two files share an id.
    """
    folder = Path(directory) if directory is not None else catalogue_dir()
    if not folder.is_dir():
        raise AOIError(f"{folder}: AOI catalogue folder does not exist")
    found: dict[str, AOI] = {}
    for path in sorted(folder.glob("*.geojson")):
        aoi = load_aoi(path)
        if aoi.id in found:
            raise _fail(path, f"duplicate AOI id {aoi.id!r} (also in {found[aoi.id].path})")
        found[aoi.id] = aoi
    return found


def get_aoi(id_or_path: str | os.PathLike, *, directory: str | os.PathLike | None = None) -> AOI:
    """An AOI by catalogue id, or loaded from a user's own GeoJSON file.

    A value that names an existing file, or ends in ``.geojson``/``.json``, is read as
    a file; anything else is looked up in the catalogue.
    """
    text = os.fspath(id_or_path)
    if Path(text).is_file() or text.lower().endswith((".geojson", ".json")):
        return load_aoi(text)
    catalogue = load_catalogue(directory)
    key = text.strip().lower()
    if key not in catalogue:
        raise AOIError(
            f"unknown AOI id {text!r}; known: {', '.join(sorted(catalogue))} (or give a .geojson file)"
        )
    return catalogue[key]
