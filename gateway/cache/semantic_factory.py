"""The semantic layer of a policy file: its index over the embedder `cache.embedder` names
(an `onnx_embedder` backend's model; unset, the built-in all-MiniLM-L6-v2), loaded from
installed packages, never downloaded."""

from __future__ import annotations

from gateway.cache.semantic import SemanticIndex, threaded
from gateway.cache.semantic_layer import SemanticLayer
from gateway.embeddings.onnx_minilm import OnnxMiniLM
from gateway.settings.backend_types import OnnxEmbedderSpec
from gateway.settings.schema import Settings


def uses_semantic(settings: Settings) -> bool:
    return any(m.cache.mode == "semantic" for m in settings.models)


def embedder_spec(settings: Settings) -> OnnxEmbedderSpec | None:
    """The embedder's spec, or None when `cache.embedder` names no `onnx_embedder` model."""
    return settings.onnx_embedder(settings.cache.embedder)


def build_semantic_layer(spec: OnnxEmbedderSpec, settings: Settings) -> SemanticLayer:
    embedder = OnnxMiniLM.from_spec(spec)
    index = SemanticIndex(
        threaded(embedder),
        dimensions=embedder.dimensions,
        path=settings.cache.semantic_path,
        max_entries=settings.cache.max_entries,
    )
    return SemanticLayer(index)
