"""``report.html``: one self-contained page per run, readable offline.

Every image (the map thumbnail and the chips) is embedded as a base64 ``data:`` URI
and the CSS is inline, so the file can be mailed or opened on an air-gapped machine.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from PIL import Image

from imagery.atomic import atomic_write_text

__all__ = ["png_data_uri", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
.meta{color:#555}.map{max-width:100%;border:1px solid #999}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 6px;
vertical-align:middle;text-align:left}th{background:#eee}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.chip{width:160px;height:160px;image-rendering:pixelated}
.status-confirmed{background:#e3f4e3}.status-dismissed{color:#888}
.vessel{color:#d95f02;font-weight:600}.cargo{color:#1b9e77;font-weight:600}
pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:.85em}
footer{margin-top:2em;color:#666;font-size:.85em}
"""


def png_data_uri(image: Image.Image | bytes | os.PathLike | str) -> str:
    """A ``data:image/png;base64,...`` URI of a PIL image, PNG bytes or a PNG file."""
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        payload = buffer.getvalue()
    elif isinstance(image, bytes):
        payload = image
    else:
        payload = Path(image).read_bytes()
    return "data:image/png;base64," + base64.b64encode(payload).decode("ascii")


def _fmt(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{float(value):.{digits}f}"


def _flag_rows(flags: pd.DataFrame, chips: Mapping[int, Sequence[Path]]) -> list[str]:
    rows = []
    for flag in flags.itertuples(index=False):
        images = "".join(
            f'<img class="chip" alt="{html.escape(Path(p).stem)}" src="{png_data_uri(p)}">'
            for p in chips.get(int(flag.id), ())
        )
        status = html.escape(str(flag.status))
        note = html.escape(str(getattr(flag, "note", "") or ""))
        seen = getattr(flag, "seen_in_last_run", True)
        rows.append(
            f'<tr class="status-{status}"><td class="num">{int(flag.id)}</td>'
            f'<td class="{html.escape(str(flag.kind))}">{html.escape(str(flag.kind))}</td>'
            f'<td class="num">{_fmt(flag.score, 2)}</td><td class="num">{_fmt(flag.length_m, 0)}</td>'
            f'<td class="num">{_fmt(flag.lon, 5)}</td><td class="num">{_fmt(flag.lat, 5)}</td>'
            f"<td>{status}{'' if seen else ' (not seen in this run)'}</td><td>{note}</td>"
            f"<td>{images}</td></tr>"
        )
    return rows


def _table(flags: pd.DataFrame, chips: Mapping[int, Sequence[Path]], empty: str) -> str:
    if flags.empty:
        return f"<p>{html.escape(empty)}</p>"
    head = (
        "<tr><th>id</th><th>kind</th><th>score</th><th>length (m)</th><th>lon</th><th>lat</th>"
        "<th>status</th><th>note</th><th>before / after</th></tr>"
    )
    return "<table>" + head + "".join(_flag_rows(flags, chips)) + "</table>"


def write_report(
    path: str | os.PathLike,
    *,
    title: str,
    facts: Sequence[tuple[str, str]],
    overview: Image.Image,
    detections: pd.DataFrame,
    departed: pd.DataFrame,
    chips: Mapping[int, Sequence[Path]],
    departed_chips: Mapping[int, Sequence[Path]],
    parameters: Mapping,
    attribution: str,
    version: str,
) -> Path:
    """Write the run's HTML report (atomically).

    Parameters
    ----------
    path : path-like
        ``report.html``.
    title : str
        Page title (AOI and dates).
    facts : sequence of (label, value)
        Shown under the title: AOI, sensor, dates, counts.
    overview : PIL.Image
        Map thumbnail (the after scene with the flags drawn).
    detections, departed : DataFrame
        Flags with ``id kind score length_m lon lat status`` (and ``note``).
    chips, departed_chips : mapping of id -> PNG paths
        Chips to embed beside each flag.
    parameters : mapping
        JSON-safe run parameters, shown verbatim.
    attribution, version : str
    """
    fact_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
    )
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<table class="meta">{fact_rows}</table>
<h2>Map</h2>
<p class="meta">After scene; vessels orange, cargo teal, departed vessels purple, AOI yellow.</p>
<img class="map" alt="map of the after scene with the flags" src="{png_data_uri(overview)}">
<h2>New since the before scene ({len(detections)})</h2>
{_table(detections, chips, "No new vessel or cargo flagged.")}
<h2>Departed ({len(departed)})</h2>
{_table(departed, departed_chips, "No vessel flagged as departed.")}
<h2>Parameters</h2>
<pre>{html.escape(json.dumps(parameters, indent=2, sort_keys=True, default=str))}</pre>
<p class="meta">At 10 m a container is smaller than a pixel: flags are ships and stack-scale
change, to be confirmed by an analyst.</p>
<footer>portwatch {html.escape(version)}. {html.escape(attribution)}.</footer>
</body></html>
"""
    return atomic_write_text(path, body)
