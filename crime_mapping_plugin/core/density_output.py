"""Write a density grid as a raster file, all or nothing, and turn its hottest cells into counted areas."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, ogr, osr

from crime_mapping_plugin.core.kde import Grid

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

NODATA = -9999.0


def write_raster(
    path: str,
    grid: Grid,
    values: np.ndarray,
    crs_wkt: str,
    metadata: dict[str, str],
    unit: str,
    description: str,
    driver: str = "GTiff",
) -> None:
    """Write values (NaN for NoData) as a one-band Float32 raster; a temporary file is renamed on success."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1] or ".tif"
    handle, tmp = tempfile.mkstemp(prefix=".crimemapping-", suffix=suffix, dir=folder)
    os.close(handle)
    stem = os.path.splitext(os.path.basename(tmp))[0]
    options = ["COMPRESS=DEFLATE", "PREDICTOR=3", "TILED=YES"] if driver == "GTiff" else []
    target = gdal.GetDriverByName(driver)
    if target is None:
        raise ValueError(f"GDAL has no raster driver '{driver}': save the density as a GeoTIFF (.tif).")
    # Formats GDAL can only copy into (e.g. ASCII grid) are built in memory first.
    direct = target.GetMetadataItem(gdal.DCAP_CREATE) == "YES"
    try:
        if direct:
            dataset = target.Create(tmp, grid.cols, grid.rows, 1, gdal.GDT_Float32, options)
        else:
            dataset = gdal.GetDriverByName("MEM").Create("", grid.cols, grid.rows, 1, gdal.GDT_Float32)
        dataset.SetGeoTransform(grid.geotransform())
        srs = osr.SpatialReference()
        srs.ImportFromWkt(crs_wkt)
        dataset.SetProjection(srs.ExportToWkt())
        dataset.SetMetadata(metadata)
        band = dataset.GetRasterBand(1)
        band.SetNoDataValue(NODATA)
        band.SetUnitType(unit)
        band.SetDescription(description)
        out = np.where(np.isnan(values), NODATA, values).astype(np.float32)
        band.WriteArray(out)
        band.ComputeStatistics(False)
        if not direct:
            dataset = target.CreateCopy(tmp, dataset)
        dataset.FlushCache()
        dataset = None
        # The raster and its side-car files (.prj, .aux.xml) carry the temporary name: give them the destination's.
        for name in os.listdir(folder):
            if name.startswith(stem):
                os.replace(os.path.join(folder, name), os.path.splitext(path)[0] + name[len(stem) :])
    except BaseException:
        for name in os.listdir(folder):
            if name.startswith(stem):
                os.remove(os.path.join(folder, name))
        raise


@dataclass
class HotspotAreas:
    """Connected areas of hot cells: their outlines (WKB), cell counts, and the area label of every cell."""

    polygons: list[bytes]
    cells: np.ndarray
    labels: np.ndarray


def hotspot_areas(grid: Grid, hot: np.ndarray, crs_wkt: str = "") -> HotspotAreas:
    """Dissolve edge-connected hot cells into polygons, one per area, largest first."""
    driver = gdal.GetDriverByName("MEM")
    mask_ds = driver.Create("", grid.cols, grid.rows, 1, gdal.GDT_Byte)
    mask_ds.SetGeoTransform(grid.geotransform())
    if crs_wkt:
        mask_ds.SetProjection(crs_wkt)
    band = mask_ds.GetRasterBand(1)
    band.WriteArray(hot.astype(np.uint8))
    vector = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = vector.CreateLayer("areas", geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    # The mask band as its own mask: only the hot cells become polygons (4-connected).
    gdal.Polygonize(band, band, layer, 0, [])
    shapes = [feature.GetGeometryRef().ExportToWkb() for feature in layer]
    # Burn each polygon back with its number: the cells of an area are exactly the centres it contains.
    label_ds = driver.Create("", grid.cols, grid.rows, 1, gdal.GDT_Int32)
    label_ds.SetGeoTransform(grid.geotransform())
    burn_layer = vector.CreateLayer("labels", geom_type=ogr.wkbPolygon)
    burn_layer.CreateField(ogr.FieldDefn("label", ogr.OFTInteger))
    for i, wkb in enumerate(shapes, start=1):
        feature = ogr.Feature(burn_layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkb(wkb))
        feature.SetField("label", i)
        burn_layer.CreateFeature(feature)
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # the layers carry no CRS: GDAL warns, needlessly
    try:
        gdal.RasterizeLayer(label_ds, [1], burn_layer, options=["ATTRIBUTE=label"])
    finally:
        gdal.PopErrorHandler()
    labels = label_ds.GetRasterBand(1).ReadAsArray().astype(np.int64)
    labels[~hot] = 0
    cells = np.bincount(labels.ravel(), minlength=len(shapes) + 1)[1:]
    order = np.argsort(-cells, kind="stable")
    relabel = np.zeros(len(shapes) + 1, dtype=np.int64)
    relabel[order + 1] = np.arange(1, len(shapes) + 1)
    return HotspotAreas([shapes[i] for i in order], cells[order], relabel[labels])


def crimes_in_areas(grid: Grid, areas: HotspotAreas, x: np.ndarray, y: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """Return the number of crimes in each area; a crime is in the area of the cell it falls in."""
    row, col, on = grid.cell_of(x, y)
    label = np.zeros(len(row), dtype=np.int64)
    label[on] = areas.labels[row[on], col[on]]
    label[~counted] = 0
    return np.bincount(label, minlength=len(areas.polygons) + 1)[1:]
