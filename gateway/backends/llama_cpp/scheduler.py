"""Fair access to one loaded model: `capacity` generations at once (the batch engine's
sequence slots), then a bounded priority queue.

Requests to a busy model wait in priority order (lower number first, then arrival); a full
queue refuses at once with 429 and `retry-after`; a waiter whose client left (its task was
cancelled) is dropped from the queue and never runs.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from types import TracebackType

from gateway.errors import RateLimitError


class PriorityGate:
    def __init__(
        self, name: str, queue_size: int, retry_after: float = 1.0, capacity: int = 1
    ) -> None:
        self._name = name
        self._queue_size = queue_size
        self._retry_after = retry_after
        self._capacity = capacity
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

    async def acquire(self, priority: int = 0) -> None:
        if self._running < self._capacity and not self.waiting:
            self._running += 1
            return
        if self.waiting >= self._queue_size:
            raise RateLimitError(
                f"model `{self._name}` is busy and its queue is full; retry shortly",
                code="model_overloaded",
                retry_after=self._retry_after,
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # granted just as the client left: pass it on
            raise

    def release(self) -> None:
        self._release()

    def _release(self) -> None:
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
