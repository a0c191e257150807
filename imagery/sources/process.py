"""Fetch one acquisition over an AOI through the Sentinel Hub Process API.

The AOI's bounds are snapped outward to its UTM grid at 10 m
(:meth:`imagery.aoi.AOI.utm_bounds`) and requested with an explicit pixel size, so every
scene of an AOI lands on the same grid and co-registration starts from whole pixels.
The Process API returns at most ``max_tile_px`` (2500) pixels per axis; a larger AOI is
split into tiles on the same grid, fetched one after another, and mosaicked by pixel
offsets with the exact transform (no resampling).

Sentinel-1 (``evalscripts/s1_grd.js``)
    ``sentinel-1-grd``, dataFilter ``acquisitionMode=IW``, ``polarization=DV``,
    ``resolution=HIGH``, ``orbitDirection`` of the pass; processing
    ``backCoeff=SIGMA0_ELLIPSOID``, ``orthorectify=true``, ``demInstance=COPERNICUS_30``,
    ``speckleFilter={"type": "NONE"}``. Bands ``VV``, ``VH``: sigma0, linear power,
    float32, NaN where there is no data.
Sentinel-2 (``evalscripts/s2_l2a.js``)
    ``sentinel-2-l2a``; bands ``B02 B03 B04 B08 B11`` as uint16 reflectance x 10000
    (harmonised; B11 from 20 m) and ``SCL``; 0 (the nodata value) where there is no data.
    Where there is data each reflectance band is at least 1 (1e-4 reflectance, below any
    band's noise): UINT16 clamps dark water's negative harmonised B08/B11 to 0, and a
    pixel with any band at 0 is nodata (:meth:`imagery.raster.Raster.valid_mask`), so 0
    stays reserved for nodata as in ESA's L2A products.

Both ask for the pass only: ``timeRange`` is the acquisition's first-to-last product
time widened by :data:`TIME_MARGIN_S`, with ``mosaickingOrder=mostRecent`` so the slices
or tiles of that one pass are merged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import warnings
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile
from rasterio.transform import from_origin
from rasterio.windows import Window
from sentinelhub import CRS as SHCRS
from sentinelhub import (
    BBox,
    DataCollection,
    MimeType,
    MosaickingOrder,
    SentinelHubDownloadClient,
    SentinelHubRequest,
    SHConfig,
)
from sentinelhub.exceptions import SHRateLimitWarning

from imagery.aoi import AOI
from imagery.layover import with_pass_direction
from imagery.raster import Raster
from imagery.sources.catalog import Acquisition
from imagery.sources.config import Settings
from imagery.sources.retry import CorruptResponse, ErrorBody, body_message, call_with_retries

__all__ = [
    "REQUEST_KEYS",
    "RESOLUTION_M",
    "S1_PROCESSING",
    "SPECS",
    "TIME_MARGIN_S",
    "SensorSpec",
    "evalscript",
    "fetch_raster",
    "input_data",
    "planned_request",
    "tile_windows",
]

log = logging.getLogger(__name__)

RESOLUTION_M = 10.0
#: Sidecar request fields compared before a stored scene is kept (:func:`planned_request`).
REQUEST_KEYS = ("bbox", "crs", "size", "evalscript_sha256", "processing")
#: Seconds added before the first and after the last product of a pass.
TIME_MARGIN_S = 300.0
#: Process API processing options for Sentinel-1 GRD.
S1_PROCESSING: dict[str, Any] = {
    "backCoeff": "SIGMA0_ELLIPSOID",
    "orthorectify": True,
    "demInstance": "COPERNICUS_30",
    "speckleFilter": {"type": "NONE"},
}


@dataclasses.dataclass(frozen=True)
class SensorSpec:
    """What a sensor's evalscript returns and how portwatch stores it."""

    evalscript: str
    bands: tuple[str, ...]
    dtype: str
    nodata: float


SPECS = {
    "s1": SensorSpec("s1_grd.js", ("VV", "VH"), "float32", float("nan")),
    "s2": SensorSpec("s2_l2a.js", ("B02", "B03", "B04", "B08", "B11", "SCL"), "uint16", 0.0),
}


@cache
def evalscript(name: str) -> str:
    """The text of a bundled evalscript (package data ``imagery/sources/evalscripts``)."""
    return (resources.files("imagery.sources") / "evalscripts" / name).read_text(encoding="utf-8")


