"""The router seam: a `RouteDecision` is an ordered list of targets, the reason for it and
the gateway-owned tools to offer. Routers return data; the executor acts on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest

# What a router sees: the whole decoded request (model, messages, tools, ...).
RouteRequest = ChatCompletionRequest | CompletionRequest | EmbeddingRequest


@dataclass(frozen=True, slots=True)
class DeclaredCapabilities:
    """What the policy file says one target can do (None: as its backend says)."""

    tools: bool | None = None
    json_schema: bool | None = None
    images: bool | None = None
    context_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Target:
    backend: str
    upstream_model: str
    # The catalog entry that produced this target (a fallback has its own).
    model_id: str
    # What a backend does with a prompt longer than the model's window: `error` (a 400
    # context_length_exceeded) or `trim_oldest` (drop the oldest turns, keep the system).
    context_overflow: str = "error"
    # Names this target in breakers, load and metrics: `<backend>/<upstream model>`.
    key: str = ""
    # Whether the upstream name came from the client (a prefix route): such targets get
    # breakers too, but a bounded number of them, and never metric labels.
    dynamic: bool = False
    declared: DeclaredCapabilities | None = None

    @property
    def label(self) -> str:
        """`<backend>/<upstream model>`: what `x-gateway-target` reports."""
        return f"{self.backend}/{self.upstream_model}"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    targets: tuple[Target, ...]
    reason: str
    # Gateway-owned tools to offer the model (filled by routers that know them).
    tools: tuple[str, ...] = ()
    # How sure a classifying router was (intent, complexity); None for a plain route.
    confidence: float | None = None


class Router(Protocol):
    async def route(self, request: RouteRequest, ctx: RequestContext) -> RouteDecision:
        """Raise `gateway.errors.ModelNotFoundError` for a model nobody serves. Async, so
        that a router may embed the messages or ask a shared store before it decides."""
        ...
