"""The dock's Publish action driven as an analyst would: crimes, wards and residents chosen, Publish, the site opens."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from qgis.core import Qgis
from qgis.PyQt.QtCore import QUrl

from crime_mapping_plugin.core.profile_site import page_names
from crime_mapping_plugin.ui.dock import CrimeMappingDock
from tests.conftest import SAMPLE
from tests.html_pages import parse, table_rows
from tests.ui.conftest import wait_for

CITY_CRIMES = SAMPLE / "police_uk_city_of_london_2023-05_2025-05.zip"
CHOSEN = {"E05009288": "Aldersgate", "E05009312": "Walbrook"}  # two City wards, as the ONS boundaries name them


@pytest.fixture()
def dock(controller):
    widget = CrimeMappingDock(None, controller)
    opened: list[QUrl] = []
    widget.open_url = opened.append  # the analyst's browser
    widget.opened = opened
    yield widget
    widget.deleteLater()


def _ward_names(wards) -> dict[str, str]:
    return {f["WD24CD"]: f["WD24NM"] for f in wards.getFeatures() if f["WD24CD"] in CHOSEN}


def test_publish_writes_the_profiles_of_the_chosen_wards_and_opens_the_website(dock, wards, ward_population):
    assert _ward_names(wards) == CHOSEN
    dock.set_paths([str(CITY_CRIMES)])
    dock.load_button.click()
    wait_for(dock.controller)
    assert dock.controller.state.crimes is not None and dock.controller.selected_count > 0
    dock.wards_combo.setLayer(wards)
    dock.population_combo.setLayer(ward_population)
    assert dock.population_field_combo.currentField() == "population"
    dock.publish_subset_edit.setText(", ".join(CHOSEN))
    assert dock.publish()
    assert not dock.publish_button.isEnabled() and dock.controller.is_busy()
    wait_for(dock.controller)
    ctl = dock.controller
    assert ctl.last_message[1] == Qgis.Success, ctl.last_message
    assert ctl.last_message[0].startswith("Published 2 area profiles (")
    assert dock.publish_button.isEnabled() and dock.open_site_button.isEnabled()
    assert dock.opened == [QUrl.fromLocalFile(ctl.website)]
    assert ctl.website.startswith(ctl.output_dir()) and ctl.website.endswith("index.html")
    site = Path(ctl.website).parent
    pages = page_names(str(site))
    assert sorted(pages) == sorted(CHOSEN)
    rows = table_rows(parse(site / "index.html").find_all("table")[0])
    assert sorted(row[0] for row in rows) == sorted(CHOSEN.values())
    info = subprocess.run(["pdfinfo", ctl.publication["PDF"]], capture_output=True, text=True, check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) == 2  # one PDF page per ward too
    dock.open_site_button.click()
    assert dock.opened[-1] == QUrl.fromLocalFile(ctl.website)


def test_publish_says_what_to_choose_before_it_can_run(dock, controller):
    assert dock.publish() is False
    assert controller.last_message == ("Load police.uk crimes before publishing area profiles.", Qgis.Warning)
    assert not controller.is_busy() and dock.opened == []
