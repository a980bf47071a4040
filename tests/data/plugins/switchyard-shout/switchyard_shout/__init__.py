"""`type: shout`: answers a chat completion with its last user message upper-cased, after a
configurable greeting. A third-party backend type as small as one can be, for the gateway's
plugin tests; it imports only the gateway's public plugin seam and wire types.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.backends.registry import BackendType, BuildContext
from gateway.errors import InvalidRequestError
from gateway.protocol.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    ResponseMessage,
    UserMessage,
)
from gateway.protocol.common import Usage
from gateway.protocol.raw import RawFields, from_struct

__all__ = ["BACKEND_TYPE", "ShoutBackend", "ShoutConfig"]


class ShoutConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The keys of a `type: shout` entry (beside `type`)."""

    greeting: str
    # How many times the shout is said.
    repeat: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1


class ShoutBackend:
    capabilities = Capabilities(
        completions=False,
        embeddings=False,
        fill_in_middle=False,
        tools=False,
        json_schema=False,
        images=False,
    )

    def __init__(self, name: str, config: ShoutConfig) -> None:
        self.name = name
        self._config = config

    async def start(self) -> None:
        return None

    def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    def _words(self, call: BackendCall) -> tuple[list[str], int]:
        """The reply's words, and the prompt's word count (the usage this backend reports)."""
        request = call.request
        if not isinstance(request, ChatCompletionRequest):
            raise InvalidRequestError(f"`{call.upstream_model}` serves only /v1/chat/completions")
        said = [_text(m) for m in request.messages if isinstance(m, UserMessage)]
        shout = f"{self._config.greeting} {said[-1].upper() if said else ''}".split()
        prompt_words = sum(len(_text(m).split()) for m in request.messages)
        return shout * self._config.repeat, prompt_words

    async def complete(self, call: BackendCall) -> RawFields:
        words, prompt = self._words(call)
        reply = ChatCompletion(
            id=f"chatcmpl-shout-{uuid.uuid4().hex[:12]}",
            created=int(time.time()),
            model=call.upstream_model,
            choices=[
                Choice(
                    index=0, message=ResponseMessage(content=" ".join(words)), finish_reason="stop"
                )
            ],
            usage=_usage(prompt, len(words)),
        )
        return from_struct(reply)

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        words, prompt = self._words(call)
        chunk_id, created = f"chatcmpl-shout-{uuid.uuid4().hex[:12]}", int(time.time())

        def chunk(delta: Delta, finish: str | None = None) -> RawFields:
            choice = ChunkChoice(index=0, delta=delta, finish_reason=finish)
            return from_struct(
                ChatCompletionChunk(
                    id=chunk_id, created=created, model=call.upstream_model, choices=[choice]
                )
            )

        yield chunk(Delta(role="assistant", content=""))
        for i, word in enumerate(words):
            yield chunk(Delta(content=word if i == 0 else f" {word}"))
        yield chunk(Delta(), "stop")
        # Always sent, as OpenAI does when asked: the gateway's usage stage counts it and
        # passes it to the client only when the request set `stream_options.include_usage`.
        yield from_struct(
            ChatCompletionChunk(
                id=chunk_id,
                created=created,
                model=call.upstream_model,
                choices=[],
                usage=_usage(prompt, len(words)),
            )
        )


def _text(message: object) -> str:
    content = getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.text for part in content if isinstance(getattr(part, "text", None), str)
        )
    return ""


def _usage(prompt: int, completion: int) -> Usage:
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _build(config: ShoutConfig, ctx: BuildContext) -> ShoutBackend:
    return ShoutBackend(ctx.name, config)


BACKEND_TYPE = BackendType(spec=ShoutConfig, build=_build)
