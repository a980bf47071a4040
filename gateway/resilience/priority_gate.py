"""`capacity` holders at once, then a bounded queue served in priority order (lower number
first, then arrival). The one queue behind a local model's sequence slots and a route's
`max_concurrency`.

A full queue refuses at once; a waiter past its timeout is refused; either way with the
error the owner supplies (a 429 with `retry-after`). A waiter that times out or whose task
is cancelled (its client left) leaves the queue and never runs; a slot granted in the same
instant passes on to the next waiter.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from types import TracebackType

from gateway.errors import GatewayError


class PriorityGate:
    def __init__(self, capacity: int, queue_size: int, refuse: Callable[[], GatewayError]) -> None:
        self._capacity = capacity
        self._queue_size = queue_size
        self._refuse = refuse
        self._running = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())

    @property
    def busy(self) -> bool:
        return self._running > 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def queue_size(self) -> int:
        """Waiters beyond this are refused (the `gateway_queue_limit` gauge)."""
        return self._queue_size

    def slot(self, priority: int = 0) -> _Slot:
        return _Slot(self, priority)

    async def acquire(self, priority: int = 0, max_wait: float | None = None) -> None:
        if self._running < self._capacity and not self.waiting:
            self._running += 1
            return
        if self.waiting >= self._queue_size:
            raise self._refuse()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (priority, next(self._order), future)
        heapq.heappush(self._waiters, entry)
        try:
            async with asyncio.timeout(max_wait):
                await future
        except TimeoutError:
            self._leave(entry)
            raise self._refuse() from None
        except asyncio.CancelledError:
            self._leave(entry)
            raise

    def release(self) -> None:
        # A waiter's future is cancelled before its task runs `_leave`: skip such entries.
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the slot passes straight to the next waiter
                return
        self._running -= 1

    def _leave(self, entry: tuple[int, int, asyncio.Future[None]]) -> None:
        future = entry[2]
        if future.done() and not future.cancelled():
            # Granted in the same instant the wait ended: the caller will not hold it.
            self.release()
            return
        future.cancel()
        # Out of the heap now, not at some later release: dead waiters must not pile up
        # while the holders run long.
        if entry in self._waiters:
            self._waiters.remove(entry)
            heapq.heapify(self._waiters)


class _Slot:
    __slots__ = ("_gate", "_priority")

    def __init__(self, gate: PriorityGate, priority: int) -> None:
        self._gate = gate
        self._priority = priority

    async def __aenter__(self) -> None:
        await self._gate.acquire(self._priority)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._gate.release()
