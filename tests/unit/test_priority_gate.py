"""The priority queue behind a route's `max_concurrency` and a local model's slots: lower
priority numbers first, then arrival; bounded waits; cancelled waiters never run."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import RateLimitError
from gateway.resilience.concurrency import RouteLimit


async def _waiter(limit: RouteLimit, priority: int, order: list[int]) -> None:
    await limit.acquire(priority)
    order.append(priority)
    limit.release()


def test_waiters_are_granted_by_priority_then_arrival() -> None:
    async def run() -> list[int]:
        limit = RouteLimit("r", 1, queue_timeout=5)
        await limit.acquire()
        order: list[int] = []
        tasks = []
        for priority in (5, 0, 3, 0):
            tasks.append(asyncio.create_task(_waiter(limit, priority, order)))
            await asyncio.sleep(0)
        limit.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(run()) == [0, 0, 3, 5]


def test_a_timed_out_waiter_is_refused_and_never_granted_later() -> None:
    async def run() -> tuple[RateLimitError, list[int]]:
        limit = RouteLimit("r", 1, queue_timeout=0.05)
        await limit.acquire()
        order: list[int] = []
        with pytest.raises(RateLimitError) as caught:
            await _waiter(limit, 0, order)
        limit.release()
        await limit.acquire(9)  # the slot is free again: the timed-out waiter holds none
        limit.release()
        return caught.value, order

    error, order = asyncio.run(run())
    assert error.error_code == "route_overloaded" and error.retry_after == 1.0
    assert order == []


def test_a_cancelled_waiter_never_runs_and_a_full_queue_refuses_at_once() -> None:
    async def run() -> list[int]:
        limit = RouteLimit("r", 1, queue_timeout=5, max_waiting=1)
        await limit.acquire()
        order: list[int] = []
        first = asyncio.create_task(_waiter(limit, 1, order))
        await asyncio.sleep(0)
        with pytest.raises(RateLimitError):
            await limit.acquire(0)  # the one waiting place is taken
        first.cancel()
        await asyncio.sleep(0)
        late = asyncio.create_task(_waiter(limit, 2, order))
        await asyncio.sleep(0)
        limit.release()
        await late
        assert first.cancelled()
        return order

    assert asyncio.run(run()) == [2]
