"""Tries a route's targets in order; the only caller of backends.

One loop serves JSON replies and streams alike. A target whose backend cannot serve the
request (no fill-in-the-middle, an embedding-only model, ...) is skipped with its reason;
a 400 naming the reasons comes only when no target is left. Each target is called through
its own `TargetPolicy` (retries honouring `retry-after`, the request's deadline). Before the
commit point (a whole reply; for a stream, its first chunk) a retryable failure moves to
the next target; a client error (4xx other than 408/429) is final at once. After the commit
point nothing is retried.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from functools import partial
from typing import Protocol, TypeVar

from gateway.backends.base import Backend, BackendCall, Capabilities, Needs, Unservable
from gateway.backends.upstream_errors import malformed, openai_error_body
from gateway.context import RequestContext
from gateway.errors import (
    BadGatewayError,
    GatewayError,
    InvalidRequestError,
    ServiceUnavailableError,
    UpstreamStatusError,
)
from gateway.protocol.raw import RawFields
from gateway.resilience.retry import is_retryable
from routers.balance import TargetLoad
from routers.base import RouteDecision, Target

T = TypeVar("T")
# The error code of a prompt longer than the target's window (OpenAI's own code).
CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
CallFactory = Callable[[Target], BackendCall]


class TargetCaller(Protocol):
    """What a target's calls go through: `TargetPolicy` (breaker, retries), or it wrapped
    in spans when tracing is on."""

    async def call(self, attempt: Callable[[], Awaitable[T]], ctx: RequestContext) -> T: ...


PolicyFor = Callable[[Target], TargetCaller]
Attempt = Callable[[Backend, BackendCall, Target], Awaitable[T]]


class OpenedStream:
    """A stream past its commit point: the first chunk in hand, the rest to come."""

    __slots__ = ("_on_close", "first", "rest", "target")

    def __init__(
        self, first: RawFields | None, rest: AsyncGenerator[RawFields, None], target: Target
    ) -> None:
        self.first = first
        self.rest = rest
        self.target = target
        self._on_close: list[Callable[[], None]] = []

    def when_closed(self, callback: Callable[[], None]) -> None:
        """Run `callback` once, when the stream is closed (load counts, route slots)."""
        self._on_close.append(callback)

    async def aclose(self) -> None:
        try:
            await self.rest.aclose()
        finally:
            callbacks, self._on_close = self._on_close, []
            for callback in callbacks:
                callback()


class Executor:
    def __init__(
        self,
        backends: Mapping[str, Backend],
        policy_for: PolicyFor,
        load: TargetLoad | None = None,
    ) -> None:
        self._backends = backends
        self._policy_for = policy_for
        self._load = load or TargetLoad()

    async def complete(
        self, decision: RouteDecision, make_call: CallFactory, needs: Needs
    ) -> tuple[RawFields, Target]:
        return await self._first_success(decision, make_call, needs, _complete)

    async def open_stream(
        self, decision: RouteDecision, make_call: CallFactory, needs: Needs
    ) -> OpenedStream:
        opened, target = await self._first_success(
            decision, make_call, needs, _open, streaming=True
        )
        if not target.dynamic:
            # Still in flight until the stream ends (least-busy balancing counts it).
            self._load.started(target.key)
            opened.when_closed(lambda: self._load.finished(target.key, None))
        return opened

    async def _first_success(
        self,
        decision: RouteDecision,
        make_call: CallFactory,
        needs: Needs,
        attempt: Attempt[T],
        *,
        streaming: bool = False,
    ) -> tuple[T, Target]:
        last: GatewayError | None = None
        tried = False
        skipped: list[tuple[Target, Unservable]] = []
        for target in decision.targets:
            backend = self._backends.get(target.backend)
            if backend is None:
                last = last or ServiceUnavailableError(
                    f"backend `{target.backend}` is not configured"
                )
                continue
            unservable = _capabilities(backend, target).cannot_serve(needs)
            if unservable is not None:
                skipped.append((target, unservable))
                continue
            call = make_call(target)
            tried = True
            started = time.perf_counter()
            # Balancing state is kept for configured targets only: a prefix route's upstream
            # names come from clients, and balancing never chooses among them anyway.
            load = None if target.dynamic else self._load
            if load is not None:
                load.started(target.key)
            try:
                result = await self._policy_for(target).call(
                    partial(attempt, backend, call, target), call.ctx
                )
            except GatewayError as exc:
                if load is not None:
                    load.finished(target.key, None)
                    load.penalise(target.key, time.perf_counter() - started)
                if not _fails_over(exc):
                    raise
                last = exc
                continue
            except BaseException:
                if load is not None:
                    load.finished(target.key, None)
                raise
            if load is not None:
                # A stream's latency is its time to the first chunk (what a client waits for).
                load.finished(target.key, time.perf_counter() - started)
            return result, target
        if skipped and not tried:
            raise _none_can_serve(skipped)
        if last is not None:
            raise last
        raise ServiceUnavailableError("no target could serve the request")


def _capabilities(backend: Backend, target: Target) -> Capabilities:
    return backend.capabilities.declared(target.declared)


def _fails_over(exc: GatewayError) -> bool:
    """Whether the next target may succeed: an upstream failure, or a prompt too long for
    this target's window (the next may have a larger one)."""
    return is_retryable(exc) or exc.error_code == CONTEXT_LENGTH_EXCEEDED


def _none_can_serve(skipped: list[tuple[Target, Unservable]]) -> InvalidRequestError:
    reasons = "; ".join(f"`{t.model_id}` {u.reason}" for t, u in skipped)
    return InvalidRequestError(
        f"No target of this model can serve the request: {reasons}.",
        param=skipped[0][1].param,
        code="unsupported_by_model",
    )


def _began(call: BackendCall, target: Target) -> None:
    call.ctx.attempts += 1
    call.ctx.backend_name = target.backend
    call.ctx.upstream_model = target.upstream_model


async def _open(backend: Backend, call: BackendCall, target: Target) -> OpenedStream:
    """Start a stream and wait for its first chunk: the last moment a retry is possible."""
    _began(call, target)
    stream = backend.stream(call)
    try:
        first = await anext(stream, None)
        if first is None:
            # Nothing to commit to: a retry or the next target may do better.
            raise BadGatewayError(
                f"backend `{target.backend}` ended the stream without a chunk",
                code="upstream_empty_stream",
            )
    except BaseException:
        await stream.aclose()
        raise
    return OpenedStream(first, stream, target)


async def _complete(backend: Backend, call: BackendCall, target: Target) -> RawFields:
    _began(call, target)
    return checked_reply(await backend.complete(call), call, target.backend)


def checked_reply(reply: RawFields, call: BackendCall, backend: str) -> RawFields:
    """A whole reply must carry its list (`choices`, or `data` for embeddings); one that
    says `error` instead (an upstream answering 200 with an error body) is that upstream's
    failure, and the next target may do better."""
    key = "data" if call.endpoint == "embeddings" else "choices"
    items = reply.get(key)
    if items is not None and bytes(items).lstrip().startswith(b"["):
        return reply
    error = reply.get("error")
    if error is not None:
        body, message = openai_error_body(502, b'{"error":' + bytes(error) + b"}", backend)
        raise UpstreamStatusError(502, body, message)
    raise malformed(backend, f"a reply without `{key}`")
