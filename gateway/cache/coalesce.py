"""Identical requests in flight share one upstream call.

The call runs in a task of its own, not in any one request's: whoever leaves (a client
that disconnects) only stops waiting; the last one leaving cancels the call. A JSON
answer reaches every waiter (each gets its own copy: response stages change what they
get); a stream fans out chunk by chunk, a late joiner first gets what came before it. An
error reaches all. The key carries the tenant, so nothing is ever shared across tenants.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from gateway.context import RequestContext
from gateway.pipeline.executor import OpenedStream
from gateway.protocol.raw import RawFields

T = TypeVar("T")


class _Flight:
    __slots__ = ("ctx", "key", "task", "waiters")

    def __init__(self, key: str, task: asyncio.Future[Any], ctx: RequestContext) -> None:
        self.key = key
        self.task = task
        self.ctx = ctx  # the leader's: where the call's backend facts are written
        self.waiters = 0


class _StreamFlight:
    __slots__ = ("chunks", "ctx", "done", "error", "key", "opened", "subscribers", "task", "wake")

    def __init__(self, key: str, ctx: RequestContext) -> None:
        self.key = key
        self.ctx = ctx
        self.chunks: list[RawFields] = []
        self.done = False
        self.error: BaseException | None = None
        self.opened: OpenedStream | None = None
        self.subscribers = 0
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        wake, self.wake = self.wake, asyncio.Event()
        wake.set()


class Coalescer:
    def __init__(self) -> None:
        self._replies: dict[str, _Flight] = {}
        self._streams: dict[str, _StreamFlight] = {}
        self.shared = 0  # waiters served by another request's call

    @property
    def in_flight(self) -> int:
        return len(self._replies) + len(self._streams)

    async def reply(
        self, key: str, ctx: RequestContext, call: Callable[[], Awaitable[RawFields]]
    ) -> RawFields:
        """The call's answer (a copy for each waiter). A follower's context gets the
        leader's backend facts and `cached` (it made no call of its own)."""
        flight = self._replies.get(key)
        if flight is None:
            task = asyncio.ensure_future(call())
            flight = self._replies[key] = _Flight(key, task, ctx)
            task.add_done_callback(lambda _: self._forget(self._replies, key, flight))
        else:
            self.shared += 1
        flight.waiters += 1
        started = time.perf_counter()
        try:
            fields = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.task.cancelled() or not _current_cancelled():
                raise
            flight.waiters -= 1
            if flight.waiters == 0:
                # Nobody is left waiting: stop the call, and let a newcomer start afresh.
                self._forget(self._replies, key, flight)
                flight.task.cancel()
            raise
        flight.waiters -= 1
        if flight.ctx is not ctx:
            _follow(ctx, flight.ctx, time.perf_counter() - started)
        return dict(fields)

    async def stream(
        self,
        key: str,
        ctx: RequestContext,
        open_stream: Callable[[], Awaitable[OpenedStream]],
    ) -> OpenedStream:
        """A subscription to the one stream: past its commit point (an error before that
        is raised to every waiter, as a failed open would be)."""
        flight = self._streams.get(key)
        if flight is None:
            flight = self._streams[key] = _StreamFlight(key, ctx)
            flight.task = asyncio.create_task(self._pump(key, flight, open_stream))
        else:
            self.shared += 1
        flight.subscribers += 1
        started = time.perf_counter()
        try:
            while flight.opened is None and not flight.done:
                await flight.wake.wait()
        except BaseException:
            self._leave(flight)
            raise
        if flight.opened is None:
            self._leave(flight)
            assert flight.error is not None
            raise flight.error
        if flight.ctx is not ctx:
            _follow(ctx, flight.ctx, time.perf_counter() - started)
        first = dict(flight.chunks[0]) if flight.chunks else None
        subscription = OpenedStream(first, self._follow_chunks(flight, 1), flight.opened.target)
        return subscription

    async def _pump(
        self, key: str, flight: _StreamFlight, open_stream: Callable[[], Awaitable[OpenedStream]]
    ) -> None:
        opened: OpenedStream | None = None
        try:
            opened = await open_stream()
            if opened.first is not None:
                flight.chunks.append(opened.first)
            flight.opened = opened
            flight.notify()
            async for fields in opened.rest:
                flight.chunks.append(fields)
                flight.notify()
        except asyncio.CancelledError:
            flight.error = asyncio.CancelledError()
        except Exception as exc:
            flight.error = exc
        finally:
            flight.done = True
            self._forget(self._streams, key, flight)
            flight.notify()
            if opened is not None:
                with contextlib.suppress(Exception):
                    await opened.aclose()

    async def _follow_chunks(
        self, flight: _StreamFlight, start: int
    ) -> AsyncGenerator[RawFields, None]:
        index = start
        try:
            while True:
                if index < len(flight.chunks):
                    yield dict(flight.chunks[index])
                    index += 1
                    continue
                if flight.done:
                    if flight.error is not None:
                        raise flight.error
                    return
                await flight.wake.wait()
        finally:
            self._leave(flight)

    def _leave(self, flight: _StreamFlight) -> None:
        flight.subscribers -= 1
        if flight.subscribers <= 0 and not flight.done and flight.task is not None:
            # The last one left: stop the upstream call, and let a newcomer start afresh.
            self._forget(self._streams, flight.key, flight)
            flight.task.cancel()

    @staticmethod
    def _forget(flights: dict[str, Any], key: str, flight: object) -> None:
        if flights.get(key) is flight:
            del flights[key]


def _follow(ctx: RequestContext, leader: RequestContext, waited: float) -> None:
    ctx.backend_name = leader.backend_name
    ctx.upstream_model = leader.upstream_model
    ctx.backend_seconds += waited  # waiting on the model, as the leader did: not overhead
    ctx.cached = True


def _current_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
