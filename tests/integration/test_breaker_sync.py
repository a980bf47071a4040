"""Breaker state shared through a real Redis (a private `redis-server` on a free port)."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gateway.resilience.breaker import BreakerLimits, BreakerRegistry, BreakerState
from gateway.resilience.breaker_sync import RedisBreakerSync
from tests.support import RedisServer

pytestmark = pytest.mark.anyio

KEY = "a/echo"
LIMITS = BreakerLimits(failures=3, window_seconds=30, cooldown_seconds=5)
ROOT = Path(__file__).resolve().parents[2]


class Replica:
    def __init__(self, url: str, name: str, backoff_max: float = 2.0) -> None:
        self.registry = BreakerRegistry(LIMITS)
        self.registry.get(KEY)  # a configured target: known from the start
        self.client = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.sync = RedisBreakerSync(self.client, self.registry, name, backoff_max=backoff_max)
        self.registry.add_listener(self.sync.on_transition)

    def fail(self, times: int) -> None:
        breaker = self.registry.get(KEY)
        for _ in range(times):
            admission = breaker.admit()
            assert admission is not None
            breaker.failed(admission)

    async def aclose(self) -> None:
        await self.sync.aclose()
        await self.client.aclose()


async def _until(condition: Callable[[], bool], within: float) -> float:
    """Seconds until `condition()` held; fails the test after `within` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture()
async def replicas(redis_server: RedisServer) -> AsyncIterator[tuple[Replica, Replica]]:
    a = Replica(redis_server.url, "replica-a", backoff_max=0.3)
    b = Replica(redis_server.url, "replica-b", backoff_max=0.3)
    try:
        await a.sync.start()
        await b.sync.start()
        await _until(lambda: a.sync.subscribed and b.sync.subscribed, 5)
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


