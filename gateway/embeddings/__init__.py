"""Text embedders behind one small interface, shared by /v1/embeddings and (later) the
semantic cache, intent routing and RAG."""

from gateway.embeddings.base import Embedder
from gateway.embeddings.openai_tokens import OpenAITokens

__all__ = ["Embedder", "OpenAITokens"]
