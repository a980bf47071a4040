"""The one seam every model provider plugs into.

A backend turns a `BackendCall` into either one complete reply or a stream of chunks, both as
raw top-level fields (`gateway.protocol.raw`) so that OpenAI-compatible upstreams pass
through untouched and native backends (fake, llama.cpp) produce the same shape. Only the
executor calls backends. Failures are raised as `gateway.errors.GatewayError`s.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest, JSONSchemaFormat
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
    json_schema: bool = False
    images: bool = False
    # A lower bound on the prompt's tokens (characters / 6): a prompt surely too long.
    min_prompt_tokens: int = 0

    @classmethod
    def of(
        cls,
        endpoint: Endpoint,
        request: ChatCompletionRequest | CompletionRequest | EmbeddingRequest,
    ) -> Needs:
        if isinstance(request, CompletionRequest):
            suffix = request.suffix
            prompt = request.prompt if isinstance(request.prompt, str) else ""
            return cls(
                endpoint,
                fill_in_middle=isinstance(suffix, str) and suffix != "",
                min_prompt_tokens=len(prompt) // _CHARS_PER_TOKEN_AT_MOST,
            )
        if isinstance(request, ChatCompletionRequest):
            chars, images = _message_chars_and_images(request)
            return cls(
                endpoint,
                tools=isinstance(request.tools, list) and bool(request.tools),
                json_schema=isinstance(request.response_format, JSONSchemaFormat),
                images=images,
                min_prompt_tokens=chars // _CHARS_PER_TOKEN_AT_MOST,
            )
        return cls(endpoint)


# Tokenizers seldom pack more than six characters into a token (English ~4, code ~3): a
# prompt over six characters per token of a window is surely too long for it.
_CHARS_PER_TOKEN_AT_MOST = 6


def _message_chars_and_images(request: ChatCompletionRequest) -> tuple[int, bool]:
    chars = 0
    images = False
    for message in request.messages:
        content = getattr(message, "content", None)
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part.text, str):
                    chars += len(part.text)
                images = images or part.type == "image_url"
    return chars, images


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
    json_schema: bool = True
    images: bool = True
    # The context window in tokens, when known.
    context_tokens: int | None = None

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
        if needs.json_schema and not self.json_schema:
            return Unservable("does not support `response_format` json_schema", "response_format")
        if needs.images and not self.images:
            return Unservable("does not accept image inputs", "messages")
        if self.context_tokens is not None and needs.min_prompt_tokens > self.context_tokens:
            return Unservable(
                f"has a {self.context_tokens}-token context window, too small for the prompt",
                "messages",
            )
        return None

    def declared(self, spec: Any) -> Capabilities:
        """These capabilities with a policy file's `capabilities:` block (None: as they are)."""
        if spec is None:
            return self
        return self.overridden(
            tools=spec.tools,
            json_schema=spec.json_schema,
            images=spec.images,
            context_tokens=spec.context_tokens,
        )

    def overridden(
        self,
        *,
        tools: bool | None = None,
        json_schema: bool | None = None,
        images: bool | None = None,
        context_tokens: int | None = None,
    ) -> Capabilities:
        """These capabilities with what a policy file declares (None keeps the value)."""
        return replace(
            self,
            tools=self.tools if tools is None else tools,
            json_schema=self.json_schema if json_schema is None else json_schema,
            images=self.images if images is None else images,
            context_tokens=self.context_tokens if context_tokens is None else context_tokens,
        )


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