async def test_open_and_close_propagate(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    a.fail(3)
    assert a.registry.get(KEY).state is BreakerState.OPEN
    took = await _until(lambda: b.registry.get(KEY).state is BreakerState.OPEN, 1.0)
    assert took < 1.0
    assert b.registry.get(KEY).admit() is None
    # The cooldown is shared: B reopens when A does, not a full cooldown after the message.
    assert 4.0 < b.registry.get(KEY).retry_after() <= 5.0

    a.registry.get(KEY).reset()  # as a successful probe would
    await _until(lambda: b.registry.get(KEY).state is BreakerState.CLOSED, 1.0)
    assert b.registry.get(KEY).admit() is not None
    await asyncio.sleep(0.1)
    # Nobody republished what it applied, and each skipped its own messages.
    assert (a.sync.published, b.sync.published) == (2, 0)
    assert a.sync.applied == 0
    assert a.sync.errors == b.sync.errors == 0

    # The other direction.
    b.fail(3)
    await _until(lambda: a.registry.get(KEY).state is BreakerState.OPEN, 1.0)


async def test_poll_applies_state_of_a_target_first_used_later(redis_server: RedisServer) -> None:
    a = Replica(redis_server.url, "replica-a")
    b = Replica(redis_server.url, "replica-b")
    try:
        await a.sync.start()
        await b.sync.start()
        await _until(lambda: a.sync.subscribed and b.sync.subscribed, 5)
        other = "b/other"
        breaker = a.registry.get(other)
        for _ in range(3):
            admission = breaker.admit()
            assert admission is not None
            breaker.failed(admission)
        await _until(lambda: a.sync.published == 1, 1.0)
        await asyncio.sleep(0.1)
        # B did not know the target when the message came: nothing was created.
        assert other not in b.registry.states()
        b.registry.get(other)  # first local use; the poll picks the shared state up
        await _until(lambda: b.registry.get(other).state is BreakerState.OPEN, 2.0)
    finally:
        await a.aclose()
        await b.aclose()


async def test_poll_applies_a_lost_close(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    a.fail(3)
    await _until(lambda: b.registry.get(KEY).state is BreakerState.OPEN, 1.0)
    # A close whose message never arrived: the key is gone long before the cooldown ends.
    raw = aioredis.Redis(port=a.client.connection_pool.connection_kwargs["port"])
    try:
        await raw.delete(b.sync.prefix + KEY)
    finally:
        await raw.aclose()
    took = await _until(lambda: b.registry.get(KEY).state is BreakerState.CLOSED, 2.0)
    assert took < 2.0
    # A opened it itself: only a close message (not a missing key) closes it there.
    assert a.registry.get(KEY).state is BreakerState.OPEN


async def test_redis_down_then_back(
    replicas: tuple[Replica, Replica],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = replicas
    caplog.set_level(logging.WARNING, logger="gateway.breaker_sync")
    redis_server.stop()
    await _until(lambda: not a.sync.connected and not b.sync.connected, 3.0)

    # Local breakers keep working, without waiting on Redis.
    start = time.perf_counter()
    a.fail(3)
    assert time.perf_counter() - start < 0.05
    assert a.registry.get(KEY).state is BreakerState.OPEN
    assert a.registry.get(KEY).admit() is None
    await asyncio.sleep(1.5)  # several retries while down
    assert b.registry.get(KEY).state is BreakerState.CLOSED
    assert a.sync.errors > 1 and b.sync.errors > 1
    unavailable = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(unavailable) == 2  # one line per replica per outage, not per retry

    redis_server.start()  # same port, empty data
    await _until(lambda: a.sync.connected and b.sync.connected, 5.0)
    # A's opening, made while Redis was down, reaches B once Redis is back.
    await _until(lambda: b.registry.get(KEY).state is BreakerState.OPEN, 3.0)
    await _until(lambda: a.sync.subscribed and b.sync.subscribed, 3.0)

    # And sharing goes on as before.
    a.registry.get(KEY).reset()
    await _until(lambda: b.registry.get(KEY).state is BreakerState.CLOSED, 1.0)
    assert any("reachable again" in r.getMessage() for r in caplog.records)


async def test_slow_redis_never_delays_requests() -> None:
    # A server that accepts connections and never answers: every call must time out.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    replica = Replica(f"redis://127.0.0.1:{port}/0", "replica-a")
    replica.sync.op_timeout = 0.2
    try:
        await replica.sync.start()
        start = time.perf_counter()
        replica.fail(3)
        assert time.perf_counter() - start < 0.05
        await _until(lambda: replica.sync.errors >= 2, 3.0)
        assert not replica.sync.connected
        assert replica.registry.get(KEY).state is BreakerState.OPEN
    finally:
        start = time.perf_counter()
        await replica.aclose()
        assert time.perf_counter() - start < 1.0
        silent.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from gateway.resilience.breaker import BreakerLimits, BreakerRegistry
    from gateway.resilience.breaker_sync import RedisBreakerSync

    async def main() -> None:
        registry = BreakerRegistry(BreakerLimits(failures=3, window_seconds=30,
                                                 cooldown_seconds=5))
        breaker = registry.get(sys.argv[2])
        sync = RedisBreakerSync(sys.argv[1], registry, "child")
        await sync.start()
        while not sync.subscribed:
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        last = breaker.state
        try:
            while True:
                await asyncio.sleep(0.01)
                if breaker.state is not last:
                    last = breaker.state
                    print(last.name.lower(), flush=True)
        finally:
            await sync.aclose()

    asyncio.run(main())
    """
)


async def test_two_processes(redis_server: RedisServer) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        redis_server.url,
        KEY,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    parent = Replica(redis_server.url, "parent")
    try:
        assert child.stdout is not None
        await parent.sync.start()
        async with asyncio.timeout(15):
            assert (await child.stdout.readline()).strip() == b"ready"
        await _until(lambda: parent.sync.subscribed, 5)

        start = time.monotonic()
        parent.fail(3)
        async with asyncio.timeout(1.0):
            assert (await child.stdout.readline()).strip() == b"open"
        assert time.monotonic() - start < 1.0

        parent.registry.get(KEY).reset()
        async with asyncio.timeout(1.0):
            assert (await child.stdout.readline()).strip() == b"closed"
    finally:
        await parent.aclose()
        if child.returncode is None:
            child.terminate()
        await child.wait()
