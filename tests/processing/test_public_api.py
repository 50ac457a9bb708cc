"""Parameter ids and output names are public API: models, batch files and qgis_process scripts use them.

tests/data/public_api.json lists every id and name that has been released (made with the provider of the
release); each must still exist with the same meaning. New optional parameters and new outputs may be added.
"""

from __future__ import annotations

import json

from tests.conftest import TEST_DATA


def test_every_released_parameter_and_output_still_exists(provider):
    released = json.loads((TEST_DATA / "public_api.json").read_text(encoding="utf-8"))
    algorithms = {a.id(): a for a in provider.algorithms()}
    for alg_id, names in released.items():
        assert alg_id in algorithms, alg_id
        alg = algorithms[alg_id]
        parameters = {d.name() for d in alg.parameterDefinitions()}
        outputs = {o.name() for o in alg.outputDefinitions()}
        assert set(names["parameters"]) <= parameters, (alg_id, set(names["parameters"]) - parameters)
        assert set(names["outputs"]) <= outputs, (alg_id, set(names["outputs"]) - outputs)


def test_parameters_added_since_the_release_are_optional(provider):
    from qgis.core import QgsProcessingParameterDefinition

    released = json.loads((TEST_DATA / "public_api.json").read_text(encoding="utf-8"))
    for alg in provider.algorithms():
        old = set(released.get(alg.id(), {}).get("parameters", []))
        for definition in alg.parameterDefinitions():
            if alg.id() in released and definition.name() not in old:
                optional = definition.flags() & QgsProcessingParameterDefinition.FlagOptional
                has_default = definition.defaultValue() is not None
                assert optional or has_default, (alg.id(), definition.name())
