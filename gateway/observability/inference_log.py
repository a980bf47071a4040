"""The inference log (`inference_log` in the policy file): each answered request written
as one redacted JSON line, for evaluation or fine-tuning datasets.

On the request path it is the last response stage: it keeps references to the reply (or
to the stream's chunks, as the client got them) and, once the answer has ended, puts one
`PendingRecord` on the writer's bounded queue. Assembling, encoding, redacting and writing
all happen in the writer's thread (`inference_writer`). Requests it does not sample, and
endpoints it does not log, cost one check when the reply stages open.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from gateway.context import RequestContext
from gateway.observability.inference_record import PendingRecord
from gateway.observability.inference_writer import InferenceLogWriter
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.payload import Chunk, Kind, Reply
from gateway.settings.inference_log_types import InferenceLog
from policies.base import AnyRequest, StreamOutcome

Submit = Callable[[PendingRecord], None]
# The request path each logged endpoint is served on (the request-id middleware's
# `ctx.endpoint`); the Anthropic and Responses APIs run the chat pipeline too.
ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}


class InferenceLogStage:
    name = "inference_log"

    def __init__(
        self, settings: InferenceLog, submit: Submit, rng: random.Random | None = None
    ) -> None:
        self._submit = submit
        self._endpoints = frozenset(settings.endpoints)
        self._rate = settings.sample_rate
        self._tool_traces = settings.tool_traces
        self._rng = rng or random.Random()

    def open(self, request: AnyRequest, ctx: RequestContext) -> _LogFilter | None:
        if isinstance(request, EmbeddingRequest):
            return None
        endpoint = ENDPOINTS.get(ctx.endpoint.rstrip("/"))
        if endpoint is None or endpoint not in self._endpoints:
            return None
        if self._rate < 1.0 and self._rng.random() >= self._rate:
            return None
        kind: Kind = "chat" if isinstance(request, ChatCompletionRequest) else "text"
        return _LogFilter(
            self._submit, request, ctx, endpoint=endpoint, kind=kind, tools=self._tool_traces
        )


class _LogFilter:
    __slots__ = ("_chunks", "_ctx", "_endpoint", "_kind", "_request", "_submit", "_tools")

    def __init__(
        self,
        submit: Submit,
        request: AnyRequest,
        ctx: RequestContext,
        *,
        endpoint: str,
        kind: Kind,
        tools: bool,
    ) -> None:
        self._submit = submit
        self._request = request
        self._ctx = ctx
        self._endpoint = endpoint
        self._kind = kind
        self._tools = tools
        self._chunks: list[Chunk] = []

    def chunk_inline(self, chunk: Chunk) -> Sequence[Chunk]:
        self._chunks.append(chunk)
        return (chunk,)

    async def chunk(self, chunk: Chunk) -> Sequence[Chunk]:
        return self.chunk_inline(chunk)

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]:
        self._submit(self._record(outcome.value, chunks=self._chunks))
        return ()

    async def reply(self, reply: Reply) -> Reply:
        self._submit(self._record("completed", reply=reply))
        return reply

    def _record(
        self, outcome: str, *, reply: Reply | None = None, chunks: Sequence[Chunk] = ()
    ) -> PendingRecord:
        ctx = self._ctx
        return PendingRecord(
            at=time.time(),
            request_id=ctx.request_id,
            endpoint=self._endpoint,
            key_id=ctx.principal,
            tenant=ctx.tenant,
            model=ctx.model,
            route=ctx.route_id,
            backend=ctx.backend_name,
            upstream_model=ctx.upstream_model,
            cache=ctx.cache_status,
            request=self._request,
            kind=self._kind,
            outcome=outcome,
            latency_seconds=time.perf_counter() - ctx.started,
            first_token_seconds=ctx.first_frame_seconds,
            usage=ctx.usage,
            reply=reply,
            chunks=chunks,
            tools=tuple(ctx.tool_traces or ()) if self._tools else (),
        )


class InferenceLogService:
    """What the composition root holds: the stage and its writer, or nothing when the
    policy file has no `inference_log` (then `stage` is None and the rest do nothing)."""

    def __init__(self, settings: InferenceLog | None, registry: CollectorRegistry) -> None:
        self._writer: InferenceLogWriter | None = None
        self.stage: InferenceLogStage | None = None
        if settings is not None:
            self._writer = InferenceLogWriter(settings, registry)
            self.stage = InferenceLogStage(settings, self._writer.submit)

    def start(self) -> None:
        if self._writer is not None:
            self._writer.start()

    async def aclose(self) -> None:
        if self._writer is not None:
            await self._writer.aclose()
