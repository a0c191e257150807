"""Writing vector layers: GeoPackage files written atomically, several layers at once."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import geopandas as gpd
import pyogrio

from imagery.atomic import atomic_path
from imagery.errors import ReviewError

__all__ = ["read_layer", "write_geopackage"]

log = logging.getLogger(__name__)

#: GeoPackage 1.2 is what QGIS 3.22 and later read without warnings.
GPKG_VERSION = "1.2"


def write_geopackage(
    path: str | os.PathLike,
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    before_commit: Callable[[Path], None] | None = None,
    layer_metadata: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Write ``layers`` (name -> GeoDataFrame) to one GeoPackage, atomically.

    The file is built beside ``path`` and renamed over it only when every layer (and
    ``before_commit``, a hook that may add tables such as ``layer_styles`` to the
    temporary file) succeeded; on failure the previous file is untouched.
    ``layer_metadata`` (layer name -> key -> value) is stored with the layers (GDAL's
    layer metadata, in the GeoPackage's metadata tables).
    """
    path = Path(path)
    if not layers:
        raise ReviewError(f"{path}: no layers to write")
    with atomic_path(path) as tmp:
        first = True
        for name, frame in layers.items():
            pyogrio.write_dataframe(
                frame,
                tmp,
                layer=name,
                driver="GPKG",
                append=not first,
                dataset_options={"VERSION": GPKG_VERSION} if first else None,
                layer_options={"SPATIAL_INDEX": "YES"},
                layer_metadata=(layer_metadata or {}).get(name),
            )
            first = False
        if before_commit is not None:
            before_commit(tmp)
    log.debug("wrote %s (%s)", path, ", ".join(layers))
    return path


def read_layer(path: str | os.PathLike, layer: str) -> gpd.GeoDataFrame:
    """Read one layer of a vector file, with an error that names the file and layer."""
    path = Path(path)
    if not path.exists():
        raise ReviewError(f"{path}: no such file")
    try:
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several unrelated types
        raise ReviewError(f"{path}: cannot read layer {layer!r} ({exc})") from exc
