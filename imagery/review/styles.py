"""The styles of a review package: QML for each layer, and GeoPackage ``layer_styles``.

Vector styles go into the GeoPackage's ``layer_styles`` table, marked as the default
style, so QGIS applies them whenever the layer is loaded, with or without our
project. GeoTIFFs cannot hold a style; their QML is written as a sidecar
``<name>.qml`` beside each file, which QGIS also applies as the default style, and
is embedded in ``project.qgs``.

Colours are ColorBrewer "Dark2" (colour-blind safe): vessels orange, cargo teal,
departed vessels purple, dismissed flags grey.
"""

from __future__ import annotations

import os
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from imagery.errors import ReviewError
from imagery.review.qml import (
    QGIS_VERSION,
    centroid_marker_layer,
    fill_symbol,
    option_map,
    sub,
    to_qml,
    value_map,
)
from imagery.schema import STATUSES

__all__ = [
    "COLOURS",
    "aoi_style",
    "change_style",
    "flag_style",
    "footprint_style",
    "gray_style",
    "history_style",
    "rgb_style",
    "to_qml",
    "write_layer_styles",
]

COLOURS = {
    "vessel": "217,95,2",
    "cargo": "27,158,119",
    "departed": "117,112,179",
    "dismissed": "150,150,150",
    "aoi": "255,221,0",
}

#: Outline width (mm) and marker size (mm) grow with the detector's score.
_WIDTH_BY_SCORE = '0.3 + 1.2 * coalesce("score", 0)'
_SIZE_BY_SCORE = '3 + 5 * coalesce("score", 0)'
#: Attribute-form widget showing a chip: an image viewer on a path relative to the project.
_CHIP_VIEWER = {
    "DocumentViewer": 1,
    "DocumentViewerHeight": 192,
    "DocumentViewerWidth": 192,
    "FileWidget": True,
    "FileWidgetButton": False,
    "FullUrl": False,
    "RelativeStorage": 1,
    "StorageMode": 0,
    "UseLink": False,
}
_NOT_DISMISSED = "coalesce(\"status\", 'new') <> 'dismissed'"


def _root(**attrib: object) -> ET.Element:
    base = {"version": QGIS_VERSION, "styleCategories": "AllStyleCategories"}
    base.update({k: str(v) for k, v in attrib.items()})
    return ET.Element("qgis", base)


def _rule_renderer(root: ET.Element, rules: Sequence[tuple[str, str, ET.Element]]) -> None:
    renderer = sub(root, "renderer-v2", type="RuleRenderer", symbollevels=0, forceraster=0)
    rules_node = sub(renderer, "rules", key="{portwatch-root}")
    symbols = sub(renderer, "symbols")
    for i, (label, filter_expr, symbol) in enumerate(rules):
        sub(rules_node, "rule", key=f"{{portwatch-{i}}}", label=label, filter=filter_expr, symbol=i)
        symbol.set("name", str(i))
        symbols.append(symbol)


def _symbol(name: str, **kwargs) -> ET.Element:
    holder = ET.Element("holder")
    return fill_symbol(holder, name, **kwargs)


def _flag_symbol(colour: str, *, shape: str, dashed: bool = False, fill_alpha: int = 70):
    symbol = _symbol(
        "0",
        fill=f"{colour},{fill_alpha}",
        outline=f"{colour},255",
        outline_style="dash" if dashed else "solid",
        outline_width_expr=_WIDTH_BY_SCORE,
    )
    centroid_marker_layer(
        symbol, shape=shape, colour=f"{colour},255", size_mm=4, size_expr=_SIZE_BY_SCORE
    )
    return symbol


