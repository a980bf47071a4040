"""Per-route concurrency limits: at most `limit` requests in flight on a route; beyond it a
bounded wait (`queue_timeout` seconds, at most `max_waiting` waiters), then a 429 with
`retry-after`. Never an unbounded queue."""

from __future__ import annotations

import asyncio

from gateway.errors import RateLimitError


class RouteLimit:
    __slots__ = ("_max_waiting", "_queue_timeout", "_route", "_slots", "_waiting", "shape")

    def __init__(
        self, route: str, limit: int, queue_timeout: float, max_waiting: int | None = None
    ) -> None:
        # What a reload compares: an unchanged limit keeps this object (and its holders).
        self.shape = (limit, queue_timeout, max_waiting)
        self._route = route
        self._slots = asyncio.Semaphore(limit)
        self._queue_timeout = queue_timeout
        # Waiters beyond this are refused at once: a burst cannot pile up without bound.
        self._max_waiting = max_waiting if max_waiting is not None else 4 * limit
        self._waiting = 0

    async def acquire(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        if self._waiting >= self._max_waiting:
            raise self._busy()
        self._waiting += 1
        try:
            async with asyncio.timeout(self._queue_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise self._busy() from None
        finally:
            self._waiting -= 1

    def release(self) -> None:
        self._slots.release()

    def _busy(self) -> RateLimitError:
        return RateLimitError(
            f"model `{self._route}` has too many requests in flight; retry shortly",
            code="route_overloaded",
            retry_after=max(1.0, self._queue_timeout),
        )
