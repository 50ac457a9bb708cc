"""A filter on imported crimes (months, crime types or groups, forces) as a subset string and a label.

The dock applies it to the imported GeoPackage layer as a provider subset string, so that every
Processing algorithm run on that layer sees only the chosen crimes, and names its outputs after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crime_mapping_plugin.core.months import MonthRange, month_parameter

# Field names written by crimemapping:importpoliceuk (core.policeuk.OUTPUT_FIELDS).
MONTH_FIELD = "month"
TYPE_FIELD = "crime_type"
GROUP_FIELD = "crime_group"
FORCE_FIELD = "reported_by"


def quote_value(value: str) -> str:
    """Return value as an SQL string literal, single quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def quote_field(name: str) -> str:
    """Return name as an SQL identifier, double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class CrimeFilter:
    """The analyst's choice of crimes: inclusive months (YYYY-MM), crime types, groups and forces."""

    start_month: str = ""
    end_month: str = ""
    crime_types: list[str] = field(default_factory=list)
    crime_groups: list[str] = field(default_factory=list)
    forces: list[str] = field(default_factory=list)

    def validate(self) -> None:
        """Raise ValueError, in words an analyst understands, when the months are malformed or reversed."""
        MonthRange(month_parameter(self.start_month, "first month"), month_parameter(self.end_month, "last month"))

    def subset_string(self) -> str:
        """Return the SQL WHERE clause selecting these crimes from an imported layer ('' selects all)."""
        self.validate()
        clauses = []
        if self.start_month.strip():
            clauses.append(f"{quote_field(MONTH_FIELD)} >= {quote_value(self.start_month.strip() + '-01')}")
        if self.end_month.strip():
            clauses.append(f"{quote_field(MONTH_FIELD)} <= {quote_value(self.end_month.strip() + '-01')}")
        for name, values in (
            (TYPE_FIELD, self.crime_types),
            (GROUP_FIELD, self.crime_groups),
            (FORCE_FIELD, self.forces),
        ):
            if values:
                clauses.append(f"{quote_field(name)} IN ({', '.join(quote_value(v) for v in values)})")
        return " AND ".join(clauses)

    def period_label(self) -> str:
        """Return the period in words, e.g. '2024-10 to 2024-12', 'from 2024-10' or 'all months'."""
        start, end = self.start_month.strip(), self.end_month.strip()
        if start and end:
            return start if start == end else f"{start} to {end}"
        if start:
            return f"from {start}"
        if end:
            return f"to {end}"
        return "all months"

    def crimes_label(self) -> str:
        """Return the crimes chosen in words, e.g. 'Burglary' or 'all crime types'."""
        chosen = list(self.crime_groups) + list(self.crime_types)
        if not chosen:
            text = "all crime types"
        elif len(chosen) <= 3:
            text = ", ".join(chosen)
        else:
            text = f"{', '.join(chosen[:2])} and {len(chosen) - 2} more"
        if self.forces:
            text += " (" + ", ".join(self.forces) + ")"
        return text

    def label(self) -> str:
        """Return 'crimes, period': the name of the layer group the dock puts its maps in."""
        return f"{self.crimes_label()}, {self.period_label()}"

    def to_dict(self) -> dict:
        """Return the filter as plain values, to be remembered in the settings."""
        return {
            "start_month": self.start_month,
            "end_month": self.end_month,
            "crime_types": list(self.crime_types),
            "crime_groups": list(self.crime_groups),
            "forces": list(self.forces),
        }

    @classmethod
    def from_dict(cls, data: dict) -> CrimeFilter:
        """Return the filter remembered by to_dict (unknown keys ignored)."""

        def strings(key: str) -> list[str]:
            value = data.get(key) or []
            return [str(v) for v in ([value] if isinstance(value, str) else value) if str(v)]

        return cls(
            str(data.get("start_month") or ""),
            str(data.get("end_month") or ""),
            strings("crime_types"),
            strings("crime_groups"),
            strings("forces"),
        )
