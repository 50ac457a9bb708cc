"""The dock keeps a project's crimes in a table of a saved PostGIS connection: imported, loaded, reloaded.

Against the session's real PostGIS server. The project keeps the connection's name, the schema and the table;
the credentials stay in QGIS's authentication database (an authcfg): the project file never holds the password.
"""

from __future__ import annotations

from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsProject, QgsVectorLayer

from crime_mapping_plugin.ui.project_settings import ProjectSettings
from tests.conftest import POLICE_UK
from tests.ui.conftest import wait_for


def _authcfg(cluster) -> str:
    manager = QgsApplication.authManager()
    if not manager.masterPasswordIsSet():
        assert manager.setMasterPassword("crimemapping-tests", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("crimemapping store test")
    config.setConfig("username", cluster.user)
    config.setConfig("password", cluster.password)
    ok, config = manager.storeAuthenticationConfig(config)
    assert ok
    return config.id()


def test_imports_go_to_a_postgis_table_and_the_project_keeps_no_password(controller, postgis_db, tmp_path):
    authcfg = _authcfg(postgis_db)
    name = postgis_db.save_connection(f"store {postgis_db.dbname}", authcfg=authcfg)
    assert name in controller.postgis_connections()
    assert controller.set_store_postgis(name, "public", "met_crimes"), controller.messages
    assert controller.import_police_uk([str(POLICE_UK)]), controller.messages
    wait_for(controller)
    layer = controller.state.crimes
    assert isinstance(layer, QgsVectorLayer) and layer.providerType() == "postgres"
    assert layer.featureCount() == 16142 == int(postgis_db.psql("SELECT count(*) FROM public.met_crimes"))
    assert postgis_db.password not in layer.source() and authcfg in layer.source()
    # Saved and opened again: the same table, the same store, and no password anywhere in the file.
    project_file = tmp_path / "team.qgs"
    assert QgsProject.instance().write(str(project_file))
    assert postgis_db.password not in project_file.read_text(encoding="utf-8")
    QgsProject.instance().clear()
    assert QgsProject.instance().read(str(project_file))
    prefs = ProjectSettings.read(QgsProject.instance())
    assert (prefs.store_connection, prefs.store_schema, prefs.store_table) == (name, "public", "met_crimes")
    reloaded = controller.state.crimes
    assert reloaded is not None and reloaded.providerType() == "postgres" and reloaded.featureCount() == 16142
    # Loading again replaces the table's layer rather than doubling it.
    assert controller.import_police_uk([str(POLICE_UK / "2024-12")]), controller.messages
    wait_for(controller)
    postgres_layers = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.providerType() == "postgres"]
    assert len(postgres_layers) == 1
    expected = int(postgis_db.psql("SELECT count(*) FROM public.met_crimes"))
    assert postgres_layers[0].featureCount() == expected and 0 < expected < 16142
    QgsApplication.authManager().removeAuthenticationConfig(authcfg)


def test_a_connection_holding_its_password_or_another_projects_table_is_refused(controller, postgis_db):
    from qgis.core import QgsProviderRegistry

    metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
    with_password = f"plain {postgis_db.dbname}"
    connection = metadata.createConnection(postgis_db.uri().uri(False), {"saveUsername": True, "savePassword": True})
    metadata.saveConnection(connection, with_password)
    assert postgis_db.password in metadata.connections()[with_password].uri()
    assert not controller.set_store_postgis(with_password, "public", "crimes")
    assert "authentication configuration" in controller.messages[-1][0]
    postgis_db.psql("CREATE TABLE public.someone_elses (id int)")
    authcfg = _authcfg(postgis_db)
    name = postgis_db.save_connection(f"auth {postgis_db.dbname}", authcfg=authcfg)
    assert not controller.set_store_postgis(name, "public", "someone_elses")
    assert "already exists" in controller.messages[-1][0]
    assert controller.prefs.store_connection == ""
    metadata.deleteConnection(with_password)
    QgsApplication.authManager().removeAuthenticationConfig(authcfg)


def test_the_dock_offers_the_saved_connections_and_loads_into_the_table_typed(controller, postgis_db):
    from crime_mapping_plugin.ui.dock import CrimeMappingDock

    authcfg = _authcfg(postgis_db)
    name = postgis_db.save_connection(f"dock {postgis_db.dbname}", authcfg=authcfg)
    dock = CrimeMappingDock(None, controller)
    try:
        dock._restore()  # the connection was saved after the dock was made: the dock lists them afresh
        offered = [dock.pg_combo.itemData(i) for i in range(dock.pg_combo.count())]
        assert offered[0] == "" and name in offered
        dock.pg_combo.setCurrentIndex(offered.index(name))
        dock.pg_table_edit.setText("analysis.crimes_2024")
        postgis_db.psql("CREATE SCHEMA analysis")
        dock.set_paths([str(POLICE_UK / "2024-11")])
        dock.load_button.click()
        wait_for(controller)
        layer = controller.state.crimes
        assert layer is not None and layer.providerType() == "postgres"
        expected = int(postgis_db.psql("SELECT count(*) FROM analysis.crimes_2024"))
        assert layer.featureCount() == expected > 5000
        assert (controller.prefs.store_schema, controller.prefs.store_table) == ("analysis", "crimes_2024")
    finally:
        dock.deleteLater()
        QgsApplication.authManager().removeAuthenticationConfig(authcfg)
