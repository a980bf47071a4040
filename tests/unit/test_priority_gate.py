"""The priority queue behind a route's `max_concurrency` and a local model's slots: lower
priority numbers first, then arrival; bounded waits; cancelled waiters never run."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.errors import GatewayError, RateLimitError
from gateway.resilience.concurrency import RouteLimit
from gateway.resilience.priority_gate import PriorityGate


async def _waiter(
    limit: RouteLimit | PriorityGate, priority: int, name: str, order: list[str]
) -> None:
    await limit.acquire(priority)
    order.append(name)
    limit.release()


async def _queue_behind_holder(
    limit: RouteLimit, waiters: list[tuple[int, str]], order: list[str]
) -> None:
    await limit.acquire()
    tasks = []
    for priority, name in waiters:
        tasks.append(asyncio.create_task(_waiter(limit, priority, name, order)))
        await asyncio.sleep(0)  # each one queued before the next arrives
    limit.release()
    await asyncio.gather(*tasks)


def _refused() -> GatewayError:
    return RateLimitError("busy", code="test_overloaded", retry_after=1.0)


def test_waiters_are_granted_lowest_priority_number_first() -> None:
    order: list[str] = []
    limit = RouteLimit("r", 1, queue_timeout=5)
    asyncio.run(_queue_behind_holder(limit, [(5, "p5"), (0, "p0"), (3, "p3")], order))
    assert order == ["p0", "p3", "p5"]


def test_waiters_of_equal_priority_are_granted_in_arrival_order() -> None:
    order: list[str] = []
    limit = RouteLimit("r", 1, queue_timeout=5)
    waiters = [(2, "first"), (2, "second"), (1, "urgent"), (2, "third")]
    asyncio.run(_queue_behind_holder(limit, waiters, order))
    assert order == ["urgent", "first", "second", "third"]


def test_a_timed_out_waiter_is_refused_dropped_and_never_granted_later() -> None:
    async def run() -> tuple[RateLimitError, list[str]]:
        limit = RouteLimit("r", 1, queue_timeout=0.05, max_waiting=1)
        await limit.acquire()
        order: list[str] = []
        with pytest.raises(RateLimitError) as caught:
            await _waiter(limit, 0, "timed-out", order)
        # Its place in the queue is free again: another waiter fits, and is the one granted.
        later = asyncio.create_task(_waiter(limit, 9, "later", order))
        await asyncio.sleep(0)
        limit.release()
        await later
        await limit.acquire()  # nothing is left holding the slot
        limit.release()
        return caught.value, order

    error, order = asyncio.run(run())
    assert error.error_code == "route_overloaded"
    assert error.retry_after == 1.0
    assert order == ["later"]


def test_the_retry_after_follows_a_long_queue_timeout() -> None:
    async def run() -> RateLimitError:
        limit = RouteLimit("r", 1, queue_timeout=3, max_waiting=0)
        await limit.acquire()
        with pytest.raises(RateLimitError) as caught:
            await limit.acquire()
        return caught.value

    assert asyncio.run(run()).retry_after == 3


def test_a_cancelled_waiter_never_runs() -> None:
    async def run() -> tuple[asyncio.Task[None], list[str]]:
        limit = RouteLimit("r", 1, queue_timeout=5)
        await limit.acquire()
        order: list[str] = []
        gone = asyncio.create_task(_waiter(limit, 0, "gone", order))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        stays = asyncio.create_task(_waiter(limit, 5, "stays", order))
        await asyncio.sleep(0)
        limit.release()
        await stays
        return gone, order

    gone, order = asyncio.run(run())
    assert gone.cancelled()
    assert order == ["stays"]


def test_a_full_queue_refuses_at_once() -> None:
    async def run() -> tuple[RateLimitError, float]:
        limit = RouteLimit("r", 1, queue_timeout=5, max_waiting=1)
        await limit.acquire()
        queued = asyncio.create_task(limit.acquire(1))
        await asyncio.sleep(0)
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await limit.acquire(0)  # a better priority does not buy a place in a full queue
        elapsed = time.monotonic() - started
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)
        return caught.value, elapsed

    error, elapsed = asyncio.run(run())
    assert error.error_code == "route_overloaded"
    assert elapsed < 0.5


def test_a_grant_racing_a_cancel_passes_to_the_next_waiter() -> None:
    async def run() -> list[str]:
        gate = PriorityGate(1, 4, _refused)
        await gate.acquire()
        order: list[str] = []
        leaving = asyncio.create_task(_waiter(gate, 0, "leaving", order))
        next_one = asyncio.create_task(_waiter(gate, 1, "next", order))
        await asyncio.sleep(0)
        gate.release()  # grants `leaving` ...
        leaving.cancel()  # ... whose client goes before it could run
        # Bounded: a lost slot would leave `next` waiting for ever.
        await asyncio.wait_for(asyncio.gather(leaving, next_one, return_exceptions=True), 2)
        await asyncio.wait_for(gate.acquire(), 2)  # the slot was handed on, not lost
        return order

    assert asyncio.run(run()) == ["next"]


def test_a_grant_racing_the_timeout_passes_to_the_next_waiter() -> None:
    async def run() -> tuple[BaseException | None, list[str]]:
        gate = PriorityGate(1, 4, _refused)
        await gate.acquire()
        order: list[str] = []

        async def impatient() -> None:
            # A wait already due: its timeout fires on the very next loop turn.
            await gate.acquire(0, max_wait=0)
            order.append("impatient")

        racing = asyncio.create_task(impatient())
        next_one = asyncio.create_task(_waiter(gate, 1, "next", order))
        await asyncio.sleep(0)
        gate.release()  # grants `impatient` in the same turn its timeout fires
        await asyncio.wait_for(asyncio.gather(racing, next_one, return_exceptions=True), 2)
        await asyncio.wait_for(gate.acquire(), 2)
        return racing.exception(), order

    error, order = asyncio.run(run())
    assert isinstance(error, RateLimitError) and error.error_code == "test_overloaded"
    assert order == ["next"]
