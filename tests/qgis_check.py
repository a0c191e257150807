"""Open a portwatch run folder in real QGIS and report what QGIS sees, as JSON.

Run with the system Python that has PyQGIS (not the project's venv)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_check.py RUN_DIR [OUT_PREFIX] [--edit]

It reads ``RUN_DIR/project.qgs``, loads the GeoPackage layers and the GeoTIFFs on their
own too (to see the default styles QGIS applies without our project), renders the
map and the print layout to PNG files (``OUT_PREFIX``map.png / layout.png, default in
RUN_DIR) and prints one JSON object on stdout. With ``--edit`` it finally marks the
first flag of ``detections`` as an analyst would (status "confirmed", a note) through
QGIS's editing API and exits without closing the file, as a crashed or still-running
QGIS leaves it. It imports nothing from portwatch.
"""

from __future__ import annotations

import json
import os
import sys


def _image_stats(image, step: int = 3) -> dict:
    colours = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            colours.add(image.pixel(x, y))
    return {"width": image.width(), "height": image.height(), "distinct_colours": len(colours)}


def _layer_info(layer, QgsWkbTypes) -> dict:
    info = {
        "valid": layer.isValid(),
        "crs": layer.crs().authid(),
        "source": layer.source(),
        "type": "vector" if hasattr(layer, "featureCount") else "raster",
    }
    renderer = layer.renderer()
    info["renderer"] = renderer.type() if renderer is not None else None
    if info["type"] == "vector":
        info["feature_count"] = layer.featureCount()
        info["geometry"] = QgsWkbTypes.displayString(layer.wkbType())
        info["labels"] = bool(layer.labelsEnabled())
        fields = layer.fields()
        widgets = {}
        for name in ("status", "note", "chip_after"):
            index = fields.indexOf(name)
            if index >= 0:
                widgets[name] = layer.editorWidgetSetup(index).type()
        info["widgets"] = widgets
        if info["renderer"] == "RuleRenderer":
            info["rules"] = [
                [rule.label(), rule.filterExpression()] for rule in renderer.rootRule().children()
            ]
    else:
        info["band_count"] = layer.bandCount()
    return info


def _edit(run_dir: str, QgsVectorLayer) -> dict:
    layer = QgsVectorLayer(f"{run_dir}/detections.gpkg|layername=detections", "edit", "ogr")
    feature = min(layer.getFeatures(), key=lambda f: f["id"])
    fields = layer.fields()
    layer.startEditing()
    layer.changeAttributeValue(feature.id(), fields.indexOf("status"), "confirmed")
    layer.changeAttributeValue(feature.id(), fields.indexOf("note"), "checked in QGIS")
    committed = layer.commitChanges()
    return {"id": feature["id"], "committed": bool(committed), "errors": list(layer.commitErrors())}


def main(run_dir: str, out_prefix: str | None = None, edit: bool = False) -> dict:
    """Everything QGIS reports about the run folder (see the module docstring)."""
    from qgis.core import (
        Qgis,
        QgsApplication,
        QgsLayoutExporter,
        QgsMapRendererSequentialJob,
        QgsMapSettings,
        QgsProject,
        QgsRasterLayer,
        QgsVectorLayer,
        QgsWkbTypes,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    out_prefix = out_prefix or os.path.join(run_dir, "qgis_")
    app = QgsApplication([], False)
    app.initQgis()
    messages = []
    QgsApplication.messageLog().messageReceived.connect(
        lambda message, tag, level: messages.append(
            {"tag": tag, "level": int(level), "message": message}
        )
    )
    result = {"qgis_version": Qgis.QGIS_VERSION}
    project = QgsProject.instance()
    path = os.path.join(run_dir, "project.qgs")
    result["project_read"] = bool(project.read(path))
    result["project_crs"] = project.crs().authid()
    result["absolute_paths"] = project.readBoolEntry("Paths", "/Absolute", True)[0]
    view = project.viewSettings().defaultViewExtent()
    result["default_view_extent"] = [
        view.xMinimum(),
        view.yMinimum(),
        view.xMaximum(),
        view.yMaximum(),
    ]
    root = project.layerTreeRoot()
    result["groups"] = [group.name() for group in root.children()]
    result["tree"] = {
        group.name(): [leaf.name() for leaf in group.findLayers()] for group in root.children()
    }
    layers = {}
    for layer in project.mapLayers().values():
        layers[layer.name()] = _layer_info(layer, QgsWkbTypes)
    result["layers"] = layers

    manager = project.layoutManager()
    layout = manager.layoutByName("portwatch brief")
    result["layout"] = {"exists": layout is not None}
    if layout is not None:
        items = [item for item in layout.items() if hasattr(item, "uuid")]
        kinds = sorted({type(item).__name__ for item in items})
        labels = [item.text() for item in items if type(item).__name__ == "QgsLayoutItemLabel"]
        tables = [frame.multiFrame() for frame in items if type(frame).__name__ == "QgsLayoutFrame"]
        page = layout.pageCollection().page(0)
        result["layout"].update(
            items=kinds,
            labels=labels,
            page_mm=[page.pageSize().width(), page.pageSize().height()],
            table_layer=tables[0].vectorLayer().name()
            if tables and tables[0].vectorLayer()
            else None,
            table_rows=len(tables[0].contents()) if tables else None,
        )
        # renderPageToImage, not exportToImage: the latter georeferences the PNG through
        # GDAL, which cannot update a PNG and logs an error.
        page_image = QgsLayoutExporter(layout).renderPageToImage(0, QSize(), 50)
        layout_png = out_prefix + "layout.png"
        result["layout"]["export_ok"] = bool(page_image.save(layout_png, "PNG"))
        result["layout"]["png"] = layout_png
        result["layout"]["stats"] = _image_stats(page_image)

    visible = root.checkedLayers()
    settings = QgsMapSettings()
    settings.setLayers(visible)
    settings.setDestinationCrs(project.crs())
    settings.setExtent(view if not view.isEmpty() else visible[0].extent())
    settings.setOutputSize(QSize(600, 450))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    map_png = out_prefix + "map.png"
    image.save(map_png, "PNG")
    result["render"] = {
        "png": map_png,
        "layers": [layer.name() for layer in visible],
        "errors": [e.message for e in job.errors()],
        **_image_stats(image),
    }

    # The same files loaded on their own: QGIS must apply our default styles.
    standalone = {}
    for name in ("detections", "departed", "aoi", "footprints"):
        layer = QgsVectorLayer(f"{run_dir}/detections.gpkg|layername={name}", name, "ogr")
        standalone[name] = _layer_info(layer, QgsWkbTypes)
    for name in ("before", "after", "change"):
        layer = QgsRasterLayer(os.path.join(run_dir, f"{name}.tif"), name)
        standalone[name] = _layer_info(layer, QgsWkbTypes)
    result["standalone"] = standalone
    if edit:
        result["edit"] = _edit(run_dir, QgsVectorLayer)
    result["messages"] = messages
    return result


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--edit"]
    if len(args) not in (1, 2):
        sys.exit("usage: qgis_check.py RUN_DIR [OUT_PREFIX] [--edit]")
    report = main(*args, edit="--edit" in sys.argv[1:])
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    # Python's garbage collection of QGIS objects after the application is gone
    # crashes PyQGIS scripts; the report is out, so leave without any teardown.
    os._exit(0)
