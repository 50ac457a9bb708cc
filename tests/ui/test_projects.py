"""Two projects side by side, saved, closed and reopened: each keeps its own crimes, store and settings."""

from __future__ import annotations

import os

import pytest
from qgis.core import Qgis, QgsProject, QgsVectorLayer

from crime_mapping_plugin.core.crime_filter import CrimeFilter
from crime_mapping_plugin.ui.dock import CrimeMappingDock, checked_items
from tests.conftest import POLICE_UK
from tests.ui.conftest import wait_for, wait_signal


def csv_rows(folder) -> int:
    """Hand count of the data rows in the street files (lines but the header)."""
    return sum(len(p.read_text().splitlines()) - 1 for p in folder.rglob("*-street.csv"))


def reopen(path) -> None:
    """Close the project and open the saved file, as File › Open does."""
    project = QgsProject.instance()
    project.clear()
    assert project.read(str(path))


@pytest.fixture()
def fresh(controller):
    """The controller on a new, unsaved project with no store chosen."""
    QgsProject.instance().clear()
    return controller


def load_and_save(controller, source, project_file) -> QgsVectorLayer:
    QgsProject.instance().setFileName(str(project_file))
    assert controller.import_police_uk([str(source)]), controller.messages
    wait_for(controller)
    assert controller.last_message[1] == Qgis.Success, controller.messages
    assert QgsProject.instance().write()
    return controller.state.crimes


def test_an_unsaved_project_asks_for_a_store_rather_than_sharing_one(fresh):
    assert fresh.store_path == ""
    assert not fresh.import_police_uk([str(POLICE_UK)])
    assert fresh.last_message == (
        "Save the project first (the crimes are kept beside it), or choose a new file to keep them in.",
        Qgis.Warning,
    )
    assert not fresh.is_busy()


def test_two_projects_keep_their_own_crimes_after_save_close_reopen(fresh, tmp_path):
    folder = tmp_path / "projects"
    folder.mkdir()
    first = load_and_save(fresh, POLICE_UK, folder / "london.qgz")
    first_store = fresh.store_path
    assert first_store == str(folder / "london_crimes.gpkg")
    all_rows = first.featureCount()
    assert all_rows == QgsVectorLayer(first_store, "check", "ogr").featureCount() > 0

    # A second, unsaved project cannot be pointed at the first one's store: it is refused, not overwritten.
    QgsProject.instance().clear()
    assert fresh.store_path == ""
    assert not fresh.set_store_path(first_store)
    assert "is not this project's store" in fresh.last_message[0]
    # Saved under a name whose default store already exists (the first project's file copied there), it gets
    # a new file beside it.
    os.link(first_store, folder / "december_crimes.gpkg")
    second = load_and_save(fresh, POLICE_UK / "2024-12", folder / "december.qgz")
    assert fresh.store_path == str(folder / "december_crimes_2.gpkg")
    december = second.featureCount()
    assert 0 < december < all_rows

    reopen(folder / "london.qgz")
    assert fresh.state.crimes is not None, fresh.messages  # the dock knows its crimes layer again
    assert fresh.store_path == first_store
    assert fresh.state.crimes.featureCount() == all_rows == fresh.selected_count
    assert QgsVectorLayer(first_store, "check", "ogr").featureCount() == all_rows
    reopen(folder / "december.qgz")
    assert fresh.state.crimes.featureCount() == december
    assert fresh.store_path == str(folder / "december_crimes_2.gpkg")


def test_reimporting_in_the_same_project_replaces_its_own_store(fresh, tmp_path):
    load_and_save(fresh, POLICE_UK, tmp_path / "one.qgz")
    store = fresh.store_path
    assert fresh.import_police_uk([str(POLICE_UK / "2024-12")])
    wait_for(fresh)
    assert fresh.store_path == store
    assert fresh.import_counts["months"] == ["2024-12"]
    assert QgsVectorLayer(store, "check", "ogr").featureCount() == fresh.import_counts["written"]