def tile_windows(width: int, height: int, *, max_px: int) -> list[Window]:
    """Split a ``width`` x ``height`` pixel grid into near-equal windows of at most ``max_px`` a side.

    Windows are whole pixels, row-major, and cover the grid exactly once.
    """
    if width < 1 or height < 1:
        raise ValueError(f"grid must have pixels, got {width} x {height}")
    n_cols, n_rows = math.ceil(width / max_px), math.ceil(height / max_px)
    col_edges = [i * width // n_cols for i in range(n_cols + 1)]
    row_edges = [j * height // n_rows for j in range(n_rows + 1)]
    return [
        Window(
            col_edges[i],
            row_edges[j],
            col_edges[i + 1] - col_edges[i],
            row_edges[j + 1] - row_edges[j],
        )
        for j in range(n_rows)
        for i in range(n_cols)
    ]


def input_data(
    acq: Acquisition, collection: DataCollection, *, max_cloud_pct: float | None
) -> dict[str, Any]:
    """``input.data[0]`` of the Process API request for ``acq``: the pass's time range
    (widened by :data:`TIME_MARGIN_S`), mosaicking, cloud cover and S1 processing."""
    margin = timedelta(seconds=TIME_MARGIN_S)
    extra: dict[str, Any] = {}
    if acq.sensor == "s1":
        extra["processing"] = dict(S1_PROCESSING)
        if acq.orbit_direction:
            extra["dataFilter"] = {"orbitDirection": acq.orbit_direction}
    return SentinelHubRequest.input_data(
        collection,
        time_interval=(acq.start - margin, acq.end + margin),
        mosaicking_order=MosaickingOrder.MOST_RECENT,
        maxcc=max_cloud_pct / 100.0 if max_cloud_pct is not None else None,
        other_args=extra or None,
    )


def _decode(
    content: bytes, *, window: Window, transform: Affine, epsg: int, count: int
) -> np.ndarray:
    want = (count, int(window.height), int(window.width))
    try:
        with MemoryFile(content) as mem, mem.open() as ds:
            got = (ds.count, ds.height, ds.width)
            if got != want:
                raise CorruptResponse(
                    f"GeoTIFF is {got[0]}x{got[1]}x{got[2]}, expected {want[0]}x{want[1]}x{want[2]}"
                )
            if ds.crs is not None and ds.crs.to_epsg() != epsg:
                raise CorruptResponse(f"GeoTIFF is in {ds.crs}, expected EPSG:{epsg}")
            if ds.transform != Affine.identity() and not ds.transform.almost_equals(
                transform, precision=1e-3
            ):
                raise CorruptResponse(
                    f"GeoTIFF grid {tuple(ds.transform)[:6]} is not the requested one"
                )
            return ds.read()
    except RasterioError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptResponse(
            f"{len(content)} bytes that GDAL cannot read as a GeoTIFF ({reason})"
        ) from exc


def _refuse_error_body(content: bytes, headers: dict[str, str], status: int | None) -> None:
    """Raise :class:`ErrorBody` when a 200 answer holds a JSON document, not a GeoTIFF.

    Sentinel Hub may answer 200 with ``{"error": {...}}`` (an evalscript that failed);
    its message, not "bytes GDAL cannot read", is what the user needs.
    """
    ctype = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type", "")
    if "json" not in ctype.lower() and content.lstrip()[:1] != b"{":
        return
    try:
        body = json.loads(content)
    except ValueError:
        return  # not JSON after all: _decode reports the bytes
    raise ErrorBody(
        f"{body_message(status or 200, 'OK', body)} (a JSON answer instead of a GeoTIFF)"
    )


def _mask_to_nodata(stack: np.ndarray, spec: SensorSpec) -> np.ndarray:
    """Drop the trailing dataMask band, writing ``spec.nodata`` where it is 0."""
    data = stack[:-1].astype(spec.dtype, copy=True)
    data[:, stack[-1] == 0] = spec.nodata
    return data


def fetch_raster(
    acq: Acquisition,
    aoi: AOI,
    *,
    settings: Settings,
    client: SentinelHubDownloadClient,
    config: SHConfig,
    collection: DataCollection,
    max_cloud_pct: float | None = None,
) -> tuple[Raster, dict[str, Any]]:
    """Download ``acq`` over ``aoi`` on the AOI's UTM grid at 10 m.

    Parameters
    ----------
    acq : Acquisition
    aoi : AOI
    settings : Settings
        ``max_tile_px`` and the retry rules.
    client : SentinelHubDownloadClient
        From :func:`imagery.sources.client.make_client`.
    config : SHConfig
        From :func:`imagery.sources.client.sh_config`.
    collection : DataCollection
        From :func:`imagery.sources.client.collection`, re-pointed at the base URL.
    max_cloud_pct : float, optional
        Sentinel-2 ``maxCloudCoverage`` per source tile, percent.

    Returns
    -------
    raster : Raster
        (band, row, col) on the AOI's UTM grid, with time, sensor and band names.
    request : dict
        What was asked for, for the sidecar (no credentials).

    Raises
    ------
    DownloadError
        A tile failed after its retries; the message carries the server's.
    """
    spec = SPECS[acq.sensor]
    script = evalscript(spec.evalscript)
    data_in = input_data(acq, collection, max_cloud_pct=max_cloud_pct)
    planned = planned_request(acq, aoi, data_in)
    left, _, _, top = planned["bbox"]
    width, height = planned["size"]
    transform = from_origin(left, top, RESOLUTION_M, RESOLUTION_M)
    epsg = int(aoi.utm_epsg)
    windows = tile_windows(width, height, max_px=settings.max_tile_px)
    mosaic: np.ndarray | None = None
    payload: dict[str, Any] = {}
    for k, window in enumerate(windows, start=1):
        tile_transform = transform * Affine.translation(window.col_off, window.row_off)
        x0, y0 = tile_transform * (0, 0)
        x1, y1 = tile_transform * (window.width, window.height)
        request = SentinelHubRequest(
            evalscript=script,
            input_data=[data_in],
            responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
            bbox=BBox((x0, y1, x1, y0), crs=SHCRS(epsg)),
            size=(int(window.width), int(window.height)),
            config=config,
        )
        payload = request.payload
        download = request.download_list[0]

        def fetch_tile(
            download=download, window=window, tile_transform=tile_transform
        ) -> np.ndarray:
            with warnings.catch_warnings():
                # the client warns on every 429; our rate limiter logs the wait instead
                warnings.simplefilter("ignore", SHRateLimitWarning)
                response = client.download([download], max_threads=1, decode_data=False)[0]
            _refuse_error_body(response.content, response.headers, response.status_code)
            return _decode(
                response.content,
                window=window,
                transform=tile_transform,
                epsg=epsg,
                count=len(spec.bands) + 1,
            )

        what = f"{acq.label}: Process API" + (
            f" tile {k}/{len(windows)}" if len(windows) > 1 else ""
        )
        tile = call_with_retries(fetch_tile, settings=settings, what=what)
        if mosaic is None:
            mosaic = np.empty((tile.shape[0], height, width), dtype=tile.dtype)
        mosaic[
            :,
            window.row_off : window.row_off + window.height,
            window.col_off : window.col_off + window.width,
        ] = tile
        log.debug("%s: %d x %d px", what, window.width, window.height)
    assert mosaic is not None
    raster = Raster(
        data=_mask_to_nodata(mosaic, spec),
        transform=transform,
        crs=CRS.from_epsg(epsg),
        nodata=spec.nodata,
        time=acq.start,
        sensor=acq.sensor,
        band_names=spec.bands,
    )
    if acq.sensor == "s1" and acq.orbit_direction:
        # The pass direction fixes the look (the incidence, 29-46 degrees across the
        # swath, is not requested; imagery.layover takes mid-swath).
        raster = with_pass_direction(raster, acq.orbit_direction)
    data_spec = payload["input"]["data"][0]
    request_info = {
        "api": "process",
        "url": download.url,
        "collection": collection.api_id,
        "evalscript": spec.evalscript,
        **planned,
        "resolution_m": RESOLUTION_M,
        "tiles": [[int(w.col_off), int(w.row_off), int(w.width), int(w.height)] for w in windows],
        "data_filter": data_spec.get("dataFilter", {}),
        "processing": data_spec.get("processing", {}),
        "requested_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return raster, request_info


def planned_request(acq: Acquisition, aoi: AOI, data_in: dict[str, Any]) -> dict[str, Any]:
    """The request fields that fix a scene's grid and values, as its sidecar records them.

    Parameters
    ----------
    acq : Acquisition
    aoi : AOI
    data_in : dict
        ``input.data[0]`` of the request (:func:`input_data`), for its ``processing``.

    Returns
    -------
    dict
        The keys of :data:`REQUEST_KEYS`: ``bbox`` (UTM bounds snapped to 10 m, metres),
        ``crs`` (``EPSG:326xx``/``327xx``), ``size`` (width, height in pixels),
        ``evalscript_sha256`` and ``processing``. A stored scene whose sidecar records
        other values was fetched for another AOI polygon or script and is stale.
    """
    left, bottom, right, top = aoi.utm_bounds(resolution_m=RESOLUTION_M)
    script = evalscript(SPECS[acq.sensor].evalscript)
    return {
        "bbox": [left, bottom, right, top],
        "crs": f"EPSG:{int(aoi.utm_epsg)}",
        "size": [round((right - left) / RESOLUTION_M), round((top - bottom) / RESOLUTION_M)],
        "evalscript_sha256": hashlib.sha256(script.encode()).hexdigest(),
        "processing": dict(data_in.get("processing") or {}),
    }
