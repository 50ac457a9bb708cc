"""crimemapping:importpoliceuk into PostGIS on the real bundled months, against a real server (tests/postgis.py):
the same rows, values and field types as the GeoPackage import (both read back with OGR), a GiST index, the
metadata in the table comment, all or nothing, and no password in any message, output or saved project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from osgeo import ogr
from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingUtils,
    QgsProject,
    QgsVectorLayer,
)

from tests.conftest import POLICE_UK, ROOT
from tests.processing.test_import_police_uk_output import CancelAtFirstProgress
from tests.processing.test_import_police_uk_rows import assert_accounted, count_lines

ALG = "crimemapping:importpoliceuk"
CITY = sorted(POLICE_UK.glob("*/*-city-of-london-street.csv"))
MET = sorted(POLICE_UK.glob("*/*-metropolitan-street.csv"))


def destination(db, table: str, schema: str = "public", prefix: str = "postgres://", **kwargs) -> str:
    return db.destination(table, schema, prefix, **kwargs)


class Recorder(QgsProcessingFeedback):
    """Keep every line the algorithm writes to the log."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def pushInfo(self, info):  # noqa: N802
        self.lines.append(info)
        super().pushInfo(info)

    def pushWarning(self, warning):  # noqa: N802
        self.lines.append(warning)
        super().pushWarning(warning)

    def reportError(self, error, fatalError=False):  # noqa: N802, N803
        self.lines.append(error)
        super().reportError(error, fatalError)

    def setProgressText(self, text):  # noqa: N802
        self.lines.append(text)
        super().setProgressText(text)


def read_ogr(source: str, layer_name: str | None = None):
    """Return ({field: OGR type name}, rows sorted by fid as (fid, x, y, values…)) of a layer read with OGR."""
    ds = ogr.Open(source)
    layer = ds.GetLayerByName(layer_name) if layer_name else ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    types = {n: defn.GetFieldDefn(i).GetFieldTypeName(defn.GetFieldDefn(i).GetType()) for i, n in enumerate(names)}
    rows = []
    for f in layer:
        g = f.GetGeometryRef()
        point = (round(g.GetX(), 6), round(g.GetY(), 6)) if g is not None else (None, None)
        rows.append((f.GetFID(), *point, *(f.GetField(n) for n in names)))
    srs = layer.GetSpatialRef()
    return types, sorted(rows), srs.GetAuthorityCode(None) if srs else None


def test_the_postgis_import_holds_what_the_geopackage_import_holds(run_alg, postgis_db, tmp_path):
    inputs = [str(p) for p in CITY]
    gpkg = tmp_path / "crimes.gpkg"
    from_gpkg = run_alg(ALG, {"INPUT": inputs, "OUTPUT": str(gpkg)})
    from_pg = run_alg(ALG, {"INPUT": inputs, "OUTPUT": destination(postgis_db, "crimes")})
    assert_accounted(from_pg, sum(count_lines(p) for p in CITY))
    for key in ("ROWS_READ", "ROWS_WRITTEN", "ROWS_LEFT_OUT", "MONTHS", "REPORT"):
        assert from_pg[key] == from_gpkg[key], key
    g_types, g_rows, g_srs = read_ogr(str(gpkg))
    p_types, p_rows, p_srs = read_ogr(f"PG:{postgis_db.conninfo()} tables=crimes", "crimes")
    assert p_types == g_types
    assert p_types["month"] == "Date" and p_types["crime_id"] == "String"
    assert (p_srs, g_srs) == ("27700", "27700")
    assert len(p_rows) == from_gpkg["ROWS_WRITTEN"] > 1000
    assert p_rows == g_rows  # fid 1, 2, 3 … in the same order, the same points and values, NULLs where NULL
    # QGIS opens the returned layer (no password in it: the session's credentials cache has it)
    assert "password" not in from_pg["OUTPUT"]
    layer = QgsVectorLayer(from_pg["OUTPUT"].split("://", 1)[1], "crimes", "postgres")
    assert layer.isValid()
    assert layer.featureCount() == from_gpkg["ROWS_WRITTEN"]


def test_the_table_has_a_gist_index_and_its_comment_carries_the_metadata(run_alg, postgis_db, tmp_path):
    gpkg = tmp_path / "crimes.gpkg"
    run_alg(ALG, {"INPUT": [str(CITY[0])], "OUTPUT": str(gpkg)})
    run_alg(ALG, {"INPUT": [str(CITY[0])], "OUTPUT": destination(postgis_db, "crimes")})
    indexes = postgis_db.psql("SELECT indexdef FROM pg_indexes WHERE tablename = 'crimes'").splitlines()
    assert any("USING gist (geom)" in i for i in indexes), indexes
    assert any("(fid)" in i and "UNIQUE" in i for i in indexes), indexes
    comment = postgis_db.psql("SELECT obj_description('public.crimes'::regclass, 'pg_class')")
    # The dataset outlives its result set: closing it first fails in GDALClose (seen under GDAL 3.10).
    ds = ogr.Open(str(gpkg))
    rows = ds.ExecuteSQL("SELECT identifier, description FROM gpkg_contents WHERE table_name = 'crimes'")
    title, abstract = rows.GetNextFeature().items().values()
    ds.ReleaseResultSet(rows)
    ds = None
    assert comment == f"{title}\n\n{abstract}"
    assert "police.uk crimes 2024-10 to 2024-10" in comment and "Open Government Licence" in comment
    # no staging table left
    assert postgis_db.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '.crimemapping-%'") == "0"


