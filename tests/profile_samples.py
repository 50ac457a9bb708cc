"""A small ProfileSet with hostile names and real PNGs, for the website tests (tests/core and tests/ui)."""

from __future__ import annotations

from pathlib import Path

from crime_mapping_plugin.core import crime_types
from crime_mapping_plugin.core.profiles import LICENCE, AreaProfile, GroupLine, ProfileSet, RateLine

# Names that break careless HTML: markup, ampersands, quotes, apostrophes, Welsh accents, slashes.
HOSTILE = (
    ("E05000001", "St. Mary's & <St. Ann's>"),
    ("E05000002", 'Ynys Môn "Llŷn" / Pen-y-bont'),
    ("W05/../003", "Caerffili – Bargod's"),
)


def png(path: Path, colour: str, width: int = 400, height: int = 300) -> str:
    """Draw a real PNG (QImage) of a coloured box with a diagonal, as a stand-in for a QGIS rendering."""
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QColor, QImage, QPainter, QPen

    image = QImage(width, height, QImage.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.fillRect(20, 20, width - 40, height - 40, QColor(colour))
    painter.setPen(QPen(Qt.black, 3))
    painter.drawLine(20, 20, width - 20, height - 20)
    painter.end()
    assert image.save(str(path), "PNG")
    return str(path)


def sample_profiles(
    folder: Path, title: str = "Crime in St. Mary's & Pen-y-bont's wards, 2023-07 to 2024-06"
) -> ProfileSet:
    """Return a ProfileSet of three areas with hostile names, images drawn into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    profiles = []
    for number, (code, name) in enumerate(HOSTILE):
        groups = (
            GroupLine("Burglary", 120 + number, 100, 20.0 + number, 0.0004, "up, more than chance would explain"),
            GroupLine("Violence and sexual offences", 1234 + number, 1301, -5.149, 0.2371, "no change beyond chance"),
            GroupLine("Robbery", 0, None, None, None, "not enough crimes to tell"),
        ) + tuple(
            GroupLine(
                group,
                40 + 7 * i + number,
                45 + 5 * i,
                100.0 * (40 + 7 * i + number - 45 - 5 * i) / (45 + 5 * i),
                min(0.03 + 0.11 * i, 0.99),
                "down, more than chance would explain" if i == 0 else "no change beyond chance",
            )
            for i, group in enumerate(crime_types.GROUPS)
            if group not in ("Burglary", "Violence and sexual offences", "Robbery")
        )
        rates = (
            RateLine(name, 1354 + number, 12345.0, 109.68 + number, 103.9, 115.7),
            RateLine("Borough of <Test> & Co", 23456, 234567.4, 99.99, 98.7, 101.3),
            RateLine("London", 987654, 8799728.0, 112.236, 112.01, 112.46),
        )
        profiles.append(
            AreaProfile(
                code=code,
                name=name,
                parent_code="E09000001",
                parent_name="Borough of <Test> & Co",
                neighbours=tuple(c for c, _ in HOSTILE if c != code) + ("E05999999",),
                period="2023-07 to 2024-06",
                previous_period="2022-07 to 2023-06",
                missing_months="2023-09" if number == 1 else "",
                groups=groups,
                rates=rates,
                rate_verdict="higher than London, more than chance would explain" if number else "about London's rate",
                trend_verdict="no signal in the latest month",
                headline=("Higher than London", "About London's rate", "Higher than London")[number],
                map_png=png(folder / f"map_{number}.png", ("#d73027", "#fee08b", "#1a9850")[number]),
                chart_png=png(folder / f"chart_{number}.png", "#4575b4", 600, 250),
                map_alt=f"Map of {name} and its neighbours, with the crimes of the period",
                chart_alt=f"Monthly crimes in {name} with control limits; no signal",
            )
        )
    return ProfileSet(
        title=title,
        area_kind="ward",
        source="data.police.uk street-level crime, Metropolitan Police Service, 2022-07 to 2024-06",
        licence=LICENCE,
        definitions_url="definitions.html",
        definitions=(
            ("Rate per 1,000 residents", "Crimes in the 12 months for every 1,000 people living in the area."),
            ("More than chance would explain", "A difference this large would rarely happen by chance <alone>."),
        ),
        crimes_chosen="Burglary & robbery",
        profiles=tuple(profiles),
        index_map_png=png(folder / "index.png", "#fc8d59", 800, 600),
        index_map_alt="Map of the three wards coloured by their overall signal",
    )
