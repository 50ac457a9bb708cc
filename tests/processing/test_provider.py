"""The provider registers under id 'crimemapping' and every algorithm is complete enough for the toolbox."""

from qgis.core import QgsApplication


def test_provider_lists_the_import_algorithms(provider):
    ids = {alg.id() for alg in provider.algorithms()}
    assert {"crimemapping:importpoliceuk", "crimemapping:importmpswardcrime"} <= ids


def test_every_algorithm_has_help_tags_and_parameter_help(provider):
    for alg in provider.algorithms():
        assert alg.shortHelpString(), alg.id()
        assert alg.tags(), alg.id()
        assert alg.groupId() == alg.groupId().lower()
        for param in alg.parameterDefinitions():
            assert param.help(), f"{alg.id()}: {param.name()} has no help text"


def test_algorithms_are_found_through_the_registry(provider):
    registry = QgsApplication.processingRegistry()
    alg = registry.createAlgorithmById("crimemapping:importpoliceuk")
    assert alg is not None and alg.provider().id() == "crimemapping"
