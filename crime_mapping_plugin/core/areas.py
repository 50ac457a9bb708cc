"""Areas (wards, boroughs, a study area, the user's own polygons) and which area a crime is in.

The one rule (docs/methods.md, "Which area a crime is in"): a crime is in an area when its own location is
inside the area or on its boundary. A crime in more than one area (on a shared boundary, or where areas
overlap) is counted once, in the area whose code sorts first (codes compared as text); areas read without a
code field are ordered by their centroid, west to east, then south to north. The order never depends on
the order of the features in the file. A crime is inside a study area when its own location is, by the
same rule. Ward rates, Gi* on polygons, hotspot density's study area and Gi*'s study area all use this.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsFeatureRequest,
    QgsFeatureSource,
    QgsGeometry,
    QgsWkbTypes,
)

from crime_mapping_plugin.core import point_in_polygon as pip
from crime_mapping_plugin.core.text import short_list

BOUNDARY_RULE = (
    "A crime on a shared boundary or in an overlap is counted once, in the area whose code sorts first; "
    "boundary points are inside."
)


class AreaInputError(ValueError):
    """An area layer that cannot be used; the message names the layer and field."""


@dataclass
class Areas:
    """Areas in assignment order (by code, or by centroid without codes), in one CRS.

    source_index gives each area's position in the layer as read; empty lists the areas with no geometry
    (they keep their place, and no crime is ever in them); attributes holds the fields asked for.
    """

    codes: list[str]
    geometries: list[QgsGeometry]
    edges: list[pip.Edges]
    attributes: dict[str, list] = field(default_factory=dict)
    source_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    empty: list[int] = field(default_factory=list)
    layer_name: str = ""

    def __len__(self) -> int:
        return len(self.codes)

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the x and y of each area's centroid (NaN for an empty area)."""
        cx = np.full(len(self), np.nan)
        cy = np.full(len(self), np.nan)
        for i, g in enumerate(self.geometries):
            if not g.isNull() and not g.isEmpty():
                p = g.centroid().asPoint()
                cx[i], cy[i] = p.x(), p.y()
        return cx, cy


def _blank(value: object) -> bool:
    return value is None or (hasattr(value, "isNull") and value.isNull()) or str(value).strip() == ""


def edges_of(geometry: QgsGeometry) -> pip.Edges:
    """Return the edges of a (multi)polygon geometry, curves segmentised; no edges for an empty one."""
    if geometry is None or geometry.isNull() or geometry.isEmpty():
        return pip.edges_from_rings([])
    geom = geometry.constGet()
    if QgsWkbTypes.isCurvedType(geom.wkbType()):
        geom = geom.segmentize()
    return pip.edges_from_rings(pip.rings_from_wkb(bytes(QgsGeometry(geom.clone()).asWkb())))


def read_areas(
    source: QgsFeatureSource,
    crs: QgsCoordinateReferenceSystem | None,
    transform_context: QgsCoordinateTransformContext | None,
    code_field: str | None = None,
    fields: Sequence[str] = (),
    what: str = "area",
    is_cancelled: Callable[[], bool] = lambda: False,
) -> Areas:
    """Read the polygons of a layer (in crs when given) in the rule's order, with the fields asked for.

    With a code field every area needs a unique, non-blank code (AreaInputError otherwise); without one the
    areas are ordered by centroid. Areas with no geometry are kept (listed in empty) so that none is lost.
    """
    name = source.sourceName()
    names = source.fields().names()
    for f in [code_field, *fields]:
        if f and f not in names:
            raise AreaInputError(f"The {what} layer '{name}' has no field '{f}'; its fields are: {', '.join(names)}.")
    wanted = list(dict.fromkeys([f for f in [code_field, *fields] if f]))
    request = QgsFeatureRequest().setSubsetOfAttributes(wanted, source.fields())
    if crs is not None:
        request.setDestinationCrs(crs, transform_context or QgsCoordinateTransformContext())
    codes: list[str] = []
    geoms: list[QgsGeometry] = []
    attrs: dict[str, list] = {f: [] for f in fields}
    for n, feature in enumerate(source.getFeatures(request)):
        if n % 1000 == 0 and is_cancelled():
            raise InterruptedError("cancelled")
        if code_field:
            code = feature[code_field]
            if _blank(code):
                raise AreaInputError(
                    f"Feature {feature.id()} of the {what} layer '{name}' has no code in '{code_field}': "
                    "every area needs a unique code."
                )
            codes.append(str(code).strip())
        for f in fields:
            value = feature[f]
            attrs[f].append(None if value is None or (hasattr(value, "isNull") and value.isNull()) else value)
        g = QgsGeometry(feature.geometry())
        if not g.isNull() and not g.isEmpty():
            g.convertToMultiType()
            g.get().dropZValue()
            g.get().dropMValue()
        geoms.append(g)
    if code_field:
        repeated = sorted(code for code, n in Counter(codes).items() if n > 1)
        if repeated:
            raise AreaInputError(
                f"Codes must be unique in '{code_field}' of the {what} layer '{name}'; repeated: "
                f"{short_list(repeated)}. Dissolve the layer by code or choose another code field."
            )
        order = np.array(sorted(range(len(codes)), key=codes.__getitem__), dtype=np.int64)
    else:
        cx = np.full(len(geoms), np.inf)
        cy = np.full(len(geoms), np.inf)
        for i, g in enumerate(geoms):
            if not g.isNull() and not g.isEmpty():
                p = g.centroid().asPoint()
                cx[i], cy[i] = p.x(), p.y()
        order = np.lexsort((cy, cx)).astype(np.int64)
        codes = [str(int(i) + 1) for i in range(len(geoms))]
    geoms = [geoms[i] for i in order]
    codes = [codes[i] for i in order] if code_field else codes
    return Areas(
        codes=codes,
        geometries=geoms,
        edges=[edges_of(g) for g in geoms],
        attributes={f: [v[i] for i in order] for f, v in attrs.items()},
        source_index=order,
        empty=[i for i, g in enumerate(geoms) if g.isNull() or g.isEmpty()],
        layer_name=name,
    )


def assign(
    areas: Areas,
    x: np.ndarray,
    y: np.ndarray,
    is_cancelled: Callable[[], bool] | None = None,
    progress: Callable[[float], None] | None = None,
) -> pip.Assignment:
    """Return the area of each crime by the rule (−1 outside every area), and the counts per area."""
    shapes = [bytes(g.asWkb()) for g in areas.geometries]
    return pip.assign_points(x, y, areas.edges, is_cancelled, progress, shapes=shapes)


def inside(
    areas: Areas,
    x: np.ndarray,
    y: np.ndarray,
    is_cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Return which crimes are inside (or on the boundary of) any of the areas: the study-area rule."""
    return assign(areas, x, y, is_cancelled).polygon >= 0