def test_a_second_import_replaces_the_table_and_keeps_its_grants(run_alg, postgis_db):
    run_alg(ALG, {"INPUT": [str(CITY[0])], "OUTPUT": destination(postgis_db, "crimes")})
    postgis_db.psql("DO $$BEGIN CREATE ROLE analyst; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    postgis_db.psql("GRANT SELECT ON public.crimes TO analyst")
    result = run_alg(ALG, {"INPUT": [str(p) for p in CITY], "OUTPUT": destination(postgis_db, "crimes")})
    assert postgis_db.psql("SELECT count(*) FROM public.crimes") == str(result["ROWS_WRITTEN"])
    grants = postgis_db.psql(
        "SELECT privilege_type FROM information_schema.role_table_grants "
        "WHERE table_name = 'crimes' AND grantee = 'analyst'"
    )
    assert grants == "SELECT"


def test_a_cancelled_import_leaves_the_previous_table_intact(run_alg, postgis_db):
    run_alg(ALG, {"INPUT": [str(CITY[0])], "OUTPUT": destination(postgis_db, "crimes")})
    before = postgis_db.psql("SELECT string_agg(crime_id || ST_AsText(geom), ',' ORDER BY fid) FROM public.crimes")
    with pytest.raises(QgsProcessingException, match="cancelled"):
        run_alg(
            ALG,
            {"INPUT": [str(p) for p in MET], "OUTPUT": destination(postgis_db, "crimes")},
            feedback=CancelAtFirstProgress(),
        )
    after = postgis_db.psql("SELECT string_agg(crime_id || ST_AsText(geom), ',' ORDER BY fid) FROM public.crimes")
    assert after == before
    assert postgis_db.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '.crimemapping-%'") == "0"


def test_a_failed_swap_leaves_the_previous_table_and_says_why(run_alg, postgis_db):
    run_alg(ALG, {"INPUT": [str(CITY[0])], "OUTPUT": destination(postgis_db, "crimes")})
    postgis_db.psql("CREATE VIEW public.crimes_view AS SELECT * FROM public.crimes")
    n = postgis_db.psql("SELECT count(*) FROM public.crimes")
    with pytest.raises(QgsProcessingException, match="previous table is unchanged"):
        run_alg(ALG, {"INPUT": [str(p) for p in CITY], "OUTPUT": destination(postgis_db, "crimes")})
    assert postgis_db.psql("SELECT count(*) FROM public.crimes_view") == n
    assert postgis_db.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '.crimemapping-%'") == "0"


@pytest.mark.parametrize("prefix", ["postgres://", "postgis:"])
def test_both_uri_forms_are_taken(run_alg, postgis_db, prefix):
    result = run_alg(ALG, {"INPUT": [str(CITY[0])], "OUTPUT": destination(postgis_db, "c", "public", prefix)})
    assert postgis_db.psql("SELECT count(*) FROM public.c") == str(result["ROWS_WRITTEN"])


def test_a_bad_connection_names_the_host_and_database_not_the_password(run_alg, postgis_db):
    wrong = postgis_db.uri("crimes", password=False)
    wrong.setPassword("wrong-secret-xyz")
    with pytest.raises(QgsProcessingException) as raised:
        run_alg(ALG, {"INPUT": [str(CITY[0])], "OUTPUT": "postgres://" + wrong.uri(False)})
    message = str(raised.value)
    assert "wrong-secret-xyz" not in message
    assert postgis_db.dbname in message and f"127.0.0.1:{postgis_db.port}" in message
    assert "password authentication failed" in message
    missing = postgis_db.uri("crimes", dbname="no_such_database")
    with pytest.raises(QgsProcessingException, match='database "no_such_database"') as raised:
        run_alg(ALG, {"INPUT": [str(CITY[0])], "OUTPUT": "postgres://" + missing.uri(False)})
    assert postgis_db.password not in str(raised.value)


def _run_and_collect(run_alg, dest, tmp_path):
    """Run an import that loads its layer into a project, save the project; return everything written."""
    project = QgsProject.instance()
    project.clear()
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = Recorder()
    messages = []
    log = QgsApplication.messageLog()

    def keep(message, *_):
        messages.append(message)

    log.messageReceived.connect(keep)
    try:
        result = run_alg(
            ALG,
            {"INPUT": [str(CITY[0])], "OUTPUT": QgsProcessingOutputLayerDefinition(dest, project)},
            feedback=feedback,
            context=context,
        )
        # What QGIS (and the dock, ui/tasks.py) does with the layers an algorithm asks to load.
        for key, details in context.layersToLoadOnCompletion().items():
            layer = QgsProcessingUtils.mapLayerFromString(key, context)
            assert layer is not None, key
            taken = context.temporaryLayerStore().takeMapLayer(layer)
            project.addMapLayer(taken or layer)
            if details.postProcessor() is not None:
                details.postProcessor().postProcessLayer(layer, context, feedback)
        QgsApplication.processEvents()
    finally:
        log.messageReceived.disconnect(keep)
    layers = [(layer.isValid(), layer.featureCount(), layer.source()) for layer in project.mapLayers().values()]
    metadata = [layer.metadata().abstract() for layer in project.mapLayers().values()]
    path = tmp_path / "project.qgs"
    assert project.write(str(path))
    project.clear()
    return result, layers, feedback.lines + metadata, messages, path.read_text(encoding="utf-8")


def test_a_password_in_the_uri_is_written_nowhere(run_alg, postgis_db, tmp_path):
    dest = destination(postgis_db, "crimes")
    assert postgis_db.password in dest
    result, layers, lines, messages, project = _run_and_collect(run_alg, dest, tmp_path)
    assert result["ROWS_WRITTEN"] > 0
    assert [(valid, n) for valid, n, _ in layers] == [(True, result["ROWS_WRITTEN"])]
    assert 'table="public"."crimes"' in layers[0][2]
    comment = postgis_db.psql("SELECT obj_description('public.crimes'::regclass, 'pg_class')")
    written = [str(v) for v in result.values()] + lines + messages + [project, comment, layers[0][2]]
    assert lines and "crimes" in project
    assert not [w for w in written if postgis_db.password in w]


def test_an_authcfg_connection_is_resolved_and_written_nowhere(run_alg, postgis_db, tmp_path):
    auth = QgsApplication.authManager()
    if not auth.masterPasswordIsSet():
        assert auth.setMasterPassword("test-master-password", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("crimemapping test")
    config.setConfig("username", postgis_db.user)
    config.setConfig("password", postgis_db.password)
    ok, config = auth.storeAuthenticationConfig(config)
    assert ok
    try:
        uri = postgis_db.uri("crimes", password=False, authcfg=config.id())
        uri.setUsername("")
        dest = "postgres://" + uri.uri(False)
        assert postgis_db.password not in dest and config.id() in dest
        result, layers, lines, messages, project = _run_and_collect(run_alg, dest, tmp_path)
        assert [valid for valid, _, _ in layers] == [True]
        assert f"authcfg={config.id()}" in project
        assert postgis_db.psql("SELECT count(*) FROM public.crimes") == str(result["ROWS_WRITTEN"])
        written = [str(v) for v in result.values()] + lines + messages + [project]
        assert not [w for w in written if postgis_db.password in w]
    finally:
        auth.removeAuthenticationConfig(config.id())


def test_qgis_process_writes_to_a_postgres_uri(postgis_db, tmp_path):
    qgis_process = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
    assert qgis_process, "qgis_process is part of the qgis package that make installs"
    config = tmp_path / "config"
    plugins = config / "profiles" / "default" / "python" / "plugins"
    package = [sys.executable, str(ROOT / "scripts" / "package.py")]
    subprocess.run([*package, str(tmp_path / "plugin.zip")], check=True, capture_output=True)
    subprocess.run([*package, str(tmp_path / "plugin.zip"), "--install", str(plugins)], check=True, capture_output=True)
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(config), QT_QPA_PLATFORM="offscreen")
    env.pop("PGPASSWORD", None)
    subprocess.run(
        [qgis_process, "plugins", "enable", "crime_mapping_plugin"], env=env, check=True, capture_output=True
    )
    done = subprocess.run(
        [qgis_process, "run", ALG, f"--INPUT={CITY[0]}", f"--OUTPUT={destination(postgis_db, 'from_cli')}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # qgis_process itself echoes the inputs it was given; what the algorithm writes after them has no password.
    ours = done.stdout.split(destination(postgis_db, "from_cli"), 1)[1]
    assert "ROWS_WRITTEN" in ours and postgis_db.password not in ours
    assert "OUTPUT:\tpostgres://" in ours
    written = [line for line in done.stdout.splitlines() if line.startswith("ROWS_WRITTEN")]
    assert written, done.stdout
    assert postgis_db.psql("SELECT count(*) FROM public.from_cli") == written[0].split(":")[1].strip()
    assert postgis_db.psql("SELECT count(*) FROM pg_indexes WHERE tablename = 'from_cli'") == "2"
