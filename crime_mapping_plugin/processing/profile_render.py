"""Area profiles drawn by QGIS: the profile tables, the print layout and its atlas, the map PNGs.

The figures come formatted from core/profiles.py's ProfileSet (copied from the output layers); this module
only lays them out. The layout is loaded from a template (.qpt, the shipped one or the analyst's restyled
copy); the algorithm wires the items whose ids are listed in ITEM_IDS to its layers, and every other item
of the template (labels with [% "field" %] expressions on the profile layer, pictures, shapes) is the
template's own. default_layout() builds the shipped template (scripts/make_profile_layout.py saves it).
"""

from __future__ import annotations

import os
from typing import Callable

from osgeo import ogr, osr
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsExpressionContextUtils,
    QgsFillSymbol,
    QgsLayout,
    QgsLayoutExporter,
    QgsLayoutFrame,
    QgsLayoutItemAttributeTable,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutItemPicture,
    QgsLayoutMultiFrame,
    QgsLayoutObject,
    QgsLayoutSize,
    QgsLayoutTable,
    QgsLayoutTableColumn,
    QgsLegendStyle,
    QgsMapRendererSequentialJob,
    QgsMarkerSymbol,
    QgsPalLayerSettings,
    QgsPrintLayout,
    QgsProject,
    QgsProperty,
    QgsReadWriteContext,
    QgsRectangle,
    QgsRendererCategory,
    QgsRuleBasedRenderer,
    QgsSingleSymbolRenderer,
    QgsTextFormat,
    QgsUnitTypes,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtCore import QRectF, QSize, QSizeF
from qgis.PyQt.QtGui import QColor, QFont
from qgis.PyQt.QtXml import QDomDocument

from crime_mapping_plugin.core import profile_site as site
from crime_mapping_plugin.core import profiles as model

LAYOUT_NAME = "Area profiles"
TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "layouts", "area_profile.qpt")
PROFILES_LAYER = "profiles"
GROUPS_LAYER = "profile_groups"
RATES_LAYER = "profile_rates"
FOLDER_VARIABLE = "profile_folder"
# The template items the algorithm wires to its layers; a restyled template keeps these ids.
MAP_ID = "area_map"
GROUPS_TABLE_ID = "groups_table"
RATES_TABLE_ID = "rates_table"
CHART_ID = "trend_chart"
ITEM_IDS = (MAP_ID, GROUPS_TABLE_ID, RATES_TABLE_ID, CHART_ID)
ATLAS_FILTER = "\"area_code\" = attribute(@atlas_feature, 'code')"
HEADLINE_COLOURS = ("202,0,32", "235,235,235", "5,113,176", "160,160,160")  # higher, not different, lower, none

PROFILE_FIELDS = (
    ("code", ogr.OFTString),
    ("name", ogr.OFTString),
    ("kind", ogr.OFTString),
    ("parent_name", ogr.OFTString),
    ("subtitle", ogr.OFTString),
    ("period", ogr.OFTString),
    ("previous_period", ogr.OFTString),
    ("missing_months", ogr.OFTString),
    ("coverage", ogr.OFTString),
    ("headline", ogr.OFTString),
    ("whole", ogr.OFTString),
    ("last_month", ogr.OFTString),
    ("rate_verdict", ogr.OFTString),
    ("trend_verdict", ogr.OFTString),
    ("crimes_chosen", ogr.OFTString),
    ("neighbours", ogr.OFTString),
    ("source", ogr.OFTString),
    ("licence", ogr.OFTString),
    ("definitions", ogr.OFTString),
    ("definitions_url", ogr.OFTString),
    ("chart_file", ogr.OFTString),
    ("map_file", ogr.OFTString),
    ("title", ogr.OFTString),
)
GROUP_FIELDS = ("area_code", "group", "current", "previous", "change", "verdict")
RATE_FIELDS = ("area_code", "label", "crimes", "residents", "rate", "interval")
GROUP_HEADINGS = ("Crime group", "Last 12 months", "Previous 12", "Change", "More than chance?")
GROUP_WIDTHS = (50.0, 20.0, 18.0, 20.0, 82.0)  # mm, 190 in all with the cell margins
RATE_HEADINGS = ("", "Crimes", "Residents", "Rate", "95 % interval")
RATE_WIDTHS = (22.0, 11.0, 17.0, 17.0, 19.0)


def definitions_text(profiles: model.ProfileSet) -> str:
    """Return the plain-words definitions as one text for a layout label."""
    return "\n".join(f"{term}: {words}" for term, words in profiles.definitions)


