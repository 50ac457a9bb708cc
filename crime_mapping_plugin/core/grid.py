"""The one raster grid of the plugin: north-up square cells from a top-left origin.

Hotspot density evaluates its surface at the centres of such a grid; Gi*'s square cells are cells of one
aligned to multiples of the cell size (`aligned_grid`), so that the grids of different runs line up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: origin at the top-left corner (x_min, y_max), square cells."""

    x_min: float
    y_max: float
    cell: float
    rows: int
    cols: int

    @property
    def x_max(self) -> float:
        return self.x_min + self.cols * self.cell

    @property
    def y_min(self) -> float:
        return self.y_max - self.rows * self.cell

    @property
    def size(self) -> int:
        return self.rows * self.cols

    def geotransform(self) -> tuple[float, float, float, float, float, float]:
        """Return the GDAL geotransform of the grid."""
        return (self.x_min, self.cell, 0.0, self.y_max, 0.0, -self.cell)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the x of each column's centre and the y of each row's centre."""
        return (
            self.x_min + (np.arange(self.cols) + 0.5) * self.cell,
            self.y_max - (np.arange(self.rows) + 0.5) * self.cell,
        )

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the row and column of each point and whether it lies on the grid."""
        col = np.floor((np.asarray(x, float) - self.x_min) / self.cell).astype(np.int64)
        row = np.floor((self.y_max - np.asarray(y, float)) / self.cell).astype(np.int64)
        on = (col >= 0) & (col < self.cols) & (row >= 0) & (row < self.rows)
        return row, col, on


def aligned_grid(cell: float, x_min: float, y_min: float, x_max: float, y_max: float) -> Grid:
    """Return the grid of cells at multiples of the cell size (from 0, 0) that covers the extent, edges included.

    A cell spans [k·cell, (k + 1)·cell) on each axis, so a point on a cell line belongs to the cell east or
    north of it; the extent's own east and north edges fall in the last column and top row.
    """
    if not cell > 0:
        raise ValueError("The cell size must be greater than 0 metres.")
    c0, c1 = math.floor(x_min / cell), math.floor(x_max / cell)
    r0, r1 = math.floor(y_min / cell), math.floor(y_max / cell)
    return Grid(c0 * cell, (r1 + 1) * cell, float(cell), r1 - r0 + 1, c1 - c0 + 1)
