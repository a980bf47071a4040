"""A decoded request as the pipeline carries it: the typed request and its raw fields."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.backends.base import Endpoint
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.payload import Kind
from gateway.protocol.raw import RawFields

KINDS: dict[Endpoint, Kind] = {
    "chat/completions": "chat",
    "completions": "text",
    "embeddings": "embeddings",
}


@dataclass(slots=True)
class ParsedRequest:
    endpoint: Endpoint
    request: ChatCompletionRequest | CompletionRequest | EmbeddingRequest
    # The body's raw top-level fields: unknown fields travel on untouched.
    fields: RawFields

    @property
    def is_stream(self) -> bool:
        return self.request.is_stream

    @property
    def kind(self) -> Kind:
        """Which text field the reply's choices carry."""
        return KINDS[self.endpoint]
