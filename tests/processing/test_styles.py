"""Style presets: ward rate classes at fixed breaks, density and heatmap with a fixed maximum, Gi* classes."""

from __future__ import annotations

import bisect

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFeature,
    QgsGeometry,
    QgsHeatmapRenderer,
    QgsRasterLayer,
    QgsRenderContext,
    QgsRuleBasedRenderer,
    QgsSingleBandPseudoColorRenderer,
    QgsUnitTypes,
    QgsVectorLayer,
)

from crime_mapping_plugin.processing import rate_style, styles

RATES = [0.0, 1.2, 4.99, 5.0, 7.5, 10.0, 19.9, 20.0, 55.0, None]


def polygons(field: str, values, kind: str = "double") -> QgsVectorLayer:
    layer = QgsVectorLayer(f"Polygon?crs=EPSG:27700&field={field}:{kind}", "ward rates", "memory")
    features = []
    for i, value in enumerate(values):
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromWkt(f"POLYGON(({i} 0, {i + 1} 0, {i + 1} 1, {i} 1, {i} 0))"))
        feature.setAttributes([value])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def drawn_class(layer, renderer, feature) -> str | None:
    context = QgsRenderContext()
    renderer.startRender(context, layer.fields())
    try:
        keys = renderer.legendKeysForFeature(feature, context)
    finally:
        renderer.stopRender(context)
    labels = {item.ruleKey(): item.label() for item in renderer.legendSymbolItems()}
    # A rule-based renderer also answers its (legend-less) root rule: keep the keys of legend classes.
    drawn = [labels[key] for key in keys if key in labels]
    assert len(drawn) <= 1, drawn
    return drawn[0] if drawn else None


def test_ward_rates_fall_in_the_classes_the_thresholds_open():
    layer = polygons("rate", RATES)
    breaks = rate_style.style_ward_rates(layer, "rate", [5, 10, 20])
    renderer = layer.renderer()
    assert isinstance(renderer, QgsRuleBasedRenderer)
    assert breaks == [5, 10, 20]
    labels = [item.label() for item in renderer.legendSymbolItems()]
    assert labels == [
        "below 5 crimes per 1,000 residents",
        "5 to 10 crimes per 1,000 residents",
        "10 to 20 crimes per 1,000 residents",
        "20 or more crimes per 1,000 residents",
        "no rate (population missing or zero)",
    ]
    for feature in layer.getFeatures():
        value = feature["rate"]
        # A ward without a rate is drawn too, in the class that says so, not left off the map.
        expected = labels[-1] if not isinstance(value, float) else labels[bisect.bisect_right([5, 10, 20], value)]
        assert drawn_class(layer, renderer, feature) == expected, value


def test_thresholds_from_zero_have_no_class_below_zero():
    layer = polygons("rate", [0.0, 0.4, 3.0])
    rate_style.style_ward_rates(layer, "rate", [0, 0.5, 1, 2])
    labels = [item.label() for item in layer.renderer().legendSymbolItems()]
    assert labels[:4] == [
        "0 to 0.5 crimes per 1,000 residents",
        "0.5 to 1 crimes per 1,000 residents",
        "1 to 2 crimes per 1,000 residents",
        "2 or more crimes per 1,000 residents",
    ]
    assert [drawn_class(layer, layer.renderer(), f) for f in layer.getFeatures()] == [labels[0], labels[0], labels[3]]


def test_breaks_kept_from_one_period_draw_the_next_alike():
    first = polygons("rate", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    breaks = rate_style.style_ward_rates(first, "rate", [])
    # Quantile thresholds of 1..10 at 20/40/60/80 %, computed by hand (linear interpolation).
    assert breaks == [2.8, 4.6, 6.4, 8.2]
    later = polygons("rate", [100, 200])
    rate_style.style_ward_rates(later, "rate", breaks)
    labels = [item.label() for item in later.renderer().legendSymbolItems()]
    assert labels[-2:] == ["8.2 or more crimes per 1,000 residents", "no rate (population missing or zero)"]
    assert all(drawn_class(later, later.renderer(), f).startswith("8.2 or more") for f in later.getFeatures())


@pytest.mark.parametrize(("text", "words"), [("5, ten", "numbers"), ("10, 5", "increase")])
def test_typed_breaks_are_checked(text, words):
    with pytest.raises(ValueError, match=words):
        rate_style.parse_breaks(text)
    assert rate_style.parse_breaks(" 5; 10 ,20 ") == [5, 10, 20]


def test_a_layer_without_the_field_is_refused_by_name():
    with pytest.raises(ValueError, match="no field 'rate'"):
        rate_style.style_ward_rates(polygons("other", [1.0]), "rate", [1])


def density_raster(path, values) -> QgsRasterLayer:
    data = np.asarray(values, dtype=np.float32)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), data.shape[1], data.shape[0], 1, gdal.GDT_Float32)
    ds.SetGeoTransform((530000, 50, 0, 181000, 0, -50))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetMetadataItem("UNIT", "crimes per km² per month")
    ds.GetRasterBand(1).WriteArray(data)
    ds.GetRasterBand(1).SetNoDataValue(-9999)
    ds = None
    layer = QgsRasterLayer(str(path), "density")
    assert layer.isValid()
    return layer


