"""Give output layers what they mean: title, abstract and keywords, and a style, when they are loaded."""

from __future__ import annotations

from typing import Callable, Sequence

from qgis.core import (
    QgsLayerMetadata,
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
)

# Processing keeps only a pointer to a post-processor: Python must hold the object until it has run.
_ALIVE: list[DescribeLayer] = []


class DescribeLayer(QgsProcessingLayerPostProcessorInterface):
    """Set metadata (and optionally a style) on an output layer once Processing has loaded it."""

    def __init__(
        self,
        title: str,
        abstract: str,
        keywords: Sequence[str],
        style: Callable[[QgsMapLayer], None] | None = None,
    ) -> None:
        super().__init__()
        self.title = title
        self.abstract = abstract
        self.keywords = list(keywords)
        self.style = style

    def postProcessLayer(
        self, layer: QgsMapLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:  # noqa: N802
        apply_metadata(layer, self.title, self.abstract, self.keywords)
        if self.style is not None:
            self.style(layer)
            layer.triggerRepaint()
        if self in _ALIVE:
            _ALIVE.remove(self)


def apply_metadata(layer: QgsMapLayer, title: str, abstract: str, keywords: Sequence[str]) -> None:
    """Write title, abstract and keywords into a layer's metadata."""
    meta = QgsLayerMetadata(layer.metadata())
    meta.setTitle(title)
    meta.setAbstract(abstract)
    meta.addKeywords("crime mapping", list(keywords))
    meta.setRights(["Contains public sector information licensed under the Open Government Licence v3.0."])
    layer.setMetadata(meta)


def describe_layer(
    context: QgsProcessingContext,
    dest_id: str,
    title: str,
    abstract: str,
    keywords: Sequence[str] = (),
    style: Callable[[QgsMapLayer], None] | None = None,
) -> None:
    """Arrange for the output dest_id to get its metadata and style when it is loaded into a project."""
    if not context.willLoadLayerOnCompletion(dest_id):
        return
    post = DescribeLayer(title, abstract, keywords, style)
    _ALIVE.append(post)
    context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(post)