def coverage_text(profile: model.AreaProfile) -> str:
    """Return the period and the missing months in words."""
    text = f"Last 12 months: {profile.period}; previous 12 months: {profile.previous_period}."
    if profile.missing_months:
        text += f" Months with no record in the data (left out, not zero): {profile.missing_months}."
    return text


def write_profile_layers(
    path: str,
    geometries: dict[str, bytes],
    crs_wkt: str,
    profiles: model.ProfileSet,
    names: dict[str, str],
    whole: str,
    definitions_url: str,
) -> None:
    """Write the profile layers (one row per area with its texts; the group and rate lines) to a GeoPackage."""
    driver = ogr.GetDriverByName("GPKG")
    ds = driver.CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    layer = ds.CreateLayer(PROFILES_LAYER, srs, ogr.wkbMultiPolygon)
    for name, kind in PROFILE_FIELDS:
        layer.CreateField(ogr.FieldDefn(name, kind))
    groups = ds.CreateLayer(GROUPS_LAYER, None, ogr.wkbNone)
    rate_rows = ds.CreateLayer(RATES_LAYER, None, ogr.wkbNone)
    for table, names_ in ((groups, GROUP_FIELDS), (rate_rows, RATE_FIELDS)):
        for name in names_:
            table.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    ds.StartTransaction()
    defs = definitions_text(profiles)
    for p in profiles.profiles:
        f = ogr.Feature(layer.GetLayerDefn())
        kind = profiles.area_kind.capitalize()
        values = {
            "code": p.code,
            "name": p.name,
            "kind": profiles.area_kind,
            "parent_name": p.parent_name or "",
            "subtitle": f"{kind} in {p.parent_name}" if p.parent_name else f"{kind} ({p.code})",
            "period": p.period,
            "previous_period": p.previous_period,
            "missing_months": p.missing_months,
            "coverage": coverage_text(p),
            "headline": p.headline,
            "whole": whole,
            "last_month": p.period.split(" to ")[-1],
            "rate_verdict": p.rate_verdict,
            "trend_verdict": p.trend_verdict,
            "crimes_chosen": profiles.crimes_chosen,
            "neighbours": ", ".join(names.get(c, c) for c in p.neighbours),
            "source": profiles.source,
            "licence": profiles.licence,
            "definitions": defs,
            "definitions_url": definitions_url,
            "chart_file": os.path.basename(p.chart_png) if p.chart_png else "",
            "map_file": os.path.basename(p.map_png) if p.map_png else "",
            "title": profiles.title,
        }
        for name, value in values.items():
            f.SetField(name, value)
        if p.code in geometries:
            f.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkb(geometries[p.code])))
        layer.CreateFeature(f)
        for g in p.groups:
            _add_row(
                groups,
                GROUP_FIELDS,
                (
                    p.code,
                    g.group,
                    site.format_count(g.current),
                    site.format_count(g.previous),
                    site.format_change(g.change_pct),
                    g.verdict,
                ),
            )
        for r in p.rates:
            _add_row(
                rate_rows,
                RATE_FIELDS,
                (
                    p.code,
                    r.label,
                    site.format_count(r.crimes),
                    site.format_count(r.population),
                    site.format_rate(r.rate),
                    site.format_interval(r.lcl95, r.ucl95),
                ),
            )
    ds.CommitTransaction()
    ds = None


def _add_row(layer: ogr.Layer, names: tuple[str, ...], values: tuple[str, ...]) -> None:
    f = ogr.Feature(layer.GetLayerDefn())
    for name, value in zip(names, values):
        f.SetField(name, value)
    layer.CreateFeature(f)


def _label(
    layout: QgsLayout, text: str, rect: tuple[float, float, float, float], size: float, bold: bool = False
) -> QgsLayoutItemLabel:
    label = QgsLayoutItemLabel(layout)
    label.setText(text)
    fmt = QgsTextFormat()
    font = QFont("DejaVu Sans")
    font.setBold(bold)
    fmt.setFont(font)
    fmt.setSize(size)
    if hasattr(label, "setTextFormat"):  # QGIS 3.24+; 3.22 styles labels by QFont
        label.setTextFormat(fmt)
    else:
        font.setPointSizeF(size)
        label.setFont(font)
    label.attemptSetSceneRect(QRectF(*rect))
    layout.addLayoutItem(label)
    return label


