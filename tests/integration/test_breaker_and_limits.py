"""Circuit breakers per target and concurrency limits per route, in the real app (in
process): an open target is skipped without a call, half-opens after its cool-down, and
shows in /readyz and /metrics; a full route answers 429 after a bounded wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.container import Container
from gateway.settings.loader import parse_settings
from tests.integration.conftest import served

pytestmark = pytest.mark.anyio
COOLDOWN = 0.4
SETTINGS = {
    "server": {"access_log": False},
    "defaults": {
        "retries": {"attempts": 1},
        "breaker": {"failures": 2, "window_seconds": 30, "cooldown_seconds": COOLDOWN},
    },
    "backends": {"fake": {"type": "fake"}, "spare": {"type": "fake"}},
    "models": [
        {"id": "echo", "backend": "spare"},
        {"id": "any/*", "backend": "fake", "upstream_model": "*"},
        {"id": "flaky", "backend": "fake", "upstream_model": "error-500", "fallbacks": ["echo"]},
        {
            "id": "held",
            "backend": "fake",
            "upstream_model": "stall-first",
            "max_concurrency": 1,
            "queue_timeout_seconds": 0.2,
        },
    ],
}
BODY = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with served(SETTINGS) as client:
        yield client


async def flaky(http: httpx.AsyncClient) -> tuple[int, str, str]:
    response = await http.post("/v1/chat/completions", json={**BODY, "model": "flaky"})
    return (
        response.status_code,
        response.headers["x-gateway-attempts"],
        response.headers["x-gateway-target"],
    )


async def breaker_state(http: httpx.AsyncClient) -> tuple[str, str]:
    ready = (await http.get("/readyz")).json()["breakers"]["fake/error-500"]
    metric = next(
        line
        for line in (await http.get("/metrics")).text.splitlines()
        if line.startswith('gateway_breaker_state{target="fake/error-500"}')
    )
    return ready, metric.rsplit(" ", 1)[1]


async def test_a_failing_target_opens_is_skipped_and_half_opens(http: httpx.AsyncClient) -> None:
    assert await breaker_state(http) == ("closed", "0.0")
    for _ in range(2):  # two failures: each tries the target, then the fallback answers
        assert await flaky(http) == (200, "2", "spare/echo")
    assert await breaker_state(http) == ("open", "2.0")
    # Open: the target is skipped without a call; only the fallback is asked.
    assert await flaky(http) == (200, "1", "spare/echo")
    await asyncio.sleep(COOLDOWN + 0.1)
    assert (await breaker_state(http))[0] == "half_open"
    # Half-open: one probe goes to the target (and fails), so it opens again.
    assert await flaky(http) == (200, "2", "spare/echo")
    assert await breaker_state(http) == ("open", "2.0")


async def test_a_full_route_answers_429_after_a_bounded_wait(http: httpx.AsyncClient) -> None:
    holder = asyncio.create_task(
        http.post("/v1/chat/completions", json={**BODY, "model": "held"}, timeout=30)
    )
    await asyncio.sleep(0.1)  # the first request holds the route's only slot
    started = time.monotonic()
    response = await http.post("/v1/chat/completions", json={**BODY, "model": "held"})
    waited = time.monotonic() - started
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "route_overloaded"
    assert int(response.headers["retry-after"]) >= 1
    assert 0.15 <= waited < 2
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder


async def test_a_slot_freed_within_the_wait_is_taken() -> None:
    from gateway.resilience.concurrency import RouteLimit

    limit = RouteLimit("r", 1, queue_timeout=1.0)
    await limit.acquire()

    async def free_soon() -> None:
        await asyncio.sleep(0.1)
        limit.release()

    freeing = asyncio.create_task(free_soon())
    started = time.monotonic()
    await limit.acquire()  # waits for the slot, well inside the timeout
    assert 0.05 < time.monotonic() - started < 0.9
    limit.release()
    await freeing


async def test_waiters_are_bounded() -> None:
    from gateway.errors import RateLimitError
    from gateway.resilience.concurrency import RouteLimit

    limit = RouteLimit("r", 1, queue_timeout=5.0, max_waiting=2)
    await limit.acquire()
    waiting = [asyncio.create_task(limit.acquire()) for _ in range(2)]
    await asyncio.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(RateLimitError):
        await limit.acquire()  # a third waiter is refused at once
    assert time.monotonic() - started < 0.5
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


async def test_targets_named_by_clients_get_a_bounded_set_of_breakers(
    http: httpx.AsyncClient,
) -> None:
    for i in range(300):  # every name a different upstream model behind `any/*`
        response = await http.post(
            "/v1/chat/completions", json={**BODY, "model": f"any/error-500@n{i}"}
        )
        assert response.status_code == 500
    ready = (await http.get("/readyz")).json()["breakers"]
    metrics = (await http.get("/metrics")).text
    assert not any(key.startswith("fake/error-500@") for key in ready)  # never client names
    assert "@n1" not in metrics


def test_client_named_breakers_are_bounded() -> None:
    from routers.base import Target

    container = Container(parse_settings(SETTINGS, "test", {}), env={})
    for i in range(1000):
        target = Target("fake", f"m{i}", "any/*", key=f"fake/m{i}", dynamic=True)
        container._target_policy(target)
    assert len(container.breakers.states()) <= 256 + 4  # the configured targets, plus 256
    assert "fake/m999" in container.breakers.states()  # the most recent are kept


async def test_a_failing_client_named_target_trips_only_its_own_breaker(
    http: httpx.AsyncClient,
) -> None:
    for _ in range(2):
        await http.post("/v1/chat/completions", json={**BODY, "model": "any/error-500@bad"})
    # `@bad` is open now (no call: the 503 circuit_open) while a sibling still answers.
    skipped = await http.post("/v1/chat/completions", json={**BODY, "model": "any/error-500@bad"})
    assert skipped.status_code == 503 and skipped.json()["error"]["code"] == "circuit_open"
    fine = await http.post("/v1/chat/completions", json={**BODY, "model": "any/echo"})
    assert fine.status_code == 200
