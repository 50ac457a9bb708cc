"""Shared fixtures: the real QGIS (pytest-qgis), Processing, and the plugin's provider registered once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "sample_data"
POLICE_UK = SAMPLE / "police_uk"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def provider(qgis_processing):  # noqa: ARG001 - initialises Processing first
    """Register the plugin's Processing provider for the session."""
    from qgis.core import QgsApplication

    from crime_mapping_plugin.processing.provider import PROVIDER_ID, CrimeMappingProvider

    registry = QgsApplication.processingRegistry()
    existing = registry.providerById(PROVIDER_ID)
    if existing is None:
        existing = CrimeMappingProvider()
        registry.addProvider(existing)
    return existing


@pytest.fixture(scope="session")
def run_alg(provider):  # noqa: ARG001
    """Return a function that runs one of our algorithms through processing.run."""
    from qgis import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    def run(alg_id: str, params: dict, feedback=None, context=None):
        context = context or QgsProcessingContext()
        context.setProject(QgsProject.instance())
        return processing.run(alg_id, params, feedback=feedback or QgsProcessingFeedback(), context=context)

    return run


@pytest.fixture(scope="session")
def postgis_cluster():
    """Start a throw-away PostgreSQL/PostGIS cluster for the session (tests/postgis.py); stop and remove it after."""
    from tests.postgis import start_cluster

    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.remove_connections()
        cluster.stop()


@pytest.fixture
def postgis_db(postgis_cluster):
    """Give each test a fresh PostGIS database on the session's cluster; the cluster's dbname names it."""
    from dataclasses import replace

    return replace(postgis_cluster, dbname=postgis_cluster.new_database(), _connections=postgis_cluster._connections)


@pytest.fixture(scope="session", autouse=True)
def _collect_before_qgis_exits(qgis_app):  # noqa: ARG001 - set up after QGIS, so torn down before it exits
    """Free the session's cyclic garbage (layers, layouts, tasks) while QGIS is still running.

    pytest 9 collects garbage again after the session, by then after QGIS has exited: a QGIS object freed that late
    (an OGR dataset, a layout) crashes Python 3.13 with a segmentation fault although every test passed.
    """
    yield
    import gc

    from qgis.core import QgsProject

    QgsProject.instance().clear()
    for _ in range(3):
        gc.collect()


def pytest_configure(config):  # noqa: ARG001
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