def _table(
    layout: QgsLayout,
    item_id: str,
    rect: tuple[float, float, float, float],
    headings: tuple[str, ...],
    fields: tuple[str, ...],
    widths: tuple[float, ...],
) -> QgsLayoutItemAttributeTable:
    table = QgsLayoutItemAttributeTable(layout)
    layout.addMultiFrame(table)
    frame = QgsLayoutFrame(layout, table)
    frame.attemptSetSceneRect(QRectF(*rect))
    frame.setId(item_id)
    table.addFrame(frame)
    table.setResizeMode(QgsLayoutMultiFrame.UseExistingFrames)
    for fmt_setter, size, bold in ((table.setHeaderTextFormat, 7.0, True), (table.setContentTextFormat, 7.0, False)):
        fmt = QgsTextFormat()
        font = QFont("DejaVu Sans")
        font.setBold(bold)
        fmt.setFont(font)
        fmt.setSize(size)
        fmt_setter(fmt)
    table.setFilterFeatures(True)
    table.setFeatureFilter(ATLAS_FILTER)
    table.setMaximumNumberOfFeatures(40)
    table.setCellMargin(0.8)
    table.setEmptyTableBehavior(QgsLayoutTable.ShowMessage)
    table.setEmptyTableMessage("No figures for this area")
    table.setWrapBehavior(QgsLayoutTable.WrapText)
    columns = []
    for heading, field, width in zip(headings, fields, widths):
        column = QgsLayoutTableColumn(heading)
        column.setAttribute(field)
        column.setWidth(width)
        columns.append(column)
    table.setColumns(columns)
    return table


def default_layout(project: QgsProject) -> QgsPrintLayout:
    """Build the shipped A4 profile layout (scripts/make_profile_layout.py saves it as the template)."""
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.setName(LAYOUT_NAME)
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(210, 297, QgsUnitTypes.LayoutMillimeters))
    _label(layout, '[% "name" %]', (10, 8, 190, 10), 18, bold=True)
    _label(layout, '[% "subtitle" %] · [% "period" %] · [% "crimes_chosen" %]', (10, 18, 190, 6), 9)
    area_map = QgsLayoutItemMap(layout)
    area_map.attemptSetSceneRect(QRectF(10, 26, 100, 92))
    area_map.setId(MAP_ID)
    # An extent of the page's proportions (central London, metres): an empty one would save a height of NaN.
    area_map.setExtent(QgsRectangle(525000, 175000, 535000, 184200))
    area_map.setFrameEnabled(True)
    area_map.setAtlasDriven(True)
    area_map.setAtlasScalingMode(QgsLayoutItemMap.Auto)
    area_map.setAtlasMargin(0.25)
    layout.addLayoutItem(area_map)
    _label(layout, "Rate per 1,000 residents, 12 months", (114, 25, 86, 6), 9, bold=True)
    _table(layout, RATES_TABLE_ID, (114, 31, 86, 31), RATE_HEADINGS, RATE_FIELDS[1:], RATE_WIDTHS)
    _label(layout, 'Compared with [% "whole" %]: [% "rate_verdict" %].', (114, 63, 86, 18), 8.5)
    _label(layout, "Monthly crimes, control chart", (114, 83, 86, 5), 9, bold=True)
    _label(layout, 'All crimes, latest month ([% "last_month" %]): [% "trend_verdict" %].', (114, 89, 86, 28), 8)
    _label(layout, 'Neighbours: [% "neighbours" %]', (10, 119, 190, 6), 7)
    _label(layout, "Crimes by group: the last 12 months against the previous 12", (10, 126, 190, 5), 9, bold=True)
    _table(layout, GROUPS_TABLE_ID, (10, 131, 190, 70), GROUP_HEADINGS, GROUP_FIELDS[1:], GROUP_WIDTHS)
    chart = QgsLayoutItemPicture(layout)
    chart.attemptSetSceneRect(QRectF(10, 203, 120, 46))
    chart.setId(CHART_ID)
    chart.setResizeMode(QgsLayoutItemPicture.Zoom)
    chart.dataDefinedProperties().setProperty(
        QgsLayoutObject.PictureSource,
        QgsProperty.fromExpression(f"@{FOLDER_VARIABLE} || '/charts/' || \"chart_file\""),
    )
    layout.addLayoutItem(chart)
    _label(layout, '[% "coverage" %]', (133, 203, 67, 46), 7)
    _label(layout, "What the words mean", (10, 250, 190, 5), 8, bold=True)
    _label(layout, '[% "definitions" %]', (10, 255, 190, 30), 5.5)
    _label(
        layout,
        'Source: [% "source" %]. [% "licence" %] Full definitions: [% "definitions_url" %].',
        (10, 286, 190, 8),
        6,
    )
    return layout


