"""Hot cells become one polygon per edge-connected area, with crimes counted by hand; rasters are all or nothing."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from crime_mapping_plugin.core.density_output import NODATA, crimes_in_areas, hotspot_areas, write_raster
from crime_mapping_plugin.core.kde import Grid

GRID = Grid(x_min=1000.0, y_max=2000.0, cell=10.0, rows=10, cols=10)


def test_hot_cells_are_dissolved_into_edge_connected_areas():
    hot = np.zeros((10, 10), dtype=bool)
    hot[1:3, 1:4] = True  # 6 cells
    hot[6:9, 6:8] = True  # 6 cells
    hot[5, 5] = True  # touches the block below only at a corner: its own area
    areas = hotspot_areas(GRID, hot)
    assert sorted(areas.cells.tolist()) == [1, 6, 6]
    assert sorted(ogr.CreateGeometryFromWkb(w).GetArea() for w in areas.polygons) == [100.0, 600.0, 600.0]
    assert np.array_equal(areas.labels > 0, hot)
    # Crimes by hand: two in the top-left block, one in the corner cell, one outside, one off the grid.
    x = np.array([1015.0, 1035.0, 1055.0, 1095.0, 900.0])
    y = np.array([1985.0, 1975.0, 1945.0, 1905.0, 1950.0])
    counts = crimes_in_areas(GRID, areas, x, y, np.ones(5, dtype=bool))
    by_size = dict(zip(areas.cells.tolist(), counts.tolist()))
    assert sorted(counts.tolist()) == [0, 1, 2] and by_size[1] == 1
    # The cells the caller found already give the same counts; a crime not counted (outside a study area) is not.
    assert crimes_in_areas(GRID, areas, x, y, np.ones(5, dtype=bool), GRID.cell_of(x, y)).tolist() == counts.tolist()
    counted = np.array([False, True, True, True, True])
    fewer = crimes_in_areas(GRID, areas, x, y, counted, GRID.cell_of(x, y))
    assert sorted(fewer.tolist()) == [0, 1, 1] and dict(zip(areas.cells.tolist(), fewer.tolist()))[1] == 1


def test_raster_is_float32_with_nodata_units_and_metadata(tmp_path):
    values = np.arange(100, dtype=float).reshape(10, 10)
    values[0, 0] = np.nan
    path = tmp_path / "d.tif"
    write_raster(str(path), GRID, values, 'LOCAL_CS["x"]', {"UNIT": "crimes per km²"}, "crimes per km²", "density")
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Float32 and band.GetNoDataValue() == NODATA
    assert band.GetUnitType() == "crimes per km²" and ds.GetMetadata()["UNIT"] == "crimes per km²"
    data = band.ReadAsArray()
    assert data[0, 0] == NODATA and data[9, 9] == 99.0
    assert ds.GetGeoTransform() == (1000.0, 10.0, 0.0, 2000.0, 0.0, -10.0)
    assert [p.name for p in tmp_path.iterdir()] == ["d.tif"]


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    with pytest.raises(Exception):  # noqa: B017 - whatever GDAL raises, no file may remain
        write_raster(str(tmp_path / "d.tif"), GRID, np.zeros((10, 10)), "not a CRS", {}, "", "")
    assert list(tmp_path.iterdir()) == []


def test_a_format_gdal_can_only_copy_into_is_written_too(tmp_path):
    values = np.arange(100, dtype=float).reshape(10, 10)
    crs = osr.SpatialReference()
    crs.ImportFromEPSG(27700)
    write_raster(str(tmp_path / "d.asc"), GRID, values, crs.ExportToWkt(), {}, "crimes", "density", driver="AAIGrid")
    data = gdal.Open(str(tmp_path / "d.asc")).ReadAsArray()
    assert data[9, 9] == 99.0 and data.shape == (10, 10)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_geotiff_is_lossless_deflate_in_tiles(tmp_path):
    # A grid larger than one 256-cell tile, with NoData, zeros and values over six orders of magnitude.
    rng = np.random.default_rng(15)
    values = rng.lognormal(0.0, 3.0, size=(300, 520))
    values[rng.random(values.shape) < 0.4] = np.nan
    values[:, :7] = 0.0
    grid = Grid(x_min=500000.0, y_max=190000.0, cell=50.0, rows=300, cols=520)
    path = tmp_path / "d.tif"
    write_raster(str(path), grid, values, 'LOCAL_CS["x"]', {}, "crimes per km²", "density")
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    expected = np.where(np.isnan(values), NODATA, values).astype(np.float32)
    assert np.array_equal(band.ReadAsArray().view(np.uint32), expected.view(np.uint32))  # bit for bit
    structure = ds.GetMetadata("IMAGE_STRUCTURE")
    assert structure["COMPRESSION"] == "DEFLATE" and "PREDICTOR" not in structure
    assert band.GetBlockSize() == [256, 256]
    assert path.stat().st_size < expected.nbytes  # compressed
