"""``project.qgs``: a QGIS project that opens ready to review, written as plain XML.

No QGIS is needed to write it (the machine that runs portwatch may have none). The
project holds:

* the run folder's layers by relative path (``./detections.gpkg|layername=detections``,
  ``./after.tif``), each with its style embedded, in groups from top to bottom:
  flags (detections, departed), change, after, before (hidden: toggle "after" to
  blink between the scenes), AOI (aoi, footprints);
* the scene's CRS as project CRS and the AOI's bounds as the map extent;
* a print layout "portwatch brief" on one A4 landscape page: map with scale bar,
  legend, a table of the flags, the AOI name and dates, and the Copernicus
  attribution.

The XML follows what QGIS 3.22 writes; elements left out take QGIS's defaults.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from pyproj import CRS as ProjCRS

from imagery.atomic import atomic_write_text
from imagery.review.qml import QGIS_VERSION, sub

__all__ = ["LAYOUT_NAME", "ProjectLayer", "spatialrefsys", "write_project"]

LAYOUT_NAME = "portwatch brief"

# QgsLayoutItemRegistry type ids.
_PAGE, _MAP, _LABEL, _LEGEND, _SCALEBAR, _FRAME, _TABLE = (
    65638,
    65639,
    65641,
    65642,
    65646,
    65647,
    65649,
)


@dataclasses.dataclass(frozen=True)
class ProjectLayer:
    """One layer of the project.

    Attributes
    ----------
    name : str
        Name in the layers panel (also the layer id's stem).
    source : str
        Data source relative to the project (``./after.tif``).
    provider : {"ogr", "gdal"}
    style : Element
        The ``<qgis>`` root of the layer's QML (children are embedded).
    group : str
        Layer-tree group.
    extent : (xmin, ymin, xmax, ymax)
        In the project CRS.
    visible : bool
    wkb_type : {"Polygon", "MultiPolygon"}
        A vector layer's geometry type as its GeoPackage declares it.
    """

    name: str
    source: str
    provider: str
    style: ET.Element
    group: str
    extent: tuple[float, float, float, float]
    visible: bool = True
    wkb_type: str = "Polygon"

    @property
    def id(self) -> str:
        return f"{self.name}_portwatch"

    @property
    def is_vector(self) -> bool:
        return self.provider == "ogr"


def spatialrefsys(parent: ET.Element, crs) -> ET.Element:
    """Append a QGIS ``<spatialrefsys>`` describing ``crs`` (anything pyproj accepts)."""
    pcrs = ProjCRS.from_user_input(crs)
    node = sub(parent, "spatialrefsys")
    sub(node, "wkt", pcrs.to_wkt())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "PROJ string may lose information"
        proj4 = pcrs.to_proj4() or ""
    sub(node, "proj4", proj4)
    epsg = pcrs.to_epsg()
    sub(node, "srid", str(epsg or 0))
    sub(node, "authid", f"EPSG:{epsg}" if epsg else "")
    sub(node, "description", pcrs.name)
    sub(node, "projectionacronym", "utm" if "UTM" in pcrs.name else "")
    sub(node, "ellipsoidacronym", "")
    sub(node, "geographicflag", "true" if pcrs.is_geographic else "false")
    return node


def _extent(parent: ET.Element, tag: str, bounds: Sequence[float]) -> ET.Element:
    node = sub(parent, tag)
    for key, value in zip(("xmin", "ymin", "xmax", "ymax"), bounds, strict=True):
        sub(node, key, repr(float(value)))
    return node


def _custom(parent: ET.Element) -> None:
    sub(sub(parent, "customproperties"), "Option")


def _layer_tree(root: ET.Element, layers: Sequence[ProjectLayer], groups: Sequence[str]) -> None:
    tree = sub(root, "layer-tree-group")
    _custom(tree)
    for group in groups:
        members = [layer for layer in layers if layer.group == group]
        if not members:
            continue
        visible = any(layer.visible for layer in members)
        node = sub(
            tree,
            "layer-tree-group",
            name=group,
            checked="Qt::Checked" if visible else "Qt::Unchecked",
            expanded="1",
        )
        _custom(node)
        for layer in members:
            leaf = sub(
                node,
                "layer-tree-layer",
                id=layer.id,
                name=layer.name,
                source=layer.source,
                providerKey=layer.provider,
                checked="Qt::Checked" if layer.visible else "Qt::Unchecked",
                expanded="1" if layer.is_vector else "0",
            )
            _custom(leaf)
    order = sub(tree, "custom-order", enabled="0")
    for layer in layers:
        sub(order, "item", layer.id)


def _maplayer(parent: ET.Element, layer: ProjectLayer, crs) -> None:
    style = layer.style
    attrib = {k: v for k, v in style.attrib.items() if k not in ("version", "styleCategories")}
    if layer.is_vector:
        attrib.update(type="vector", geometry="Polygon", wkbType=layer.wkb_type)
    else:
        attrib.update(type="raster")
    node = sub(parent, "maplayer", **attrib)
    _extent(node, "extent", layer.extent)
    sub(node, "id", layer.id)
    sub(node, "datasource", layer.source)
    sub(node, "layername", layer.name)
    spatialrefsys(sub(node, "srs"), crs)
    if layer.is_vector:
        sub(node, "provider", layer.provider, encoding="UTF-8")
    else:
        sub(node, "provider", layer.provider)
    manager = sub(node, "map-layer-style-manager", current="default")
    sub(manager, "map-layer-style", name="default")
    for child in style:
        node.append(child)


def _uuid(*parts: str) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "portwatch:" + ":".join(parts))) + "}"


def _item(parent, kind: int, key: str, *, x: float, y: float, w: float, h: float, **attrib):
    ident = _uuid("layout", key)
    base = {
        "type": kind,
        "uuid": ident,
        "templateUuid": ident,
        "id": key,
        "position": f"{x:g},{y:g},mm",
        "positionOnPage": f"{x:g},{y:g},mm",
        "size": f"{w:g},{h:g},mm",
        "referencePoint": 0,
        "zValue": 1,
        "visibility": 1,
        "opacity": 1,
        "frame": "false",
        "background": "false",
        "outlineWidthM": "0.3,mm",
        "positionLock": "false",
        "itemRotation": 0,
        "blendMode": 0,
        "excludeFromExports": 0,
    }
    base.update(attrib)
    node = sub(parent, "LayoutItem", **base)
    sub(node, "FrameColor", red=0, green=0, blue=0, alpha=255)
    sub(node, "BackgroundColor", red=255, green=255, blue=255, alpha=255)
    return node


def _label(parent, key: str, text: str, *, x, y, w, h, size_pt: int, bold: bool = False):
    node = _item(
        parent,
        _LABEL,
        key,
        x=x,
        y=y,
        w=w,
        h=h,
        labelText=text,
        htmlState=0,
        marginX=0,
        marginY=0,
        halign=1,
        valign=32,
    )
    weight = 75 if bold else 50
    sub(node, "LabelFont", description=f"Sans Serif,{size_pt},-1,5,{weight},0,0,0,0,0", style="")
    sub(node, "FontColor", red=0, green=0, blue=0, alpha=255)
    return node


def _layout(
    root: ET.Element,
    *,
    title: str,
    subtitle: str,
    attribution: str,
    footer: str,
    extent: Sequence[float],
    table_layer: ProjectLayer | None,
    table_columns: Sequence[tuple[str, str]],
    scale_segment_m: float,
    legend_layers: Sequence[ProjectLayer],
) -> None:
    layouts = sub(root, "Layouts")
    layout = sub(layouts, "Layout", name=LAYOUT_NAME, units="mm", printResolution=300)
    pages = sub(layout, "PageCollection")
    _item(pages, _PAGE, "page", x=0, y=0, w=297, h=210, background="true", zValue=0)
    sub(pages, "GuideCollection", visible="1")
    _label(layout, "title", title, x=10, y=6, w=277, h=9, size_pt=16, bold=True)
    _label(layout, "dates", subtitle, x=10, y=15, w=277, h=6, size_pt=10)
    map_id = _uuid("layout", "map")
    xmin, ymin, xmax, ymax = extent
    map_item = _item(
        layout,
        _MAP,
        "map",
        x=10,
        y=23,
        w=190,
        h=165,
        frame="true",
        background="true",
        keepLayerSet="false",
        drawCanvasItems="true",
        mapRotation=0,
        followPreset="false",
        followPresetName="",
        labelMargin="0,mm",
        mapFlags=0,
        isTemporal=0,
    )
    sub(map_item, "Extent", xmin=repr(xmin), ymin=repr(ymin), xmax=repr(xmax), ymax=repr(ymax))
    sub(map_item, "LayerSet")
    sub(map_item, "AtlasMap", atlasDriven=0, scalingMode=2, margin="0.1")
    bar = _item(
        layout,
        _SCALEBAR,
        "scalebar",
        x=12,
        y=178,
        w=60,
        h=8,
        background="true",
        zValue=2,
        mapUuid=map_id,
        style="Single Box",
        unitType="meters",
        unitLabel="m",
        numSegments=2,
        numSegmentsLeft=0,
        numUnitsPerSegment=f"{scale_segment_m:g}",
        numMapUnitsPerScaleBarUnit=1,
        segmentSizeMode=0,
        height=2,
        labelBarSpace=2,
        boxContentSpace=1,
        alignment=0,
    )
    sub(bar, "fillColor", red=0, green=0, blue=0, alpha=255)
    sub(bar, "fillColor2", red=255, green=255, blue=255, alpha=255)
    sub(
        bar,
        "text-style",
        fontFamily="Sans Serif",
        fontSize=8,
        fontSizeUnit="Point",
        textColor="0,0,0,255",
        textOpacity=1,
        fontWeight=50,
    )
    legend = _item(
        layout,
        _LEGEND,
        "legend",
        x=205,
        y=23,
        w=82,
        h=62,
        frame="true",
        background="true",
        zValue=2,
        title="Legend",
        map_uuid=map_id,
        resizeToContents=0,
        columnCount=1,
        symbolWidth=5,
        symbolHeight=3.5,
        boxSpace=2,
        legendFilterByAtlas=0,
        titleAlignment=1,
        symbolAlignment=1,
        rasterBorder=0,
        wrapChar="",
        lineSpacing=0.5,
    )
    styles = sub(legend, "styles")
    for name, size, bold, margin in (
        ("title", 10, True, "marginBottom"),
        ("group", 8, True, "marginTop"),
        ("subgroup", 7, True, "marginTop"),
        ("symbol", 7, False, "marginTop"),
        ("symbolLabel", 7, False, "marginTop"),
    ):
        style = sub(styles, "style", name=name, alignment=1, indent=0, **{margin: 1.2})
        weight = 75 if bold else 50
        sub(style, "styleFont", style="", description=f"Sans Serif,{size},-1,5,{weight},0,0,0,0,0")
    # A legend of its own (not the whole layer tree): what the flags and colours mean.
    tree = sub(legend, "layer-tree-group")
    _custom(tree)
    for layer in legend_layers:
        leaf = sub(
            tree,
            "layer-tree-layer",
            id=layer.id,
            name=layer.name,
            source=layer.source,
            providerKey=layer.provider,
            checked="Qt::Checked",
            expanded="1",
        )
        _custom(leaf)
    if table_layer is not None:
        table_id = _uuid("layout", "table")
        _item(
            layout,
            _FRAME,
            "flags table frame",
            x=205,
            y=90,
            w=82,
            h=98,
            zValue=2,
            multiFrame=table_id,
            multiFrameTemplateUuid=table_id,
            sectionX=0,
            sectionY=0,
            sectionWidth=82,
            sectionHeight=98,
            hidePageIfEmpty=0,
            hideBackgroundIfEmpty=0,
        )
        table = sub(
            layout,
            "LayoutMultiFrame",
            type=_TABLE,
            uuid=table_id,
            templateUuid=table_id,
            vectorLayer=table_layer.id,
            vectorLayerName=table_layer.name,
            vectorLayerSource=table_layer.source,
            vectorLayerProvider=table_layer.provider,
            source=0,
            maxFeatures=40,
            showGrid=1,
            gridStrokeWidth="0.2",
            cellMargin="0.8",
            resizeMode=0,
            headerMode=0,
            showOnlyVisibleFeatures=0,
            filterFeatures="false",
            featureFilter="",
            emptyTableMode=0,
            emptyTableMessage="no flags",
            horizontalGrid=1,
            verticalGrid=1,
            showEmptyRows=0,
            wrapBehavior=0,
            showUniqueRowsOnly=0,
            headerHAlignment=0,
            filterToAtlasIntersection=0,
            useConditionalStyling=0,
            backgroundColor="255,255,255,255",
            gridColor="0,0,0,255",
        )
        frame_id = _uuid("layout", "flags table frame")
        sub(table, "childFrame", uuid=frame_id, templateUuid=frame_id)
        for tag in ("headerTextFormat", "contentTextFormat"):
            fmt = sub(table, tag)
            sub(
                fmt,
                "text-style",
                fontFamily="Sans Serif",
                fontSize=7,
                fontSizeUnit="Point",
                textColor="0,0,0,255",
                textOpacity=1,
                fontWeight=75 if tag[0] == "h" else 50,
            )
        columns = sub(table, "displayColumns")
        for heading, expression in table_columns:
            column = sub(
                columns,
                "column",
                attribute=expression,
                heading=heading,
                hAlignment=1,
                vAlignment=128,
                width=0,
                sortByRank=0,
                sortOrder=0,
            )
            sub(column, "backgroundColor", red=0, green=0, blue=0, alpha=0)
        sort = sub(table, "sortColumns")
        column = sub(
            sort,
            "column",
            attribute="id",
            heading="id",
            sortByRank=1,
            sortOrder=0,
            hAlignment=1,
            vAlignment=128,
            width=0,
        )
        sub(column, "backgroundColor", red=0, green=0, blue=0, alpha=0)
    _label(layout, "attribution", attribution, x=10, y=190, w=190, h=5, size_pt=8)
    _label(layout, "footer", footer, x=10, y=196, w=277, h=5, size_pt=7)
    sub(
        layout,
        "Atlas",
        enabled=0,
        coverageLayer="",
        hideCoverage=0,
        filterFeatures=0,
        sortFeatures=0,
        pageNameExpression="",
        filenamePattern="'output_'||@atlas_featurenumber",
    )


def _nice_segment(width_m: float) -> float:
    target = width_m / 10.0
    for value in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000):
        if value >= target:
            return float(value)
    return 20000.0


def write_project(
    path: str | os.PathLike,
    *,
    layers: Sequence[ProjectLayer],
    groups: Sequence[str],
    crs,
    extent: tuple[float, float, float, float],
    title: str,
    subtitle: str,
    attribution: str,
    footer: str = "",
    table_layer: str | None = "detections",
    legend_layers: Sequence[str] = ("detections", "departed", "change"),
    table_columns: Sequence[tuple[str, str]] = (
        ("id", "id"),
        ("kind", "kind"),
        ("score", 'round("score", 2)'),
        ("length m", 'round("length_m")'),
        ("status", "status"),
        ("note", "note"),
    ),
) -> Path:
    """Write ``project.qgs`` (atomically) for the layers of a run folder.

    Parameters
    ----------
    path : path-like
        The project file; layer sources are relative to its folder.
    layers : sequence of ProjectLayer
        In drawing order, top first.
    groups : sequence of str
        Layer-tree groups, top first.
    crs : CRS
        Project CRS (the scene's).
    extent : (xmin, ymin, xmax, ymax)
        Initial map extent in ``crs`` (the AOI's bounds), also used by the layout map.
    title, subtitle, attribution, footer : str
        Texts of the print layout.
    table_layer : str, optional
        Name of the layer listed in the layout's attribute table.
    legend_layers : sequence of str
        Names of the layers the layout's legend explains.
    """
    extent = tuple(float(v) for v in extent)  # numpy scalars repr as "np.float64(...)"
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    sub(root, "homePath", path="")
    sub(root, "title", title)
    sub(root, "autotransaction", active=0)
    sub(root, "evaluateDefaultValues", active=0)
    sub(root, "trust", active=0)
    spatialrefsys(sub(root, "projectCrs"), crs)
    _layer_tree(root, layers, groups)
    canvas = sub(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    sub(canvas, "units", "meters")
    _extent(canvas, "extent", extent)
    sub(canvas, "rotation", "0")
    spatialrefsys(sub(canvas, "destinationsrs"), crs)
    sub(canvas, "rendermaptile", "0")
    projectlayers = sub(root, "projectlayers")
    for layer in layers:
        _maplayer(projectlayers, layer, crs)
    order = sub(root, "layerorder")
    for layer in layers:
        sub(order, "layer", id=layer.id)
    properties = sub(root, "properties")
    paths = sub(properties, "Paths")
    sub(paths, "Absolute", "false", type="bool")
    srs = sub(properties, "SpatialRefSys")
    sub(srs, "ProjectionsEnabled", "1", type="int")
    units = sub(properties, "Measurement")
    sub(units, "DistanceUnits", "meters", type="QString")
    sub(units, "AreaUnits", "m2", type="QString")
    view = sub(root, "ProjectViewSettings", UseProjectScales="0", rotation="0")
    sub(view, "Scales")
    default_view = sub(
        view,
        "DefaultViewExtent",
        xmin=repr(extent[0]),
        ymin=repr(extent[1]),
        xmax=repr(extent[2]),
        ymax=repr(extent[3]),
    )
    spatialrefsys(default_view, crs)
    by_name = {layer.name: layer for layer in layers}
    _layout(
        root,
        title=title,
        subtitle=subtitle,
        attribution=attribution,
        footer=footer,
        extent=extent,
        table_layer=by_name.get(table_layer) if table_layer else None,
        table_columns=table_columns,
        scale_segment_m=_nice_segment(extent[2] - extent[0]),
        legend_layers=[by_name[name] for name in legend_layers if name in by_name],
    )
    meta = sub(root, "projectMetadata")
    sub(meta, "title", title)
    sub(meta, "abstract", subtitle)
    sub(meta, "rights", attribution)
    ET.indent(root, space="  ")
    text = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    )
    return atomic_write_text(path, text + "\n")