def test_settings_belong_to_the_project_and_are_shown_when_it_reopens(fresh, tmp_path):
    dock = CrimeMappingDock(None, fresh)
    load_and_save(fresh, POLICE_UK, tmp_path / "burglary.qgz")
    fresh.apply_filter(CrimeFilter("2024-11", "2024-12", crime_groups=["Burglary"]))
    burglaries = fresh.selected_count
    fresh.density_max = 4.5
    fresh.save_settings()
    assert QgsProject.instance().write()

    # A new project starts from nothing: no filter, no fixed maximum, and a new import is unfiltered.
    QgsProject.instance().clear()
    assert fresh.state.crime_filter == CrimeFilter()
    assert checked_items(dock.group_list) == []
    load_and_save(fresh, POLICE_UK, tmp_path / "all.qgz")
    assert fresh.state.crimes.subsetString() == ""
    assert fresh.selected_count == fresh.import_counts["written"]
    assert dock.count_label.text() == f"{fresh.selected_count:,} crimes selected"
    fresh.state.crime_filter = CrimeFilter(crime_groups=["Burglary"])
    assert fresh.density_max == 0.0  # burglary's maximum of the other project does not reach this one

    reopen(tmp_path / "burglary.qgz")
    # The filter the project was saved with is applied and shown, with its count.
    assert fresh.state.crime_filter == CrimeFilter("2024-11", "2024-12", crime_groups=["Burglary"])
    assert fresh.state.crimes.subsetString() == fresh.state.crime_filter.subset_string()
    assert fresh.selected_count == burglaries
    assert checked_items(dock.group_list) == ["Burglary"]
    assert (dock.start_combo.currentData(), dock.end_combo.currentData()) == ("2024-11", "2024-12")
    assert dock.count_label.text() == f"{burglaries:,} crimes selected"
    assert fresh.density_max == 4.5
    assert dock.density_max_spin.value() == 4.5
    # Another crime selection in the same project starts from its own data.
    fresh.apply_filter(CrimeFilter("2024-11", "2024-12", crime_groups=["Robbery"]))
    assert fresh.density_max == 0.0
    dock.deleteLater()


def test_reopening_restores_the_layer_through_the_read_signal(fresh, tmp_path):
    load_and_save(fresh, POLICE_UK, tmp_path / "signal.qgz")
    layer_id = fresh.state.crimes.id()
    QgsProject.instance().clear()
    assert fresh.state.crimes is None
    changed = []
    fresh.layer_changed.connect(lambda: changed.append(fresh.state.crimes))
    QgsProject.instance().read(str(tmp_path / "signal.qgz"))
    assert changed and changed[-1] is not None and changed[-1].id() == layer_id


def test_the_months_listed_are_those_with_records_and_the_gaps_are_said(fresh, tmp_path):
    # Two months a month apart: the span holds three calendar months, one without any record.
    source = tmp_path / "gap"
    for month in ("2024-10", "2024-12"):
        (source / month).mkdir(parents=True)
        for csv in (POLICE_UK / month).glob("*-street.csv"):
            (source / month / csv.name).write_bytes(csv.read_bytes())
    dock = CrimeMappingDock(None, fresh)
    load_and_save(fresh, source, tmp_path / "gap.qgz")
    assert [dock.start_combo.itemData(i) for i in range(dock.start_combo.count())] == ["", "2024-10", "2024-12"]
    expected = "2024-10 to 2024-12: 2 of 3 months have records; 1 without any record (missing data, not zero): 2024-11"
    assert dock.data_months_label.text() == expected
    assert fresh.state.crimes.name() == f"police.uk crimes, {expected}"
    assert fresh.import_counts["read"] == csv_rows(source)
    dock.deleteLater()


def test_the_dock_waits_on_the_run_finished_signal(fresh, tmp_path):
    QgsProject.instance().setFileName(str(tmp_path / "wait.qgz"))
    assert fresh.import_police_uk([str(POLICE_UK / "2024-10")])
    key, ok = wait_signal(fresh.run_finished)
    assert (key, ok) == ("import", True)
