"""Tries a route's targets in order; the only caller of backends.

Before the commit point (for a stream: its first chunk) a retryable failure is retried on the
same target (policy `retries`) and then moves to the next target; a client error (4xx other
than 408/429) is final at once. After the commit point nothing is retried.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from functools import partial

from gateway.backends.base import Backend, BackendCall
from gateway.errors import BadGatewayError, GatewayError, ServiceUnavailableError
from gateway.protocol.raw import RawFields
from gateway.resilience.retry import is_retryable, with_retries
from gateway.settings.schema import Retries
from routers.base import RouteDecision, Target

CallFactory = Callable[[Target], BackendCall]


class OpenedStream:
    """A stream past its commit point: the first chunk in hand, the rest to come."""

    __slots__ = ("first", "rest", "target")

    def __init__(
        self, first: RawFields | None, rest: AsyncGenerator[RawFields, None], target: Target
    ) -> None:
        self.first = first
        self.rest = rest
        self.target = target

    async def aclose(self) -> None:
        await self.rest.aclose()


class Executor:
    def __init__(self, backends: Mapping[str, Backend], retries: Retries) -> None:
        self._backends = backends
        self._retries = retries

    def _backend(self, target: Target) -> Backend:
        backend = self._backends.get(target.backend)
        if backend is None:
            raise ServiceUnavailableError(f"backend `{target.backend}` is not configured")
        return backend

    async def complete(
        self, decision: RouteDecision, make_call: CallFactory
    ) -> tuple[RawFields, Target]:
        last: GatewayError | None = None
        for target in decision.targets:
            backend = self._backend(target)
            call = make_call(target)
            try:
                reply = await with_retries(partial(_complete, backend, call), self._retries)
                return reply, target
            except GatewayError as exc:
                if not is_retryable(exc):
                    raise
                last = exc
        raise last or ServiceUnavailableError("no target could serve the request")

    async def open_stream(self, decision: RouteDecision, make_call: CallFactory) -> OpenedStream:
        last: GatewayError | None = None
        for target in decision.targets:
            backend = self._backend(target)
            call = make_call(target)

            try:
                return await with_retries(partial(_open, backend, call, target), self._retries)
            except GatewayError as exc:
                if not is_retryable(exc):
                    raise
                last = exc
        raise last or ServiceUnavailableError("no target could serve the request")


async def _open(backend: Backend, call: BackendCall, target: Target) -> OpenedStream:
    """Start a stream and wait for its first chunk: the last moment a retry is possible."""
    call.ctx.attempts += 1
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


async def _complete(backend: Backend, call: BackendCall) -> RawFields:
    call.ctx.attempts += 1
    return await backend.complete(call)