def save_template(layout: QgsPrintLayout, path: str) -> None:
    """Save a layout as a .qpt template."""
    if not layout.saveAsTemplate(path, QgsReadWriteContext()):
        raise OSError(f"Cannot write the layout template {path}")


def load_layout(project: QgsProject, template: str) -> QgsPrintLayout:
    """Return the print layout of a .qpt template, added to project; ValueError when it cannot be read."""
    with open(template, encoding="utf-8") as handle:
        text = handle.read()
    doc = QDomDocument()
    if not doc.setContent(text):
        raise ValueError(f"The layout template {template} is not a QGIS layout (.qpt) file.")
    layout = QgsPrintLayout(project)
    _, ok = layout.loadFromTemplate(doc, QgsReadWriteContext())
    if not ok:
        raise ValueError(f"The layout template {template} could not be loaded.")
    layout.setName(LAYOUT_NAME)
    project.layoutManager().addLayout(layout)
    return layout


def style_profiles(layer: QgsVectorLayer) -> None:
    """Draw the atlas area in black, the others grey with their names (the neighbours on each page)."""
    root = QgsRuleBasedRenderer.Rule(None)
    current = QgsFillSymbol.createSimple(
        {"color": "255,255,255,0", "outline_color": "0,0,0,255", "outline_width": "0.8"}
    )
    others = QgsFillSymbol.createSimple(
        {"color": "245,245,245,120", "outline_color": "130,130,130,255", "outline_width": "0.25"}
    )
    root.appendChild(QgsRuleBasedRenderer.Rule(others, 0, 0, "@atlas_featureid IS NULL OR $id <> @atlas_featureid"))
    root.appendChild(QgsRuleBasedRenderer.Rule(current, 0, 0, "$id = @atlas_featureid"))
    layer.setRenderer(QgsRuleBasedRenderer(root))
    settings = QgsPalLayerSettings()
    settings.fieldName = "name"
    fmt = QgsTextFormat()
    fmt.setSize(7)
    fmt.setColor(QColor(60, 60, 60))
    settings.setFormat(fmt)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)


def style_crimes(layer: QgsVectorLayer) -> None:
    """Draw the crimes as small translucent dots."""
    symbol = QgsMarkerSymbol.createSimple(
        {"name": "circle", "color": "215,48,39,140", "size": "1.0", "outline_style": "no"}
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))


def style_headlines(layer: QgsVectorLayer, whole: str) -> None:
    """Colour the areas by their headline (rate against all areas), for the index map."""
    categories = []
    for headline, colour in zip(model.headlines(whole), HEADLINE_COLOURS):
        symbol = QgsFillSymbol.createSimple(
            {"color": f"{colour},255", "outline_color": "90,90,90,255", "outline_width": "0.2"}
        )
        categories.append(QgsRendererCategory(headline, symbol, headline))
    layer.setRenderer(QgsCategorizedSymbolRenderer("headline", categories))
    layer.setLabelsEnabled(False)


def wire_layout(
    layout: QgsPrintLayout,
    coverage: QgsVectorLayer,
    groups: QgsVectorLayer,
    rate_rows: QgsVectorLayer,
    folder: str,
    layers: list,
) -> None:
    """Point the template's atlas and its wired items at the profile layers; set the folder of the charts."""
    atlas = layout.atlas()
    atlas.setCoverageLayer(coverage)
    atlas.setEnabled(True)
    atlas.setPageNameExpression('"name"')
    atlas.setSortFeatures(True)
    atlas.setSortExpression('"name"')
    QgsExpressionContextUtils.setLayoutVariable(layout, FOLDER_VARIABLE, folder.replace(os.sep, "/"))
    for frame in (i for i in layout.items() if isinstance(i, QgsLayoutFrame)):
        table = frame.multiFrame()
        if isinstance(table, QgsLayoutItemAttributeTable) and frame.id() in (GROUPS_TABLE_ID, RATES_TABLE_ID):
            columns = table.columns()
            table.setVectorLayer(groups if frame.id() == GROUPS_TABLE_ID else rate_rows)
            table.setColumns(columns)
            table.setFeatureFilter(ATLAS_FILTER)
            table.setFilterFeatures(True)
            if frame.id() == GROUPS_TABLE_ID:
                _fit_groups(table, groups, coverage)
    for item in layout.items():
        if isinstance(item, QgsLayoutItemMap) and item.id() == MAP_ID:
            item.setAtlasDriven(True)
            item.setKeepLayerSet(True)
            item.setLayers(layers)


