"""The stage seams: request stages before routing, response stages on the way back.

A request stage returns a value, never acts: `Allow`, `Transform` (a replacement request,
e.g. with PII redacted) or `Deny` (an error the client receives with `x-should-retry: false`).

A response stage is opened once per request (`open`, None when it has nothing to do) and
sees the reply as data: each stream chunk (`chunk`, returning the chunks to pass on: none
to hold, several to release held text), the end of the stream (`finish`, with the stream's
outcome; on success what it returns goes out before the usage chunk and `[DONE]`), or the
whole JSON reply (`reply`). Response stages run in order; what one returns is what the next
sees.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.context import RequestContext
from gateway.errors import GatewayError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.payload import Chunk, Reply

StageRequest = ChatCompletionRequest | CompletionRequest
# Response stages also see embedding replies (the built-in ones pin `model`, meter usage).
AnyRequest = ChatCompletionRequest | CompletionRequest | EmbeddingRequest


@dataclass(frozen=True, slots=True)
class Allow:
    pass


@dataclass(frozen=True, slots=True)
class Transform:
    request: StageRequest
    reason: str


@dataclass(frozen=True, slots=True)
class Deny:
    # Sent as it is, but final: the pipeline adds `x-should-retry: false` without changing
    # this object (a stage may keep one error and deny with it many times).
    error: GatewayError


Verdict = Allow | Transform | Deny


class RequestStage(Protocol):
    name: str

    async def check(self, request: StageRequest, ctx: RequestContext) -> Verdict: ...


class StreamOutcome(enum.Enum):
    COMPLETED = "completed"  # the backend finished; [DONE] follows
    FAILED = "failed"  # the backend failed after the commit point; an error event follows
    CANCELLED = "cancelled"  # the client left; nothing more is sent


class ResponseFilter(Protocol):
    """One request's state in a response stage."""

    async def chunk(self, chunk: Chunk) -> Sequence[Chunk]: ...

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]: ...

    async def reply(self, reply: Reply) -> Reply: ...


class InlineChunkFilter(Protocol):
    """Optional capability: a filter whose per-chunk work never waits (no I/O, no thread)
    offers it without a coroutine as `chunk_inline`; the chain then calls that for every
    chunk instead of `chunk`."""

    def chunk_inline(self, chunk: Chunk) -> Sequence[Chunk]: ...


class ResponseStage(Protocol):
    name: str

    def open(self, request: AnyRequest, ctx: RequestContext) -> ResponseFilter | None: ...
