"""The algorithms' Help button opens the plugin's own help, which the zip ships."""

from __future__ import annotations

import os
import sys
import zipfile

from qgis.PyQt.QtCore import QUrl

from tests.conftest import ROOT


def test_every_algorithm_links_to_help_that_exists(provider):
    for alg in provider.algorithms():
        url = alg.helpUrl()
        assert url.startswith("file://"), f"{alg.id()}: {url!r}"
        path = QUrl(url).toLocalFile()
        assert os.path.isfile(path) and path.endswith("methods.md"), f"{alg.id()}: {path}"


def test_the_zip_ships_the_help_where_the_installed_plugin_looks_for_it(tmp_path):
    from crime_mapping_plugin.processing import base

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import package
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    archive = package.build(str(tmp_path / "plugin.zip"))
    installed = os.path.relpath(base.HELP_FILES[0], os.path.dirname(base.PLUGIN_DIR)).replace(os.sep, "/")
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        assert installed == "crime_mapping_plugin/docs/methods.md" and installed in names
        assert zipped.read(installed) == (ROOT / "docs" / "methods.md").read_bytes()