# The shipped frame holds the 11 harmonised groups; a count table's categories (the MPS's 13) need smaller text,
# or the last rows would be cut off the page.
FRAME_GROUPS = 11
SMALL_TABLE_POINTS = 6.0


def _fit_groups(table: QgsLayoutItemAttributeTable, groups: QgsVectorLayer, coverage: QgsVectorLayer) -> None:
    """Shrink the groups table's text when an area has more groups than the shipped frame holds."""
    areas = max(coverage.featureCount(), 1)
    if groups.featureCount() <= FRAME_GROUPS * areas:
        return
    for getter, setter in (
        (table.headerTextFormat, table.setHeaderTextFormat),
        (table.contentTextFormat, table.setContentTextFormat),
    ):
        fmt = getter()
        fmt.setSize(min(fmt.size(), SMALL_TABLE_POINTS))
        setter(fmt)
    table.setCellMargin(min(table.cellMargin(), 0.5))


def area_map(layout: QgsPrintLayout) -> QgsLayoutItemMap | None:
    """Return the atlas map of the layout (its id is MAP_ID), or None."""
    for item in layout.items():
        if isinstance(item, QgsLayoutItemMap) and item.id() == MAP_ID:
            return item
    return None


def render_area_maps(
    layout: QgsPrintLayout, folder: str, canceled: Callable[[], bool], width: int = 900
) -> dict[str, str]:
    """Render the atlas map of every area to folder/<code>.png, as the PDF pages draw it; code → path."""
    item = area_map(layout)
    atlas = layout.atlas()
    paths: dict[str, str] = {}
    if item is None or not atlas.beginRender():
        return paths
    os.makedirs(folder, exist_ok=True)
    mm = item.sizeWithUnits()  # millimetres in the shipped layout
    size = QSize(width, int(width * mm.height() / mm.width()))
    for i in range(atlas.count()):
        if canceled():
            raise InterruptedError
        atlas.seekTo(i)
        settings = item.mapSettings(item.extent(), QSizeF(size), width / (mm.width() / 25.4), True)
        settings.setOutputSize(size)
        job = QgsMapRendererSequentialJob(settings)
        job.start()
        job.waitForFinished()
        code = str(atlas.layout().reportContext().feature()["code"])
        path = os.path.join(folder, f"map_{safe_name(code)}.png")
        job.renderedImage().save(path, "PNG")
        paths[code] = path
    atlas.endRender()
    return paths


def render_index_map(project: QgsProject, layer: QgsVectorLayer, path: str, title: str, whole: str) -> None:
    """Render every area coloured by its headline, with a legend, to a PNG."""
    style_headlines(layer, whole)
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(200, 170, QgsUnitTypes.LayoutMillimeters))
    _label(layout, title, (5, 3, 190, 8), 11, bold=True)
    item = QgsLayoutItemMap(layout)
    item.attemptSetSceneRect(QRectF(5, 12, 138, 153))
    item.setLayers([layer])
    item.setKeepLayerSet(True)
    extent = layer.extent()
    extent.scale(1.03)
    layout.addLayoutItem(item)
    item.zoomToExtent(extent)
    legend = QgsLayoutItemLegend(layout)
    legend.setLinkedMap(item)
    # Only the index layer, named by what its colours mean (the project holds the atlas's layers too).
    legend.setAutoUpdateModel(False)
    root = legend.model().rootGroup()
    root.removeAllChildren()
    layer.setName(f"Rate against {whole}")
    root.addLayer(layer)
    legend.setTitle("")
    legend.setStyleFont(QgsLegendStyle.Group, QFont("DejaVu Sans", 9, QFont.Bold))
    legend.setStyleFont(QgsLegendStyle.Subgroup, QFont("DejaVu Sans", 9, QFont.Bold))
    legend.setStyleFont(QgsLegendStyle.SymbolLabel, QFont("DejaVu Sans", 8))
    legend.attemptSetSceneRect(QRectF(146, 14, 52, 60))
    layout.addLayoutItem(legend)
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 110
    result = QgsLayoutExporter(layout).exportToImage(path, settings)
    if result != QgsLayoutExporter.Success:
        raise OSError(f"Cannot render the index map to {path}")


def safe_name(code: str) -> str:
    """Return an area code as a file-name part."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in code)[:60] or "area"
