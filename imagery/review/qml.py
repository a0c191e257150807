"""Building blocks of QGIS style XML (QML), written without QGIS.

QGIS stores a layer's style as XML: a ``<qgis>`` root whose children (renderer,
labeling, field configuration, raster pipe ...) are the same ones a project file
holds inside each ``<maplayer>``. These helpers build the few elements portwatch
needs with :mod:`xml.etree.ElementTree`; QGIS fills every element left out with its
default. The element and property names follow what QGIS 3.22 writes itself
(``QgsVectorLayer.exportNamedStyle``), checked against a real QGIS in
``tests/test_review_qgis.py``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

__all__ = [
    "QGIS_VERSION",
    "centroid_marker_layer",
    "fill_symbol",
    "option_map",
    "sub",
    "to_qml",
]

#: The QGIS version our XML follows; QGIS only uses it to decide on migrations.
QGIS_VERSION = "3.22.0-Białowieża"

_EMPTY_UNIT_SCALE = "3x:0,0,0,0,0,0"


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: object) -> ET.Element:
    """Append a child ``tag`` with string attributes (and optional text) to ``parent``."""
    child = ET.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        child.text = text
    return child


def option_map(parent: ET.Element, values: Mapping[str, object], *, name: str | None = None):
    """Append ``<Option type="Map">`` holding ``values`` (str, bool, int, list or nested map)."""
    attrib = {"type": "Map"} if name is None else {"type": "Map", "name": name}
    node = sub(parent, "Option", **attrib)
    for key, value in values.items():
        _option(node, key, value)
    return node


def _option(parent: ET.Element, key: str | None, value: object) -> None:
    named = {} if key is None else {"name": key}
    if isinstance(value, Mapping):
        option_map(parent, value, name=key)
    elif isinstance(value, list):
        node = sub(parent, "Option", type="List", **named)
        for item in value:
            _option(node, None, item)
    elif isinstance(value, bool):
        sub(parent, "Option", type="bool", value="true" if value else "false", **named)
    elif isinstance(value, int):
        sub(parent, "Option", type="int", value=value, **named)
    else:
        sub(parent, "Option", type="QString", value=value, **named)


def data_defined(parent: ET.Element, expressions: Mapping[str, str], *, tag: str) -> None:
    """Append a property collection binding symbol properties to QGIS expressions.

    ``expressions`` maps a QGIS property key (``outlineWidth``, ``size``,
    ``fillColor`` ...) to an expression; type 3 is QGIS's "expression-based".
    """
    node = sub(parent, tag)
    props = {
        key: {"active": True, "expression": expr, "type": 3} for key, expr in expressions.items()
    }
    option_map(node, {"name": "", "properties": props, "type": "collection"})


def _symbol_layer(
    parent: ET.Element, cls: str, options: Mapping[str, str], dd: Mapping[str, str] | None
) -> ET.Element:
    layer = sub(parent, "layer", **{"class": cls, "enabled": 1, "locked": 0, "pass": 0})
    option_map(layer, options)
    data_defined(layer, dd or {}, tag="data_defined_properties")
    return layer


def fill_symbol(
    parent: ET.Element,
    name: str,
    *,
    fill: str,
    outline: str,
    outline_width_mm: float = 0.4,
    outline_style: str = "solid",
    outline_width_expr: str | None = None,
) -> ET.Element:
    """Append a fill ``<symbol>`` with one SimpleFill layer; colours as ``"r,g,b,a"``."""
    symbol = sub(parent, "symbol", type="fill", name=name, alpha=1, clip_to_extent=1, force_rhr=0)
    data_defined(symbol, {}, tag="data_defined_properties")
    options = {
        "border_width_map_unit_scale": _EMPTY_UNIT_SCALE,
        "color": fill,
        "joinstyle": "miter",
        "offset": "0,0",
        "offset_unit": "MM",
        "outline_color": outline,
        "outline_style": outline_style,
        "outline_width": f"{outline_width_mm:g}",
        "outline_width_unit": "MM",
        "style": "solid" if not fill.endswith(",0") else "no",
    }
    dd = {"outlineWidth": outline_width_expr} if outline_width_expr else None
    _symbol_layer(symbol, "SimpleFill", options, dd)
    return symbol


def centroid_marker_layer(
    symbol: ET.Element,
    *,
    shape: str,
    colour: str,
    size_mm: float,
    size_expr: str | None = None,
    outline_width_mm: float = 0.5,
) -> ET.Element:
    """Append to a fill ``symbol`` a hollow marker drawn at each polygon's centroid.

    The marker keeps a flag visible when zoomed out, where a 10-pixel ship polygon
    would vanish; ``size_expr`` scales it per feature (e.g. by ``score``).
    """
    layer = _symbol_layer(
        symbol,
        "CentroidFill",
        {"point_on_all_parts": "0", "point_on_surface": "0", "clip_points": "0"},
        None,
    )
    marker = sub(
        layer,
        "symbol",
        type="marker",
        name=f"@{symbol.get('name')}@1",
        alpha=1,
        clip_to_extent=1,
        force_rhr=0,
    )
    data_defined(marker, {}, tag="data_defined_properties")
    options = {
        "angle": "0",
        "color": "0,0,0,0",
        "horizontal_anchor_point": "1",
        "joinstyle": "miter",
        "name": shape,
        "offset": "0,0",
        "offset_unit": "MM",
        "outline_color": colour,
        "outline_style": "solid",
        "outline_width": f"{outline_width_mm:g}",
        "outline_width_unit": "MM",
        "scale_method": "diameter",
        "size": f"{size_mm:g}",
        "size_unit": "MM",
        "vertical_anchor_point": "1",
    }
    _symbol_layer(marker, "SimpleMarker", options, {"size": size_expr} if size_expr else None)
    return layer


def value_map(values: Sequence[str]) -> dict:
    """Config of QGIS's "Value Map" edit widget offering ``values`` (stored as shown)."""
    return {"map": [{v: v} for v in values]}


def to_qml(root: ET.Element) -> str:
    """Serialise a ``<qgis>`` style root as a ``.qml`` document."""
    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"
