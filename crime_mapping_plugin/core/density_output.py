"""Write a density grid as a raster file, all or nothing, and turn its hottest cells into counted areas.

stage_raster writes under a temporary name; the algorithm publishes it only once its other outputs are
written too, and rolls it back when they fail, so a failed run leaves the previous files as they were.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Callable

import numpy as np
from osgeo import gdal, ogr, osr

from crime_mapping_plugin.core.gpkg import temporary_path
from crime_mapping_plugin.core.kde import Grid

gdal.UseExceptions()
ogr.UseExceptions()
osr.UseExceptions()

NODATA = -9999.0
# GeoTIFF creation options: lossless DEFLATE, which every GIS reads, at its fastest level, in tiles. A London grid
# of a million 50 m cells writes in about 30 ms at 1.75 MB, against 80 ms at 1.65 MB with the default level and the
# floating-point predictor (docs/methods.md §2.4); uncompressed it would be 4.2 MB.
GTIFF_OPTIONS = ("COMPRESS=DEFLATE", "ZLEVEL=1", "TILED=YES")


class StagedRaster:
    """A raster written under a temporary name beside its destination, put in place only when asked.

    publish() moves a previous file at the destination aside (it is not deleted yet) and the new one into
    place; rollback() undoes that, so an algorithm whose other output then fails leaves the previous raster
    as it was; finish() deletes what was moved aside; discard() drops the new file before it was published.
    """

    def __init__(self, path: str, folder: str, stem: str) -> None:
        self.path = path
        self.folder = folder
        self.stem = stem
        self._placed: list[str] = []
        self._moved: list[tuple[str, str]] = []  # (backup, original)

    def _temporary_files(self) -> list[str]:
        return [os.path.join(self.folder, n) for n in os.listdir(self.folder) if n.startswith(self.stem)]

    def publish(self) -> None:
        """Move the raster and its side-car files (.prj, .aux.xml) to the destination's name."""
        base = os.path.splitext(self.path)[0]
        try:
            new = {tmp: base + os.path.basename(tmp)[len(self.stem) :] for tmp in self._temporary_files()}
            # A side-car of the previous raster (statistics in .aux.xml) would describe the wrong data.
            targets = set(new.values()) | {self.path + ".aux.xml", base + ".aux.xml"}
            for target in sorted(targets):
                if os.path.exists(target):
                    handle, backup = tempfile.mkstemp(prefix=".crimemapping-previous-", dir=self.folder)
                    os.close(handle)
                    os.replace(target, backup)
                    self._moved.append((backup, target))
            for tmp, target in new.items():
                os.replace(tmp, target)
                self._placed.append(target)
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        """Put the previous raster back and drop the new one."""
        for target in self._placed:
            if os.path.exists(target):
                os.remove(target)
        for backup, original in reversed(self._moved):
            os.replace(backup, original)
        self._placed, self._moved = [], []
        self.discard()

    def finish(self) -> None:
        """Delete the previous raster moved aside by publish()."""
        for backup, _ in self._moved:
            if os.path.exists(backup):
                os.remove(backup)
        self._moved = []

    def discard(self) -> None:
        """Remove the temporary files not yet published."""
        for tmp in self._temporary_files():
            os.remove(tmp)


def stage_raster(
    path: str,
    grid: Grid,
    values: np.ndarray,
    crs_wkt: str,
    metadata: dict[str, str],
    unit: str,
    description: str,
    driver: str = "GTiff",
) -> StagedRaster:
    """Write values (NaN for NoData) as a one-band Float32 raster under a temporary name beside path."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    tmp = temporary_path(folder, os.path.splitext(path)[1] or ".tif")  # an OSError naming the folder
    staged = StagedRaster(path, folder, os.path.splitext(os.path.basename(tmp))[0])
    options = list(GTIFF_OPTIONS) if driver == "GTiff" else []
    try:
        target = gdal.GetDriverByName(driver)
        if target is None:
            raise ValueError(f"GDAL has no raster driver '{driver}': save the density as a GeoTIFF (.tif).")
        # Formats GDAL can only copy into (e.g. ASCII grid) are built in memory first.
        direct = target.GetMetadataItem(gdal.DCAP_CREATE) == "YES"
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
        if np.isfinite(values).any():  # GDAL cannot take statistics of a band that is NoData everywhere
            band.ComputeStatistics(False)
        if not direct:
            dataset = target.CreateCopy(tmp, dataset)
        dataset.FlushCache()
        dataset = None
    except BaseException:
        dataset = None
        staged.discard()
        raise
    return staged


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
    staged = stage_raster(path, grid, values, crs_wkt, metadata, unit, description, driver)
    staged.publish()
    staged.finish()


@dataclass
class HotspotAreas:
    """Connected areas of hot cells: their outlines (WKB), cell counts, and the area label of every cell."""

    polygons: list[bytes]
    cells: np.ndarray
    labels: np.ndarray


def hotspot_areas(
    grid: Grid, hot: np.ndarray, crs_wkt: str = "", is_cancelled: Callable[[], bool] = lambda: False
) -> HotspotAreas:
    """Dissolve edge-connected hot cells into polygons, one per area, largest first; InterruptedError if cancelled."""
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
    # GDAL asks its callback as it goes (a million hot cells take seconds): 0 stops it.
    try:
        gdal.Polygonize(band, band, layer, 0, [], callback=lambda *_: 0 if is_cancelled() else 1)
    except RuntimeError as err:
        if is_cancelled():
            raise InterruptedError("cancelled") from err
        raise
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
    # Only the hot cells are looked at: they are a few per cent of a grid of a million.
    hot_cells = np.flatnonzero(hot)
    burnt = label_ds.GetRasterBand(1).ReadAsArray().ravel()[hot_cells].astype(np.int64)
    cells = np.bincount(burnt, minlength=len(shapes) + 1)[1:]
    order = np.argsort(-cells, kind="stable")
    relabel = np.zeros(len(shapes) + 1, dtype=np.int64)
    relabel[order + 1] = np.arange(1, len(shapes) + 1)
    labels = np.zeros(hot.size, dtype=np.int64)
    labels[hot_cells] = relabel[burnt]
    return HotspotAreas([shapes[i] for i in order], cells[order], labels.reshape(hot.shape))


def crimes_in_areas(
    grid: Grid,
    areas: HotspotAreas,
    x: np.ndarray,
    y: np.ndarray,
    counted: np.ndarray,
    cells: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Return the number of crimes in each area; a crime is in the area of the cell it falls in.

    cells is grid.cell_of(x, y) when the caller has it already.
    """
    row, col, on = grid.cell_of(x, y) if cells is None else cells
    take = np.flatnonzero(on & counted)
    label = areas.labels.ravel()[row[take] * grid.cols + col[take]]
    return np.bincount(label, minlength=len(areas.polygons) + 1)[1:]