def test_two_months_share_the_fixed_density_maximum(tmp_path):
    quiet = density_raster(tmp_path / "quiet.tif", [[0, 5], [10, 20]])
    busy = density_raster(tmp_path / "busy.tif", [[0, 50], [100, 400]])
    for layer in (quiet, busy):
        styles.style_density_fixed(layer, 80.0)
    shaders = [layer.renderer().shader().rasterShaderFunction() for layer in (quiet, busy)]
    for layer, shader in zip((quiet, busy), shaders):
        assert isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)
        assert layer.renderer().classificationMax() == 80.0
        items = shader.colorRampItemList()
        assert [i.value for i in items] == pytest.approx([0, 16, 32, 48, 64, 80])
        assert items[-1].label == "≥ 80 crimes per km² per month"
    # The same density is the same colour in both months.
    colours = [shader.shade(20.0) for shader in shaders]
    assert colours[0] == colours[1]
    with pytest.raises(ValueError, match="above 0"):
        styles.style_density_fixed(quiet, 0)


def test_point_heatmap_has_a_radius_in_metres_and_a_fixed_maximum():
    layer = QgsVectorLayer("Point?crs=EPSG:27700", "crimes", "memory")
    styles.style_point_heatmap(layer, 250, 12)
    renderer = layer.renderer()
    assert isinstance(renderer, QgsHeatmapRenderer)
    assert renderer.radius() == 250
    assert renderer.radiusUnit() == QgsUnitTypes.RenderMapUnits
    assert renderer.maximumValue() == 12


def test_gistar_bins_are_drawn_in_seven_classes():
    layer = polygons("gi_bin", [-3, -2, -1, 0, 1, 2, 3], "integer")
    styles.style_gistar(layer, styles.first_field(layer, styles.GISTAR_BIN_FIELDS))
    renderer = layer.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer)
    expected = {3: "Hot spot, 99 % confidence", 0: "Not significant", -2: "Cold spot, 95 % confidence"}
    for feature in layer.getFeatures():
        if feature["gi_bin"] in expected:
            assert drawn_class(layer, renderer, feature) == expected[feature["gi_bin"]]
    categories = {c.value(): c for c in renderer.categories()}  # held: a category owns its symbol
    hot, cold = categories[3].symbol().color(), categories[-3].symbol().color()
    assert hot.red() > hot.blue() and cold.blue() > cold.red()


def test_rate_classes_when_most_wards_have_no_crime():
    # 14 of 20 wards at 0: quantiles of all rates (0, 0, 0, 0.9) would lump them with the lowest rates.
    positive = [0.437, 0.9, 1.5, 2.2, 3.8, 9.0]
    values = [0.0] * 14 + positive + [None]
    layer = polygons("rate", values)
    breaks = rate_style.style_ward_rates(layer, "rate", [])
    # By hand: the smallest rate above 0 rounded down (0.43), then the quartiles of the six rates above 0
    # (linear interpolation: 0.9 + 0.25 × 0.6 = 1.05, (1.5 + 2.2) / 2 = 1.85, 2.2 + 0.75 × 1.6 = 3.4).
    assert breaks == [0.43, 1.1, 1.9, 3.4]
    renderer = layer.renderer()
    labels = [item.label() for item in renderer.legendSymbolItems()]
    assert labels[0] == "below 0.43 crimes per 1,000 residents"
    drawn = [drawn_class(layer, renderer, f) for f in layer.getFeatures()]
    assert drawn[:14] == [labels[0]] * 14  # the first class is exactly the wards without crime
    assert labels[0] not in drawn[14:20] and None not in drawn
    assert drawn[20] == rate_style.NO_RATE_LABEL
