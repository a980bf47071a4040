"""Per-route concurrency limits: at most `limit` requests in flight on a route; beyond it a
bounded wait in priority order (`queue_timeout` seconds, at most `max_waiting` waiters),
then a 429 with `retry-after`. Never an unbounded queue."""

from __future__ import annotations

from gateway.errors import RateLimitError
from gateway.resilience.priority_gate import PriorityGate


class RouteLimit:
    __slots__ = ("_gate", "_queue_timeout", "_route", "shape")

    def __init__(
        self, route: str, limit: int, queue_timeout: float, max_waiting: int | None = None
    ) -> None:
        # What a reload compares: an unchanged limit keeps this object (and its holders).
        self.shape = (limit, queue_timeout, max_waiting)
        self._route = route
        self._queue_timeout = queue_timeout
        # Waiters beyond this are refused at once: a burst cannot pile up without bound.
        waiting = max_waiting if max_waiting is not None else 4 * limit
        self._gate = PriorityGate(limit, waiting, self._busy)

    @property
    def gate(self) -> PriorityGate:
        """Read by the queue-depth metrics at scrape time."""
        return self._gate

    async def acquire(self, priority: int = 0) -> None:
        await self._gate.acquire(priority, max_wait=self._queue_timeout)

    def release(self) -> None:
        self._gate.release()

    def _busy(self) -> RateLimitError:
        return RateLimitError(
            f"model `{self._route}` has too many requests in flight; retry shortly",
            code="route_overloaded",
            retry_after=max(1.0, self._queue_timeout),
        )
