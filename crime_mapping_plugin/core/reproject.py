"""Reproject many points at once with the same coordinate operation QGIS chooses.

QgsCoordinateTransform works one point at a time from Python. police.uk points are snapped to a fixed
set of map points, so the distinct coordinates are transformed once each, in bulk through GDAL/OSR
using the PROJ pipeline QGIS instantiated for the layer's transform context.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from osgeo import osr
from qgis.core import QgsCoordinateTransform, QgsPointXY


class BulkTransformer:
    """Transform arrays of x, y with a QgsCoordinateTransform's own operation."""

    def __init__(self, transform: QgsCoordinateTransform) -> None:
        self.transform = transform
        self._osr = None
        if transform.isShortCircuited():
            return
        # The pipeline is known once QGIS has instantiated it, i.e. after a first transform.
        transform.transform(QgsPointXY(-0.1, 51.5))
        details = transform.instantiatedCoordinateOperationDetails()
        pipeline = getattr(details, "proj", "")
        if pipeline:
            try:
                options = osr.CoordinateTransformationOptions()
                options.SetOperation(pipeline)
                self._osr = osr.CreateCoordinateTransformation(None, None, options)
            except (RuntimeError, TypeError, AttributeError):
                self._osr = None

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return transformed copies of x and y; NaN in gives NaN out."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.transform.isShortCircuited() or len(x) == 0:
            return x.copy(), y.copy()
        ok = np.isfinite(x) & np.isfinite(y)
        # Hashing x + iy finds the distinct points far faster than sorting rows with np.unique(axis=0).
        codes, uniq = pd.factorize(x[ok] + 1j * y[ok])
        out = self._transform_unique(np.column_stack([uniq.real, uniq.imag]))
        rx = np.full(len(x), np.nan)
        ry = np.full(len(x), np.nan)
        rx[ok] = out[codes, 0]
        ry[ok] = out[codes, 1]
        return rx, ry

    def _transform_unique(self, pts: np.ndarray) -> np.ndarray:
        if len(pts) == 0:
            return np.zeros((0, 2))
        if self._osr is not None:
            res = np.asarray(self._osr.TransformPoints(pts), dtype=float)
            return res[:, :2]
        tr = self.transform.transform
        return np.array([(p.x(), p.y()) for p in (tr(QgsPointXY(a, b)) for a, b in pts)], dtype=float)
