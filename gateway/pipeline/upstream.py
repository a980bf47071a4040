"""A request's model call: from the response cache, shared with an identical request in
flight, or made through the executor inside the route's concurrency slot.

A hit takes no slot and makes no call; a coalesced waiter takes no slot either (the call
it waits for holds one). A complete answer from a call is stored off the request path;
answers are cached before the response stages, which run on hits as on live answers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping

from gateway.backends.base import BackendCall, Needs
from gateway.cache.entry import (
    CachedAnswer,
    StreamAssembler,
    from_reply,
    stream_chunks,
)
from gateway.cache.response_cache import CachePlan, ResponseCache
from gateway.context import RequestContext
from gateway.pipeline.executor import Executor, OpenedStream
from gateway.pipeline.parsed import ParsedRequest
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.payload import Kind
from gateway.protocol.raw import RawFields, raw
from gateway.resilience.concurrency import RouteLimit
from routers.base import RouteDecision, Target

AnyRequest = ChatCompletionRequest | CompletionRequest | EmbeddingRequest


class Upstream:
    def __init__(
        self,
        executor: Executor,
        route_limits: Mapping[str, RouteLimit],
        cache: ResponseCache | None = None,
    ) -> None:
        self._executor = executor
        self._route_limits = route_limits
        self._cache = cache

    async def reply(
        self, parsed: ParsedRequest, decision: RouteDecision, ctx: RequestContext
    ) -> RawFields:
        cache, plan = self._cache, self._plan(parsed, ctx)
        if cache is None or plan is None:
            return await self._call(parsed, decision, ctx)
        answer = await cache.lookup(plan, ctx)
        if answer is not None:
            return cache.reply(answer, plan.entry)

        async def call() -> RawFields:
            return await self._call(parsed, decision, ctx)

        if plan.coalesce_key is not None:
            got = await cache.coalescer.reply(plan.coalesce_key, ctx, call)
            if ctx.cached:
                cache.shared(plan)
                return got
        else:
            got = await call()
        cache.store_later(plan, from_reply(got, parsed.kind))
        return got

    async def stream(
        self, parsed: ParsedRequest, decision: RouteDecision, ctx: RequestContext
    ) -> OpenedStream:
        cache, plan = self._cache, self._plan(parsed, ctx)
        if cache is None or plan is None:
            return await self._open(parsed, decision, ctx)
        answer = await cache.lookup(plan, ctx)
        if answer is not None:
            return _replay(answer, decision.targets[0])

        async def open_stream() -> OpenedStream:
            opened = await self._open(parsed, decision, ctx)
            if plan.store:
                _tap(opened, parsed.kind, lambda found: cache.store_later(plan, found))
            return opened

        if plan.coalesce_key is None:
            return await open_stream()
        opened = await cache.coalescer.stream(plan.coalesce_key, ctx, open_stream)
        if ctx.cached:
            cache.shared(plan)
        return opened

    def _plan(self, parsed: ParsedRequest, ctx: RequestContext) -> CachePlan | None:
        if self._cache is None:
            # No plan: every completion still says it did not come from the cache.
            if parsed.kind != "embeddings":
                ctx.cache_status = "bypass"
            return None
        return self._cache.plan(parsed.request, parsed.fields, ctx)

    async def _call(
        self, parsed: ParsedRequest, decision: RouteDecision, ctx: RequestContext
    ) -> RawFields:
        limit = self._route_limits.get(ctx.route_id)
        if limit is not None:
            await limit.acquire(ctx.priority)
        try:
            got, _target = await self._executor.complete(
                decision, _call_factory(parsed, ctx), Needs.of(parsed.endpoint, parsed.request)
            )
        finally:
            if limit is not None:
                limit.release()
        return got

    async def _open(
        self, parsed: ParsedRequest, decision: RouteDecision, ctx: RequestContext
    ) -> OpenedStream:
        limit = self._route_limits.get(ctx.route_id)
        if limit is not None:
            await limit.acquire(ctx.priority)
        try:
            opened = await self._executor.open_stream(
                decision, _call_factory(parsed, ctx), Needs.of(parsed.endpoint, parsed.request)
            )
        except BaseException:
            if limit is not None:
                limit.release()
            raise
        if limit is not None:
            opened.when_closed(limit.release)  # the slot is held until the stream ends
        return opened


def _call_factory(parsed: ParsedRequest, ctx: RequestContext) -> Callable[[Target], BackendCall]:
    endpoint, request, fields = parsed.endpoint, parsed.request, parsed.fields
    wants_usage = request.wants_usage_chunk

    def make_call(target: Target) -> BackendCall:
        return BackendCall(
            endpoint=endpoint,
            request=request,
            fields={**fields, "model": raw(target.upstream_model)},
            upstream_model=target.upstream_model,
            ctx=ctx,
            client_wants_usage=wants_usage,
            context_overflow=target.context_overflow,
        )

    return make_call


def _replay(answer: CachedAnswer, target: Target) -> OpenedStream:
    chunks = stream_chunks(answer)

    async def rest() -> AsyncGenerator[RawFields, None]:
        for chunk in chunks[1:]:
            yield chunk

    return OpenedStream(chunks[0] if chunks else None, rest(), target)


def _tap(opened: OpenedStream, kind: Kind, complete: Callable[[CachedAnswer | None], None]) -> None:
    """Assemble the stream's answer as it passes; a stream that ends normally hands it on
    (one cut short, by the client or an error, is never stored)."""
    assembler = StreamAssembler(kind)
    if opened.first is not None:
        assembler.feed(opened.first)
    inner = opened.rest

    async def tapped() -> AsyncGenerator[RawFields, None]:
        try:
            async for fields in inner:
                assembler.feed(fields)
                yield fields
        finally:
            await inner.aclose()
        complete(assembler.answer())

    opened.rest = tapped()
