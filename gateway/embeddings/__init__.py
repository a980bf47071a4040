"""Text embedders behind one small interface, shared by /v1/embeddings and (later) the
semantic cache, intent routing and RAG."""

from gateway.embeddings.base import Embedder

__all__ = ["Embedder"]
