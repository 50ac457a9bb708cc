"""Open the shipped workflow model for editing in the Graphical Modeler, as an editable copy among the user's models.

A model shipped inside the plugin's provider cannot be edited from the toolbox (QGIS offers "Edit Model…"
only for the user's models), and editing the plugin's own file would be lost at the next update. So the
dock copies it, once, into the user's Processing models folder under its own name ("… (editable copy)"),
where the toolbox lists it under Models with "Edit Model…", and opens that copy in the Modeler. A copy
already there, perhaps edited, is opened as it is, never overwritten.
"""

from __future__ import annotations

import os

from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

from crime_mapping_plugin.processing.models import MODELS_DIR

COPY_SUFFIX = " (editable copy)"


def user_models_folder() -> str:
    """Return the first folder of the user's Processing models (the profile's processing/models by default)."""
    try:
        from processing.modeler.ModelerUtils import ModelerUtils

        folder = ModelerUtils.modelsFolders()[0]
    except (ImportError, IndexError):  # Processing's Python plugin not loaded (qgis_process, tests)
        folder = os.path.join(QgsApplication.qgisSettingsDirPath(), "processing", "models")
    os.makedirs(folder, exist_ok=True)
    return folder


def install_user_copy(model_id: str = "importandmap", folder: str | None = None) -> str:
    """Copy a shipped model into the user's models folder, unless a copy is there; return the copy's path."""
    folder = folder or user_models_folder()
    target = os.path.join(folder, f"crime_mapping_{model_id}.model3")
    if os.path.exists(target):
        return target  # the analyst's copy, perhaps edited: kept as it is
    model = QgsProcessingModelAlgorithm()
    source = os.path.join(MODELS_DIR, f"{model_id}.model3")
    if not model.fromFile(source):
        raise ValueError(f"The shipped model {source} cannot be read.")
    model.setName(model.name() + COPY_SUFFIX)
    if not model.toFile(target):
        raise OSError(f"The model could not be copied to {target}.")
    provider = QgsApplication.processingRegistry().providerById("model")
    if provider is not None:
        provider.refreshAlgorithms()  # the copy appears under Models, with "Edit Model…"
    return target


def open_in_modeler(path: str) -> object:
    """Open a model file in the Graphical Modeler and return the dialog (None without Processing's GUI)."""
    try:
        from processing.modeler.ModelerDialog import ModelerDialog
    except ImportError:
        return None
    model = QgsProcessingModelAlgorithm()
    if not model.fromFile(path):
        raise ValueError(f"The model {path} cannot be read.")
    model.setSourceFilePath(path)  # Save writes back to the copy
    dialog = ModelerDialog.create(model)
    dialog.show()
    return dialog