def _labels(root: ET.Element, expression: str, colour: str = "20,20,20,255") -> None:
    labeling = sub(root, "labeling", type="simple")
    settings = sub(labeling, "settings", calloutType="simple")
    style = sub(
        settings,
        "text-style",
        fieldName=expression,
        isExpression=1,
        fontSize=9,
        fontSizeUnit="Point",
        textColor=colour,
        textOpacity=1,
        fontWeight=50,
        namedStyle="Regular",
    )
    sub(
        style,
        "text-buffer",
        bufferDraw=1,
        bufferSize=0.8,
        bufferSizeUnits="MM",
        bufferColor="255,255,255,255",
        bufferOpacity=0.85,
        bufferNoFill=1,
        bufferJoinStyle=128,
    )
    sub(settings, "text-format", wrapChar="", multilineAlign=3, plussign=0)
    # placement 0 is "around centroid" for polygons: beside the flag, not over it
    sub(settings, "placement", placement=0, dist=1.5, distUnits="MM", priority=5)
    sub(settings, "rendering", obstacle=1, drawLabels=1, upsidedownLabels=0, scaleVisibility=0)


def _form(
    root: ET.Element,
    fields: Sequence[str],
    *,
    editable: Sequence[str] = (),
    widgets: Mapping[str, tuple[str, dict]] | None = None,
    defaults: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Field widgets, aliases, defaults and read-only flags of the attribute form."""
    widgets = widgets or {}
    config = sub(root, "fieldConfiguration")
    for name in fields:
        field = sub(config, "field", name=name, configurationFlags="None")
        kind, options = widgets.get(name, ("", {}))
        widget = sub(field, "editWidget", type=kind)
        holder = sub(widget, "config")
        if options:
            option_map(holder, options)
        else:
            sub(holder, "Option")
    alias_node = sub(root, "aliases")
    for i, name in enumerate(fields):
        sub(alias_node, "alias", index=i, field=name, name=(aliases or {}).get(name, ""))
    default_node = sub(root, "defaults")
    for name, expr in (defaults or {}).items():
        sub(default_node, "default", field=name, expression=expr, applyOnUpdate=0)
    sub(root, "editform", tolerant=1)
    sub(root, "editorlayout", "generatedlayout")
    edit_node = sub(root, "editable")
    for name in fields:
        sub(edit_node, "field", name=name, editable=1 if name in editable else 0)


def flag_style(fields: Sequence[str], *, departed: bool = False) -> ET.Element:
    """Style of the ``detections`` (or ``departed``) layer.

    Rule-based: dismissed flags grey; otherwise vessels and cargo in their colours
    (departed vessels purple and dashed). Outline width and a centroid ring grow with
    ``score``. Labels read "vessel 180 m". ``status`` has a value-map widget
    (new/confirmed/dismissed), ``note`` a multi-line text box, the chip paths show
    the chips; other fields are read-only in the form since a rerun overwrites them.
    """
    root = _root(labelsEnabled=1, readOnly=0, hasScaleBasedVisibilityFlag=0)
    grey = _symbol(
        "0",
        fill=f"{COLOURS['dismissed']},40",
        outline=f"{COLOURS['dismissed']},255",
        outline_width_mm=0.3,
        outline_style="dot",
    )
    dismissed = ("dismissed", "\"status\" = 'dismissed'", grey)
    if departed:
        rules = [
            (
                "departed vessel",
                f"\"kind\" = 'vessel' AND {_NOT_DISMISSED}",
                _flag_symbol(COLOURS["departed"], shape="cross2", dashed=True, fill_alpha=0),
            ),
            (
                "departed cargo",
                f"\"kind\" = 'cargo' AND {_NOT_DISMISSED}",
                _flag_symbol(COLOURS["cargo"], shape="cross2", dashed=True, fill_alpha=0),
            ),
            dismissed,
        ]
        label = "'gone: ' || \"kind\" || ' ' || coalesce(round(\"length_m\"), '?') || ' m'"
    else:
        rules = [
            (
                "vessel",
                f"\"kind\" = 'vessel' AND {_NOT_DISMISSED}",
                _flag_symbol(COLOURS["vessel"], shape="circle"),
            ),
            (
                "cargo",
                f"\"kind\" = 'cargo' AND {_NOT_DISMISSED}",
                _flag_symbol(COLOURS["cargo"], shape="square"),
            ),
            dismissed,
        ]
        label = "\"kind\" || ' ' || coalesce(round(\"length_m\"), '?') || ' m'"
    _rule_renderer(root, rules)
    _labels(root, label)
    _form(
        root,
        fields,
        editable=("status", "note"),
        widgets={
            "status": ("ValueMap", value_map(STATUSES)),
            "note": ("TextEdit", {"IsMultiline": True, "UseHtml": False}),
            "chip_before": ("ExternalResource", _CHIP_VIEWER),
            "chip_after": ("ExternalResource", _CHIP_VIEWER),
        },
        defaults={"status": "'new'"},
        aliases={
            "status": "review status",
            "note": "analyst note",
            "chip_before": "before",
            "chip_after": "after",
        },
    )
    sub(root, "previewExpression", "\"kind\" || ' #' || \"id\" || ' (' || \"status\" || ')'")
    sub(root, "layerGeometryType", "2")
    return root


def history_style(fields: Sequence[str]) -> ET.Element:
    """Style of ``history.gpkg``: flags by kind, labelled with first and last sighting."""
    root = _root(labelsEnabled=1, readOnly=0)
    rules = [
        ("vessel", "\"kind\" = 'vessel'", _flag_symbol(COLOURS["vessel"], shape="circle")),
        ("cargo", "\"kind\" = 'cargo'", _flag_symbol(COLOURS["cargo"], shape="square")),
    ]
    _rule_renderer(root, rules)
    _labels(
        root,
        '"kind" || \' \' || "first_seen" || \' to \' || "last_seen"'
        " || if(\"departed_seen\" IS NOT NULL, ' (gone ' || \"departed_seen\" || ')', '')",
    )
    _form(root, fields)
    sub(root, "layerGeometryType", "2")
    return root


def aoi_style(fields: Sequence[str] = ()) -> ET.Element:
    """The AOI (or scene footprint): a yellow dashed outline, no fill."""
    root = _root(labelsEnabled=0, readOnly=0)
    renderer = sub(root, "renderer-v2", type="singleSymbol", symbollevels=0, forceraster=0)
    symbols = sub(renderer, "symbols")
    symbols.append(
        _symbol(
            "0",
            fill="0,0,0,0",
            outline=f"{COLOURS['aoi']},255",
            outline_width_mm=0.6,
            outline_style="dash",
        )
    )
    _form(root, fields)
    sub(root, "layerGeometryType", "2")
    return root


def footprint_style(fields: Sequence[str] = ()) -> ET.Element:
    """Valid-data footprints: before dotted grey, after dashed white, no fill."""
    root = _root(labelsEnabled=0, readOnly=0)
    rules = [
        (
            "before footprint",
            "\"role\" = 'before'",
            _symbol("0", fill="0,0,0,0", outline="190,190,190,255", outline_style="dot"),
        ),
        (
            "after footprint",
            "\"role\" = 'after'",
            _symbol("1", fill="0,0,0,0", outline="255,255,255,255", outline_style="dash"),
        ),
    ]
    _rule_renderer(root, rules)
    _form(root, fields)
    sub(root, "layerGeometryType", "2")
    return root


# -- rasters ------------------------------------------------------------------------


def _raster_root() -> tuple[ET.Element, ET.Element]:
    root = _root(hasScaleBasedVisibilityFlag=0, minScale="1e+08", maxScale=0)
    pipe = sub(root, "pipe")
    provider = sub(pipe, "provider")
    # Nearest neighbour when zoomed in: the analyst wants to see the real pixels.
    sub(
        provider,
        "resampling",
        enabled="true",
        zoomedInResamplingMethod="nearestNeighbour",
        zoomedOutResamplingMethod="average",
        maxOversampling=2,
    )
    return root, pipe


def _finish_raster(root: ET.Element, pipe: ET.Element) -> ET.Element:
    sub(pipe, "brightnesscontrast", gamma=1, brightness=0, contrast=0)
    sub(pipe, "huesaturation", saturation=0, grayscaleMode=0, colorizeOn=0, invertColors=0)
    sub(pipe, "rasterresampler", maxOversampling=2)
    sub(pipe, "resamplingStage", "provider")
    sub(root, "blendMode", "0")
    return root


def _min_max_origin(parent: ET.Element) -> None:
    origin = sub(parent, "minMaxOrigin")
    sub(origin, "limits", "None")
    sub(origin, "extent", "WholeRaster")
    sub(origin, "statAccuracy", "Estimated")


def _enhancement(parent: ET.Element, tag: str, vmin: float, vmax: float) -> None:
    node = sub(parent, tag)
    sub(node, "minValue", f"{vmin:g}")
    sub(node, "maxValue", f"{vmax:g}")
    sub(node, "algorithm", "StretchToMinimumMaximum")


def gray_style(*, band: int = 1, vmin: float, vmax: float) -> ET.Element:
    """Single-band grey, stretched linearly from ``vmin`` (black) to ``vmax`` (white)."""
    root, pipe = _raster_root()
    renderer = sub(
        pipe,
        "rasterrenderer",
        type="singlebandgray",
        grayBand=band,
        gradient="BlackToWhite",
        opacity=1,
        alphaBand=-1,
        nodataColor="",
    )
    _min_max_origin(renderer)
    _enhancement(renderer, "contrastEnhancement", vmin, vmax)
    return _finish_raster(root, pipe)


def rgb_style(*, bands: tuple[int, int, int] = (1, 2, 3), vmin: float, vmax: float) -> ET.Element:
    """Three-band colour composite, each band stretched from ``vmin`` to ``vmax``."""
    root, pipe = _raster_root()
    red, green, blue = bands
    renderer = sub(
        pipe,
        "rasterrenderer",
        type="multibandcolor",
        redBand=red,
        greenBand=green,
        blueBand=blue,
        opacity=1,
        alphaBand=-1,
        nodataColor="",
    )
    _min_max_origin(renderer)
    for tag in ("redContrastEnhancement", "greenContrastEnhancement", "blueContrastEnhancement"):
        _enhancement(renderer, tag, vmin, vmax)
    return _finish_raster(root, pipe)


def change_ramp(*, clear: float, max_abs: float) -> list[tuple[float, str, int, str]]:
    """Stops ``(value, "#rrggbb", alpha, label)`` of the diverging change ramp.

    Blue for a decrease, red for an increase, fully transparent for ``|change|``
    below ``clear`` so unchanged ground shows the scene below, saturated at
    ``max_abs`` (ColorBrewer RdBu).
    """
    m, c = float(max_abs), float(clear)
    mid = 0.5 * (m + c)
    return [
        (-m, "#2166ac", 255, f"{-m:.3g} (decrease)"),
        (-mid, "#67a9cf", 220, f"{-mid:.3g}"),
        (-c, "#d1e5f0", 0, f"{-c:.3g}"),
        (0.0, "#f7f7f7", 0, "0 (no change)"),
        (c, "#fddbc7", 0, f"{c:.3g}"),
        (mid, "#ef8a62", 220, f"{mid:.3g}"),
        (m, "#b2182b", 255, f"{m:.3g} (increase)"),
    ]


def change_style(*, clear: float, max_abs: float, unit: str = "", band: int = 1) -> ET.Element:
    """Band ``band`` of the change raster on a diverging ramp, transparent near 0.

    Parameters
    ----------
    clear, max_abs : float
        Transparent below ``clear`` (absolute change), saturated at ``max_abs``.
    unit : str
        Shown after the numbers in the legend (``"dB"``).
    """
    root, pipe = _raster_root()
    renderer = sub(
        pipe,
        "rasterrenderer",
        type="singlebandpseudocolor",
        band=band,
        opacity="0.85",
        alphaBand=-1,
        nodataColor="",
        classificationMin=f"{-max_abs:g}",
        classificationMax=f"{max_abs:g}",
    )
    _min_max_origin(renderer)
    shader = sub(renderer, "rastershader")
    ramp = sub(
        shader,
        "colorrampshader",
        colorRampType="INTERPOLATED",
        classificationMode=1,
        clip=0,
        minimumValue=f"{-max_abs:g}",
        maximumValue=f"{max_abs:g}",
        labelPrecision=2,
    )
    for value, colour, alpha, label in change_ramp(clear=clear, max_abs=max_abs):
        sub(ramp, "item", value=f"{value:g}", color=colour, alpha=alpha, label=label)
    legend = sub(
        ramp,
        "rampLegendSettings",
        minimumLabel="",
        maximumLabel="",
        prefix="",
        suffix=f" {unit}" if unit else "",
        direction=0,
        orientation=2,
        useContinuousLegend=1,
    )
    fmt = sub(legend, "numericFormat", id="basic")
    option_map(
        fmt,
        {
            "decimals": 1,
            "rounding_type": 0,
            "show_plus": True,
            "show_thousand_separator": False,
            "show_trailing_zeros": False,
        },
    )
    return _finish_raster(root, pipe)


# -- GeoPackage layer_styles -----------------------------------------------------------

# The table exactly as QGIS 3.22 creates it (through OGR) when saving a style to a
# GeoPackage, with OGR's feature-count triggers.
_LAYER_STYLES_DDL = (
    'CREATE TABLE IF NOT EXISTS "layer_styles" ( "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
    '"f_table_catalog" TEXT(256), "f_table_schema" TEXT(256), "f_table_name" TEXT(256), '
    '"f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, "styleSLD" TEXT, '
    '"useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), "ui" TEXT(30), '
    "\"update_time\" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
)
_COUNT_TRIGGERS = (
    'CREATE TRIGGER IF NOT EXISTS "trigger_insert_feature_count_layer_styles" AFTER INSERT ON '
    '"layer_styles" BEGIN UPDATE gpkg_ogr_contents SET feature_count = feature_count + 1 '
    "WHERE lower(table_name) = lower('layer_styles'); END",
    'CREATE TRIGGER IF NOT EXISTS "trigger_delete_feature_count_layer_styles" AFTER DELETE ON '
    '"layer_styles" BEGIN UPDATE gpkg_ogr_contents SET feature_count = feature_count - 1 '
    "WHERE lower(table_name) = lower('layer_styles'); END",
)


def write_layer_styles(
    gpkg: str | os.PathLike,
    styles: Mapping[str, str],
    *,
    style_name: str = "portwatch",
    description: str = "portwatch review style",
    geometry_column: str = "geom",
) -> None:
    """Store QML ``styles`` (layer name -> QML text) as each layer's default style.

    Creates ``layer_styles`` the way QGIS does (registered in ``gpkg_contents`` as an
    attributes table, counted in ``gpkg_ogr_contents``), clears the default flag of
    older styles of the same layers, and inserts ours with ``useAsDefault = 1``.
    """
    path = Path(gpkg)
    try:
        con = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise ReviewError(f"{path}: cannot open GeoPackage to store styles ({exc})") from exc
    try:
        with con:
            con.execute(_LAYER_STYLES_DDL)
            has_ogr_contents = con.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'gpkg_ogr_contents'"
            ).fetchone()
            if has_ogr_contents:
                for trigger in _COUNT_TRIGGERS:
                    con.execute(trigger)
                con.execute(
                    "INSERT OR IGNORE INTO gpkg_ogr_contents (table_name, feature_count) "
                    "VALUES ('layer_styles', (SELECT count(*) FROM layer_styles))"
                )
            con.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                "description, last_change, srs_id) VALUES ('layer_styles', 'attributes', "
                "'layer_styles', '', strftime('%Y-%m-%dT%H:%M:%fZ','now'), 0)"
            )
            for table, qml in styles.items():
                con.execute(
                    "UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_name = ?", (table,)
                )
                con.execute(
                    "DELETE FROM layer_styles WHERE f_table_name = ? AND styleName = ?",
                    (table, style_name),
                )
                con.execute(
                    "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                    "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, "
                    "description, owner) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '')",
                    (table, geometry_column, style_name, qml, description),
                )
    except sqlite3.Error as exc:
        raise ReviewError(f"{path}: cannot store layer styles ({exc})") from exc
    finally:
        con.close()
