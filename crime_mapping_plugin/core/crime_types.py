"""Harmonised crime groups: a versioned mapping of every police.uk crime-type label onto stable groups.

police.uk changed its crime-type labels twice (May 2011 and May 2013). A trend over years must count
the same thing in every month, so each label is mapped onto a group whose meaning does not change.
The table is documented in docs/definitions.md; change it only by bumping GROUPS_VERSION.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUPS_VERSION = "crimemapping-groups-1 (2026-11)"

# Group names, in the order they are listed to users.
ASB = "Anti-social behaviour"
BURGLARY = "Burglary"
ROBBERY = "Robbery"
VEHICLE = "Vehicle crime"
VIOLENCE = "Violence and sexual offences"
DAMAGE = "Criminal damage and arson"
DRUGS = "Drugs"
THEFT = "Theft (other, bicycle, from the person)"
SHOPLIFTING = "Shoplifting"
PUBLIC_ORDER = "Public order and weapons"
OTHER = "Other crime"
UNMAPPED = "Unmapped label"

GROUPS: tuple[str, ...] = (
    ASB,
    BURGLARY,
    ROBBERY,
    VEHICLE,
    VIOLENCE,
    DAMAGE,
    DRUGS,
    THEFT,
    SHOPLIFTING,
    PUBLIC_ORDER,
    OTHER,
)


@dataclass(frozen=True)
class CrimeLabel:
    """One crime-type label as police.uk published it, with the months it was in use."""

    label: str
    group: str
    first_month: str
    last_month: str | None  # None: still in use


# First and last months follow the police.uk change log: categories introduced 2011-05, and the
# 2013-05 split of "Violent crime", "Public disorder and weapons" and "Other theft".
LABELS: tuple[CrimeLabel, ...] = (
    CrimeLabel("Anti-social behaviour", ASB, "2010-12", None),
    CrimeLabel("Burglary", BURGLARY, "2010-12", None),
    CrimeLabel("Robbery", ROBBERY, "2010-12", None),
    CrimeLabel("Vehicle crime", VEHICLE, "2010-12", None),
    CrimeLabel("Violent crime", VIOLENCE, "2010-12", "2013-04"),
    CrimeLabel("Violence and sexual offences", VIOLENCE, "2013-05", None),
    CrimeLabel("Criminal damage and arson", DAMAGE, "2011-05", None),
    CrimeLabel("Drugs", DRUGS, "2011-05", None),
    CrimeLabel("Other theft", THEFT, "2011-05", None),
    CrimeLabel("Bicycle theft", THEFT, "2013-05", None),
    CrimeLabel("Theft from the person", THEFT, "2013-05", None),
    CrimeLabel("Shoplifting", SHOPLIFTING, "2011-05", None),
    CrimeLabel("Public disorder and weapons", PUBLIC_ORDER, "2011-05", "2013-04"),
    CrimeLabel("Public order", PUBLIC_ORDER, "2013-05", None),
    CrimeLabel("Possession of weapons", PUBLIC_ORDER, "2013-05", None),
    CrimeLabel("Other crime", OTHER, "2010-12", None),
)

# Before 2011-05 "Other crime" also held the five categories introduced that month, so the groups are
# comparable over time from 2011-05 on; docs/definitions.md says which groups reach further back.

CURRENT_TYPES: tuple[str, ...] = tuple(lab.label for lab in LABELS if lab.last_month is None)
ALL_TYPES: tuple[str, ...] = tuple(lab.label for lab in LABELS)

_GROUP_OF = {lab.label.casefold(): lab.group for lab in LABELS}
_CANONICAL = {lab.label.casefold(): lab.label for lab in LABELS}


def group_of(label: str) -> str:
    """Return the harmonised group of a police.uk crime-type label, or UNMAPPED."""
    return _GROUP_OF.get(label.strip().casefold(), UNMAPPED)


def canonical_label(label: str) -> str | None:
    """Return the label spelt as police.uk spells it, or None when the label is unknown."""
    return _CANONICAL.get(label.strip().casefold())
