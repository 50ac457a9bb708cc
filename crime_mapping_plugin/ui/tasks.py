"""Run a Processing algorithm as a background task and load its outputs into a layer group.

The dock runs the same algorithms as models and qgis_process do, through QgsProcessingAlgRunnerTask,
so QGIS stays responsive; the outputs are loaded on the main thread once the task has finished, as
the Processing toolbox does, with the style and metadata the algorithm arranged for them.
"""

from __future__ import annotations

from typing import Callable

from qgis.core import (
    QgsApplication,
    QgsLayerTreeGroup,
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingUtils,
    QgsProject,
)
from qgis.PyQt.QtCore import QObject, QTimer, pyqtSignal


class RecordingFeedback(QgsProcessingFeedback):
    """Feedback that keeps the errors and warnings an algorithm reports, to show them to the analyst."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N803 - QGIS API
        self.errors.append(error)
        super().reportError(error, fatalError)

    def pushWarning(self, warning: str) -> None:
        self.warnings.append(warning)
        super().pushWarning(warning)


class AlgorithmRun(QObject):
    """One algorithm run in the background: progress, cancel, and a done signal with its results.

    done(ok, results, message) is emitted on the main thread; message is the algorithm's own error
    when it failed, or a note that it was cancelled.
    """

    progress = pyqtSignal(int)
    done = pyqtSignal(bool, dict, str)

    def __init__(
        self, algorithm: QgsProcessingAlgorithm, parameters: dict, description: str, project: QgsProject | None = None
    ) -> None:
        super().__init__()
        self.algorithm = algorithm
        self.parameters = parameters
        self.description = description
        self.context = QgsProcessingContext()
        self.context.setProject(project or QgsProject.instance())
        self.feedback = RecordingFeedback()
        self.feedback.progressChanged.connect(lambda value: self.progress.emit(int(value)))
        self.task: QgsProcessingAlgRunnerTask | None = None
        self.results: dict = {}
        self.finished = False

    def check(self) -> str:
        """Return '' when the parameters are acceptable to the algorithm, else its message."""
        ok, message = self.algorithm.checkParameterValues(self.parameters, self.context)
        return "" if ok else message

    def start(self) -> None:
        """Hand the run to QGIS's task manager (an algorithm that must not leave the main thread runs there)."""
        if self.algorithm.flags() & QgsProcessingAlgorithm.FlagNoThreading:
            # Print layouts are not thread safe: such an algorithm runs on the main thread, as the toolbox runs
            # it, once the event loop is back, so that start() returns and the dock shows it is busy first.
            QTimer.singleShot(0, self._run_here)
            return
        self.task = QgsProcessingAlgRunnerTask(self.algorithm, self.parameters, self.context, self.feedback)
        self.task.setDescription(self.description)
        self.task.executed.connect(self._executed)
        QgsApplication.taskManager().addTask(self.task)

    def _run_here(self) -> None:
        if self.feedback.isCanceled():
            self._executed(False, {})
            return
        try:
            results, ok = self.algorithm.run(self.parameters, self.context, self.feedback)
        except Exception as err:  # run() reports through feedback; anything else must still end the run
            self.feedback.reportError(str(err), True)
            results, ok = {}, False
        self._executed(bool(ok), results or {})

    def cancel(self) -> None:
        """Ask the algorithm to stop; it leaves no half-written output."""
        self.feedback.cancel()
        if self.task is not None:
            self.task.cancel()

    def _executed(self, ok: bool, results: dict) -> None:
        self.finished = True
        self.results = dict(results or {})
        if ok:
            self.done.emit(True, self.results, "")
            return
        if self.feedback.isCanceled():
            message = "nothing was written."
        else:
            message = self.feedback.errors[-1] if self.feedback.errors else "The algorithm failed (see the log)."
        self.done.emit(False, self.results, message)

    def load_outputs(self, group_name: str, rename: Callable[[str], str] | None = None) -> list[QgsMapLayer]:
        """Add the output layers the algorithm asked to load to a top-level group, styled; return them."""
        project = self.context.project()
        root = project.layerTreeRoot()
        group = root.findGroup(group_name)
        if not isinstance(group, QgsLayerTreeGroup):
            group = root.insertGroup(0, group_name)
        group.setExpanded(True)
        loaded = []
        for key, details in self.context.layersToLoadOnCompletion().items():
            layer = QgsProcessingUtils.mapLayerFromString(key, self.context, typeHint=details.layerTypeHint)
            if layer is None:
                self.feedback.errors.append(f"The output '{key}' could not be opened.")
                continue
            details.setOutputLayerName(layer)
            if rename is not None:
                layer.setName(rename(layer.name()))
            taken = self.context.temporaryLayerStore().takeMapLayer(layer)
            project.addMapLayer(taken or layer, False)
            group.addLayer(layer)
            if details.postProcessor() is not None:
                details.postProcessor().postProcessLayer(layer, self.context, self.feedback)
            loaded.append(layer)
        self.context.setLayersToLoadOnCompletion({})
        return loaded
