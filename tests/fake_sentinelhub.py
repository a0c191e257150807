"""A fake Sentinel Hub on 127.0.0.1 for tests: OAuth token, Catalog search, Process API.

The real sentinelhub-py client talks to it over HTTP; nothing inside sentinelhub-py is
mocked. It implements just enough of the real services:

* ``POST /auth/realms/main/protocol/openid-connect/token``: OAuth client-credentials
  grant; wrong credentials get 401 ``{"error": "unauthorized_client", ...}`` as
  Keycloak answers.
* ``POST /api/v1/catalog/1.0.0/search``: STAC item search over the configured items,
  filtered by collection, datetime, ``intersects`` and a small CQL2-text subset
  (``prop='text'``, ``prop <= number``, ``prop < number`` joined by ``AND``), paginated
  with ``limit`` and an integer ``next`` token in ``context``.
* ``POST /api/v1/process``: a GeoTIFF made on the fly with rasterio for the requested
  bbox, CRS and size, with as many bands and the sample type the evalscript's
  ``setup()`` declares. Pixel values depend only on the pixel centre's map coordinates
  and the requested day, so tiles mosaic exactly into a single request's result.
  Requests over ``max_px`` per axis are refused with a 400 as Sentinel Hub does.
  With ``run_evalscripts=True`` the synthetic values are the evalscript's *input*
  samples (S2 reflectance bands as reflectance, i.e. DN / 10000) and the request's own
  ``evaluatePixel`` is run on every pixel by Node.js, as Sentinel Hub runs it; the
  output is rounded and clamped to the sample type (UINT8/UINT16) as Sentinel Hub does.

Faults are injected per endpoint (``fake.faults["process"].append(Fault(...))``,
consumed one per request) or by rule (``fake.process_rule = lambda body: Fault(...)``).
Every request is logged with a monotonic timestamp in ``fake.log``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
import subprocess
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from shapely.geometry import box, shape

TOKEN_PATH = "/auth/realms/main/protocol/openid-connect/token"
CATALOG_PATH = "/api/v1/catalog/1.0.0/search"
PROCESS_PATH = "/api/v1/process"

#: A test AOI near Rajin (UTM 52N), about 1.5 x 1.2 km: ~150 x 125 px at 10 m.
SMALL_AOI = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "role": "aoi",
                "id": "testport",
                "name": "Test Port",
                "country": "Nowhere",
                "locode": None,
                "reason": "test fixture",
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [130.300, 42.240],
                        [130.318, 42.240],
                        [130.318, 42.251],
                        [130.300, 42.251],
                        [130.300, 42.240],
                    ]
                ],
            },
        }
    ],
}


def write_small_aoi(folder: Path) -> Path:
    """Write :data:`SMALL_AOI` as ``folder/testport.geojson``; return the path."""
    path = Path(folder) / "testport.geojson"
    path.write_text(json.dumps(SMALL_AOI), encoding="utf-8")
    return path


@dataclasses.dataclass
class Fault:
    """One injected answer instead of the normal one.

    ``truncate`` answers 200 with the first half of the real GeoTIFF (and a matching
    Content-Length: the server itself produced a broken file). ``delay_s`` sleeps before
    answering (to trip the client's timeout).
    """

    status: int = 500
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    truncate: bool = False
    delay_s: float = 0.0


def sh_error(status: int, reason: str, message: str, code: str) -> dict:
    """An error body as Sentinel Hub writes it."""
    return {"error": {"status": status, "reason": reason, "message": message, "code": code}}


def rate_limited(retry_after_ms: int) -> Fault:
    """A 429 with Sentinel Hub's ``Retry-After`` (milliseconds)."""
    return Fault(
        status=429,
        body=sh_error(
            429, "Too Many Requests", "You have exceeded your rate limit", "RATE_LIMIT_EXCEEDED"
        ),
        headers={"Retry-After": str(retry_after_ms)},
    )


@dataclasses.dataclass
class Logged:
    t: float
    endpoint: str
    status: int
    body: Any


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def s1_item(
    when: datetime,
    *,
    platform: str = "S1A",
    direction: str = "ascending",
    relative_orbit: int | None = None,
    absolute_orbit: int = 53000,
    polarization: str = "DV",
    geometry: dict | None = None,
) -> dict:
    """A STAC item of collection ``sentinel-1-grd`` covering the test AOI."""
    stamp = when.strftime("%Y%m%dT%H%M%S")
    stop = (when + timedelta(seconds=25)).strftime("%Y%m%dT%H%M%S")
    item_id = f"{platform}_IW_GRDH_1S{polarization}_{stamp}_{stop}_{absolute_orbit:06d}_0ABCDE_1F2A"
    props = {
        "datetime": _iso(when),
        "platform": f"sentinel-{platform[1:].lower()}",
        "sar:instrument_mode": "IW",
        "s1:polarization": polarization,
        "s1:resolution": "HIGH",
        "sat:orbit_state": direction,
    }
    if relative_orbit is not None:
        props["sat:relative_orbit"] = relative_orbit
    return {
        "type": "Feature",
        "id": item_id,
        "collection": "sentinel-1-grd",
        "geometry": geometry or box(129.5, 41.5, 131.5, 43.0).__geo_interface__,
        "properties": props,
    }


def s2_item(
    when: datetime,
    *,
    platform: str = "S2A",
    relative_orbit: int = 32,
    tile: str = "52TGN",
    cloud_cover: float = 5.0,
    geometry: dict | None = None,
) -> dict:
    """A STAC item of collection ``sentinel-2-l2a`` covering the test AOI."""
    stamp = when.strftime("%Y%m%dT%H%M%S")
    item_id = f"{platform}_MSIL2A_{stamp}_N0510_R{relative_orbit:03d}_T{tile}_{stamp}"
    return {
        "type": "Feature",
        "id": item_id,
        "collection": "sentinel-2-l2a",
        "geometry": geometry or box(129.5, 41.5, 131.5, 43.0).__geo_interface__,
        "properties": {
            "datetime": _iso(when),
            "platform": f"sentinel-{platform[1:].lower()}",
            "eo:cloud_cover": cloud_cover,
        },
    }


_COND = re.compile(r"^\s*([\w:]+)\s*(<=|<|>=|>|=)\s*(?:'([^']*)'|([-\d.]+))\s*$")


def _matches_filter(props: dict, text: str | None) -> bool:
    if not text:
        return True
    for clause in re.split(r"\s+AND\s+", text, flags=re.IGNORECASE):
        match = _COND.match(clause)
        if not match:
            raise ValueError(f"fake catalog cannot parse filter clause {clause!r}")
        name, op, text_value, number = match.groups()
        have = props.get(name)
        if have is None:
            return False
        if text_value is not None:
            if op != "=" or str(have).upper() != text_value.upper():
                return False
            continue
        value = float(number)
        ok = {
            "<=": have <= value,
            "<": have < value,
            ">=": have >= value,
            ">": have > value,
            "=": have == value,
        }[op]
        if not ok:
            return False
    return True


def _parse_dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _setup_output(evalscript: str) -> tuple[int, str]:
    output = re.search(r"output\s*:\s*\{([^}]*)\}", evalscript)
    if not output:
        raise ValueError("evalscript has no output in setup()")
    bands = re.search(r"bands\s*:\s*(\d+)", output.group(1))
    sample = re.search(r"sampleType\s*:\s*\"(\w+)\"", output.group(1))
    return int(bands.group(1)) if bands else 1, sample.group(1) if sample else "AUTO"


_INPUT_BANDS = re.compile(r"input\s*:\s*\[\s*\{\s*bands\s*:\s*\[([^\]]*)\]")

#: Runs ``evaluatePixel`` of an evalscript over float64 samples (band-major, base64)
#: and writes the outputs (pixel-major float64) to stdout.
_NODE_RUNNER = r"""
const fs = require("fs");
const job = JSON.parse(fs.readFileSync(0, "utf8"));
const script = new Function(job.script + "\nreturn { setup, evaluatePixel };")();
const raw = Buffer.from(job.samples, "base64");
const samples = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
const n = job.pixels, names = job.names, count = job.count;
const out = new Float64Array(n * count);
for (let i = 0; i < n; i++) {
  const sample = {};
  names.forEach((name, b) => { sample[name] = samples[b * n + i]; });
  const values = script.evaluatePixel(sample);
  for (let b = 0; b < count; b++) out[i * count + b] = values[b];
}
process.stdout.write(Buffer.from(out.buffer));
"""


def input_bands(evalscript: str) -> list[str]:
    """Band names of ``setup().input[0].bands``."""
    match = _INPUT_BANDS.search(evalscript)
    if not match:
        raise ValueError("evalscript has no input bands in setup()")
    return re.findall(r"\"(\w+)\"", match.group(1))


def run_evalscript(evalscript: str, samples: dict[str, np.ndarray], count: int) -> np.ndarray:
    """``evaluatePixel`` of ``evalscript`` on every pixel, with Node.js: (count, rows, cols)."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise RuntimeError("run_evalscripts needs Node.js (node) on PATH")
    names = list(samples)
    stack = np.stack([samples[n] for n in names]).astype(np.float64)
    shape = stack.shape[1:]
    job = {
        "script": evalscript,
        "names": names,
        "count": count,
        "pixels": int(np.prod(shape)),
        "samples": base64.b64encode(stack.tobytes()).decode(),
    }
    done = subprocess.run(
        [node, "-e", _NODE_RUNNER],
        input=json.dumps(job).encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    out = np.frombuffer(done.stdout, dtype=np.float64).reshape(*shape, count)
    return np.moveaxis(out, -1, 0)


def evalscript_samples(kind: str, evalscript: str, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The evalscript's input samples from :func:`synth_pixels` rows, in declared order.

    Sentinel-2 ``B..`` bands are reflectance (DN / 10000), as Sentinel Hub passes them.
    """
    names = input_bands(evalscript)
    if len(names) != len(pixels):
        raise ValueError(f"{len(names)} input bands but {len(pixels)} synthetic rows")
    scale = {n: 1e-4 for n in names if kind == "sentinel-2-l2a" and n.startswith("B")}
    return {n: pixels[i] * scale.get(n, 1.0) for i, n in enumerate(names)}


def to_sample_type(values: np.ndarray, dtype: str) -> np.ndarray:
    """Round and clamp to an integer sample type as Sentinel Hub does; floats are cast."""
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return values.astype(dtype)


def synth_pixels(
    kind: str, bounds, width: int, height: int, count: int, day: int, nodata_x: float
) -> np.ndarray:
    """Deterministic pixels from map coordinates: tiles of one grid mosaic exactly."""
    left, bottom, right, top = bounds
    resx, resy = (right - left) / width, (top - bottom) / height
    xs = left + (np.arange(width) + 0.5) * resx
    ys = top - (np.arange(height) + 0.5) * resy
    xx, yy = np.meshgrid(xs, ys)
    mask = (xx >= nodata_x).astype(np.float64)
    if kind == "sentinel-1-grd":
        vv = 0.02 + 0.01 * (1 + np.sin(xx / 97.0)) * (1 + np.cos(yy / 61.0)) + 0.001 * (day % 7)
        bands = [vv, 0.2 * vv]
    else:
        base = np.mod(np.floor(xx / 10) + 3 * np.floor(yy / 10), 3000) + 500 + day % 7
        bands = [base + 100 * k for k in range(count - 2)] + [np.full_like(xx, 6.0)]
    bands = [b * mask for b in bands[: count - 1]] + [mask]
    return np.stack(bands)


class FakeSentinelHub:
    """The fake service; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        client_id: str = "test-client",
        client_secret: str = "s3cr3t-Do-Not-Leak-7f3a9",
        items: list[dict] | None = None,
        max_px: int = 2500,
        nodata_x: float = -np.inf,
        run_evalscripts: bool = False,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.items = list(items or [])
        self.max_px = max_px
        self.nodata_x = nodata_x
        self.run_evalscripts = run_evalscripts
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.process_rule = None
        self.log: list[Logged] = []
        self.tokens: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> FakeSentinelHub:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSentinelHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    def requests(self, endpoint: str) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if r.endpoint == endpoint]

    def record(self, endpoint: str, status: int, body: Any) -> None:
        with self._lock:
            self.log.append(Logged(time.monotonic(), endpoint, status, body))

    def next_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(endpoint)
            return queue.pop(0) if queue else None

    # -- services ------------------------------------------------------------------
    def issue_token(self, form: dict[str, str]) -> tuple[int, dict]:
        if form.get("grant_type") != "client_credentials":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "client_credentials only",
            }
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return 401, {
                "error": "unauthorized_client",
                "error_description": "Invalid client or Invalid client credentials",
            }

        def b64(doc: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

        token = ".".join(
            [
                b64({"alg": "RS256"}),
                b64({"azp": self.client_id, "exp": int(time.time()) + 3600}),
                "sig",
            ]
        )
        with self._lock:
            self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def search(self, body: dict) -> tuple[int, dict]:
        collections = body.get("collections") or []
        start, end = (_parse_dt(t) for t in body["datetime"].split("/"))
        area = shape(body["intersects"]) if body.get("intersects") else box(*body["bbox"])
        found = [
            item
            for item in self.items
            if item["collection"] in collections
            and start <= _parse_dt(item["properties"]["datetime"]) <= end
            and shape(item["geometry"]).intersects(area)
            and _matches_filter(item["properties"], body.get("filter"))
        ]
        found.sort(key=lambda i: i["properties"]["datetime"])
        offset = int(body.get("next") or 0)
        limit = int(body.get("limit") or 100)
        page = found[offset : offset + limit]
        context: dict[str, Any] = {"limit": limit, "returned": len(page)}
        if offset + limit < len(found):
            context["next"] = offset + limit
        return 200, {"type": "FeatureCollection", "features": page, "context": context}

    def process(self, body: dict) -> tuple[int, dict | bytes]:
        bounds = body["input"]["bounds"]
        crs = bounds["properties"]["crs"].rsplit("/", 1)[-1]
        bbox = bounds["bbox"]
        output = body["output"]
        width, height = int(output["width"]), int(output["height"])
        if width > self.max_px or height > self.max_px:
            return 400, sh_error(
                400,
                "Bad Request",
                f"Your request of {width}x{height} pixels exceeds the limit of {self.max_px} pixels per axis.",
                "COMMON_BAD_PAYLOAD",
            )
        data = body["input"]["data"][0]
        count, sample_type = _setup_output(body["evalscript"])
        day = _parse_dt(data["dataFilter"]["timeRange"]["from"]).timetuple().tm_yday
        dtype = {"FLOAT32": "float32", "UINT16": "uint16", "UINT8": "uint8", "AUTO": "uint8"}[
            sample_type
        ]
        if self.run_evalscripts:
            script = body["evalscript"]
            rows = len(input_bands(script))
            synth = synth_pixels(data["type"], bbox, width, height, rows, day, self.nodata_x)
            samples = evalscript_samples(data["type"], script, synth)
            pixels = run_evalscript(script, samples, count)
        else:
            pixels = synth_pixels(data["type"], bbox, width, height, count, day, self.nodata_x)
        profile = {
            "driver": "GTiff",
            "width": width,
            "height": height,
            "count": count,
            "dtype": dtype,
            "crs": f"EPSG:{crs}",
            "transform": from_bounds(*bbox, width, height),
        }
        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.write(to_sample_type(pixels, dtype))
            return 200, mem.read()


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeSentinelHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, payload: dict | bytes | None, headers: dict | None = None) -> None:
        if isinstance(payload, bytes):
            body, ctype = payload, "image/tiff"
        else:
            body, ctype = json.dumps(payload or {}).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.server_fake.tokens

    def do_POST(self) -> None:
        fake = self.server_fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        endpoint = {TOKEN_PATH: "token", CATALOG_PATH: "catalog", PROCESS_PATH: "process"}.get(
            self.path
        )
        if endpoint is None:
            fake.record("unknown", 404, self.path)
            self._send(404, sh_error(404, "Not Found", f"no such path {self.path}", "NOT_FOUND"))
            return
        if endpoint == "token":
            body: Any = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            body = json.loads(raw or b"{}")
            if not self._authorised():
                fake.record(endpoint, 401, body)
                self._send(
                    401,
                    sh_error(
                        401, "Unauthorized", "Invalid or expired token", "COMMON_UNAUTHORIZED"
                    ),
                )
                return
        fault = fake.next_fault(endpoint)
        if fault is None and endpoint == "process" and fake.process_rule is not None:
            fault = fake.process_rule(body)
        if fault is not None and not fault.truncate:
            fake.record(endpoint, fault.status, body)
            if fault.delay_s:
                time.sleep(fault.delay_s)
            self._send(fault.status, fault.body, fault.headers)
            return
        handler = {"token": fake.issue_token, "catalog": fake.search, "process": fake.process}[
            endpoint
        ]
        status, payload = handler(body)
        if fault is not None and isinstance(payload, bytes):
            payload = payload[: len(payload) // 2]
        fake.record(endpoint, status, body)
        self._send(status, payload)


__all__ = [
    "SMALL_AOI",
    "FakeSentinelHub",
    "Fault",
    "rate_limited",
    "run_evalscript",
    "s1_item",
    "s2_item",
    "sh_error",
    "synth_pixels",
    "write_small_aoi",
]
