"""`capacity` holders at once, then a bounded queue served in priority order (lower number
first, then arrival). The one queue behind a local model's sequence slots and a route's
`max_concurrency`.

A full queue refuses at once; a waiter past its timeout is refused; either way with the
error the owner supplies (a 429 with `retry-after`). A waiter whose task is cancelled (its
client left) leaves the queue and never runs; a slot granted in the same instant passes on
to the next waiter.
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

    def slot(self, priority: int = 0) -> _Slot:
        return _Slot(self, priority)

    async def acquire(self, priority: int = 0, max_wait: float | None = None) -> None:
        if self._running < self._capacity and not self.waiting:
            self._running += 1
            return
        if self.waiting >= self._queue_size:
            raise self._refuse()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            async with asyncio.timeout(max_wait):
                await future
        except TimeoutError:
            if future.done() and not future.cancelled():
                return  # granted as the timer fired: the slot is ours
            future.cancel()
            raise self._refuse() from None
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just as the client left: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the slot passes straight to the next waiter
                return
        self._running -= 1


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
