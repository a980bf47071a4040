"""The one seam every model provider plugs into.

A backend turns a `BackendCall` into either one complete reply or a stream of chunks, both as
raw top-level fields (`gateway.protocol.raw`) so that OpenAI-compatible upstreams pass
through untouched and native backends (fake, llama.cpp) produce the same shape. Only the
executor calls backends. Failures are raised as `gateway.errors.GatewayError`s.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.raw import RawFields

Endpoint = Literal["chat/completions", "completions", "embeddings"]


@dataclass(frozen=True, slots=True)
class Needs:
    """What a request needs from whichever target serves it."""

    endpoint: Endpoint
    fill_in_middle: bool = False
    tools: bool = False

    @classmethod
    def of(
        cls,
        endpoint: Endpoint,
        request: ChatCompletionRequest | CompletionRequest | EmbeddingRequest,
    ) -> Needs:
        if isinstance(request, CompletionRequest):
            suffix = request.suffix
            return cls(endpoint, fill_in_middle=isinstance(suffix, str) and suffix != "")
        if isinstance(request, ChatCompletionRequest):
            return cls(endpoint, tools=isinstance(request.tools, list) and bool(request.tools))
        return cls(endpoint)


@dataclass(frozen=True, slots=True)
class Unservable:
    """Why a target cannot serve a request, and the request parameter at fault."""

    reason: str
    param: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    chat: bool = True
    completions: bool = True
    embeddings: bool = True
    # Serves `suffix` on /v1/completions (fill-in-the-middle).
    fill_in_middle: bool = True
    tools: bool = True

    def cannot_serve(self, needs: Needs) -> Unservable | None:
        served = {
            "chat/completions": self.chat,
            "completions": self.completions,
            "embeddings": self.embeddings,
        }[needs.endpoint]
        if not served:
            if self.embeddings and not (self.chat or self.completions):
                return Unservable("is an embedding model: use /v1/embeddings", "model")
            return Unservable(f"does not serve /v1/{needs.endpoint}", "model")
        if needs.fill_in_middle and not self.fill_in_middle:
            return Unservable("does not support fill-in-the-middle (`suffix`)", "suffix")
        if needs.tools and not self.tools:
            return Unservable("does not support `tools`", "tools")
        return None


@dataclass(slots=True)
class BackendCall:
    endpoint: Endpoint
    request: ChatCompletionRequest | CompletionRequest | EmbeddingRequest
    # The client's request as raw fields with `model` already set to `upstream_model`.
    fields: RawFields
    upstream_model: str
    ctx: RequestContext
    # Whether the client asked for the final usage chunk (`stream_options.include_usage`).
    client_wants_usage: bool = False
    # From the route: what a local backend does with a prompt longer than its window.
    context_overflow: str = "error"
    extra_headers: dict[str, str] = field(default_factory=dict)


class Backend(Protocol):
    name: str
    capabilities: Capabilities

    async def start(self) -> None:
        """Acquire resources (connections, model weights); called once at startup."""

    def ready(self) -> bool:
        """Whether the backend can take requests now (for `/readyz`)."""

    async def complete(self, call: BackendCall) -> RawFields:
        """One whole reply; a truncated or malformed reply raises, never returns."""

    def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        """Chunks until the upstream's end; closing the iterator cancels upstream work."""

    async def aclose(self) -> None:
        """Release everything `start` acquired."""


@runtime_checkable
class ModelLister(Protocol):
    """Optional capability: the backend can say which models it serves."""

    async def list_models(self) -> list[str]: ...


@runtime_checkable
class ModelDescriber(Protocol):
    """Optional capability: facts about each model (for `/v1/models`)."""

    async def describe_models(self, names: list[str]) -> dict[str, dict[str, Any]]: ...
