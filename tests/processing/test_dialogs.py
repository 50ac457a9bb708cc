"""The algorithm dialogs: what the analyst must give is said so, and the ward polygons come first.

QGIS marks every optional parameter "[optional]"; an input that is needed but may come in one of two
parameters (kept for models and scripts) says so in its own label, and a run without either stops with a
message that names both.
"""

from __future__ import annotations

import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingParameterDefinition, QgsProject

from tests.conftest import SAMPLE

WARDS = SAMPLE / "boundaries" / "london_wards_2024.gpkg"


def _algorithm(provider, name: str):  # noqa: ANN202 - a QgsProcessingAlgorithm
    return provider.algorithm(name).create()


def _optional(definition: QgsProcessingParameterDefinition) -> bool:
    return bool(definition.flags() & QgsProcessingParameterDefinition.FlagOptional)


def _context() -> QgsProcessingContext:
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return context


def test_ward_rates_dialog_starts_with_the_ward_polygons(provider):
    alg = _algorithm(provider, "wardrates")
    names = [d.name() for d in alg.parameterDefinitions()]
    assert names[0] == "WARDS"
    assert not _optional(alg.parameterDefinition("WARDS"))
    # The wards' own fields follow the wards; the crimes come after them, the outputs last.
    assert names.index("WARD_CODE_FIELD") == 1
    assert names.index("POPULATION_FIELD") < names.index("CRIMES") < names.index("COUNTS_TABLE")
    assert names.index("COUNTS_TABLE") < names.index("START_MONTH") < names.index("OUTPUT")


def test_alternative_inputs_say_one_of_them_is_needed(provider):
    for alg_name, first, second, first_words, second_words in (
        ("importpoliceuk", "INPUT", "FOLDER", "the folder below", "the files above"),
        ("wardrates", "CRIMES", "COUNTS_TABLE", "a table of crime counts below", "crime points above"),
    ):
        alg = _algorithm(provider, alg_name)
        one, other = alg.parameterDefinition(first), alg.parameterDefinition(second)
        # Both stay optional (models and scripts give either); each label names the other.
        assert _optional(one) and _optional(other)
        assert first_words in one.description() and second_words in other.description()
        assert other.description().startswith("Or: ")


def test_import_without_files_or_folder_stops_with_a_clear_message(provider, run_alg, tmp_path):
    alg = _algorithm(provider, "importpoliceuk")
    ok, message = alg.checkParameterValues({"OUTPUT": str(tmp_path / "c.gpkg")}, _context())
    expected = "Choose the police.uk street files or zip archives, or a folder of police.uk downloads (one is needed)."
    assert not ok and message == expected
    with pytest.raises(QgsProcessingException, match="or a folder of police.uk downloads"):
        run_alg("crimemapping:importpoliceuk", {"OUTPUT": str(tmp_path / "c.gpkg")})
    assert not (tmp_path / "c.gpkg").exists()


def test_ward_rates_without_crimes_or_counts_stops_with_a_clear_message(provider, run_alg, tmp_path):
    alg = _algorithm(provider, "wardrates")
    base = {"WARDS": str(WARDS), "POPULATION_FIELD": "WD24CD", "OUTPUT": str(tmp_path / "r.gpkg")}
    ok, message = alg.checkParameterValues(base, _context())
    assert not ok and message == "Choose the crime points or a table of crime counts by ward code (one is needed)."
    both = {**base, "CRIMES": str(WARDS), "COUNTS_TABLE": str(WARDS)}
    ok, message = alg.checkParameterValues(both, _context())
    assert not ok and message.endswith("not both.")
    with pytest.raises(QgsProcessingException, match="one is needed"):
        run_alg("crimemapping:wardrates", base)
    assert not (tmp_path / "r.gpkg").exists()
