"""What the dock remembers, kept in the project (QgsProject custom properties), never in the QGIS profile.

A setting saved with one project must not reach another: a filter, a density maximum or rate breaks from an
earlier map would otherwise be applied to data they were not made for. Each value is stored under the scope
SCOPE of the project file, read back when the project is opened, and dropped when the project is cleared.
The fixed density maxima and rate breaks are kept per crime selection (the crimes chosen, not their months),
so that the next period of the same crimes is drawn alike while another selection starts from its own data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from qgis.core import QgsProject

from crime_mapping_plugin.core.crime_filter import CrimeFilter

SCOPE = "crime_mapping"


@dataclass
class ProjectSettings:
    """The dock's choices for one project."""

    store_path: str = ""  # the GeoPackage this project's police.uk imports are written to (owned by it)
    mps_path: str = ""  # the GeoPackage this project's MPS table import is written to
    # A PostGIS store instead: a saved QGIS connection (by name: its credentials stay in QGIS, an authcfg, never
    # in the project), and the schema and table the police.uk imports are written to.
    store_connection: str = ""
    store_schema: str = ""
    store_table: str = ""
    crimes_layer: str = ""  # id of the crimes layer the dock works on
    wards_layer: str = ""
    crime_filter: CrimeFilter = field(default_factory=CrimeFilter)
    bandwidth_m: float = 0.0
    cell_size_m: float = 0.0
    density_units: int = -1  # -1: the density algorithm's own default, as its dialog shows it
    gistar_cell_m: float = 0.0  # 0: the algorithm's own rule from the study area
    heatmap_radius: float = 300.0
    heatmap_max: float = 0.0
    density_maxima: dict[str, float] = field(default_factory=dict)  # crime selection → fixed ramp top
    rate_breaks: dict[str, list[float]] = field(default_factory=dict)  # crime selection → class breaks

    def write(self, project: QgsProject) -> None:
        """Store the settings in the project (saved with it)."""
        values = {
            "store_path": self.store_path,
            "mps_path": self.mps_path,
            "store_connection": self.store_connection,
            "store_schema": self.store_schema,
            "store_table": self.store_table,
            "crimes_layer": self.crimes_layer,
            "wards_layer": self.wards_layer,
            "filter": json.dumps(self.crime_filter.to_dict()),
            "bandwidth_m": repr(float(self.bandwidth_m)),
            "cell_size_m": repr(float(self.cell_size_m)),
            "density_units": str(int(self.density_units)),
            "gistar_cell_m": repr(float(self.gistar_cell_m)),
            "heatmap_radius": repr(float(self.heatmap_radius)),
            "heatmap_max": repr(float(self.heatmap_max)),
            "density_maxima": json.dumps(self.density_maxima),
            "rate_breaks": json.dumps(self.rate_breaks),
        }
        for key, value in values.items():
            if project.readEntry(SCOPE, key, "")[0] != value:
                project.writeEntry(SCOPE, key, value)

    @classmethod
    def read(cls, project: QgsProject) -> ProjectSettings:
        """Return the settings stored in the project (the defaults for a project without any)."""
        default = cls()

        def text(key: str) -> str:
            return project.readEntry(SCOPE, key, "")[0]

        def number(key: str, fallback: float) -> float:
            try:
                return float(text(key) or fallback)
            except ValueError:
                return fallback

        def loaded(key: str, fallback: object) -> object:
            try:
                value = json.loads(text(key) or "null")
            except ValueError:
                return fallback
            return value if isinstance(value, type(fallback)) else fallback

        return cls(
            store_path=text("store_path"),
            mps_path=text("mps_path"),
            store_connection=text("store_connection"),
            store_schema=text("store_schema"),
            store_table=text("store_table"),
            crimes_layer=text("crimes_layer"),
            wards_layer=text("wards_layer"),
            crime_filter=CrimeFilter.from_dict(loaded("filter", {})),
            bandwidth_m=number("bandwidth_m", default.bandwidth_m),
            cell_size_m=number("cell_size_m", default.cell_size_m),
            density_units=int(number("density_units", default.density_units)),
            gistar_cell_m=number("gistar_cell_m", default.gistar_cell_m),
            heatmap_radius=number("heatmap_radius", default.heatmap_radius),
            heatmap_max=number("heatmap_max", default.heatmap_max),
            density_maxima={str(k): float(v) for k, v in loaded("density_maxima", {}).items()},
            rate_breaks={str(k): [float(b) for b in v] for k, v in loaded("rate_breaks", {}).items()},
        )


def selection_key(crime_filter: CrimeFilter, units: int | None = None) -> str:
    """Return the key of a crime selection (crimes and forces, not months), with the density units if given."""
    key = json.dumps([sorted(crime_filter.crime_groups), sorted(crime_filter.crime_types), sorted(crime_filter.forces)])
    return key if units is None else f"{key} | units {units}"
