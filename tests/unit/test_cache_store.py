"""Answer stores: the memory LRU (entries and bytes bounds, recency, expiry on an injected
clock, clearing by tenant and route) and the Redis store on a real redis-server (expiry,
SCAN-based clearing, bytes round trip, errors raised so the response cache bypasses)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from gateway.cache.coalesce import Coalescer
from gateway.cache.entry import CachedAnswer
from gateway.cache.metrics import CacheMetrics
from gateway.cache.response_cache import ResponseCache
from gateway.cache.store import PREFIX, MemoryAnswerStore, RedisAnswerStore, entry_key
from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import decode_fields
from gateway.resilience.breaker_wire import REDIS_ERRORS
from gateway.resilience.redis_client import connect_redis
from gateway.settings.loader import parse_settings
from tests.support import RedisServer

pytestmark = pytest.mark.anyio
TIMEOUT = 0.25


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(tenant: str = "acme", route: str = "chat", digest: str = "d0") -> str:
    return entry_key(tenant, route, digest)


# --- memory --------------------------------------------------------------------------------


async def test_memory_set_get_and_size() -> None:
    store = MemoryAnswerStore(10, 10_000)
    assert await store.get(key()) is None
    await store.set(key(), b"answer-one", 60)
    assert await store.get(key()) == b"answer-one"
    assert store.size() == (1, len(b"answer-one"))
    await store.set(key(), b"replaced", 60)  # the same key: replaced, counted once
    assert await store.get(key()) == b"replaced"
    assert store.size() == (1, len(b"replaced"))


async def test_memory_entries_bound_drops_the_least_recently_used() -> None:
    store = MemoryAnswerStore(3, 1_000_000)
    for i in range(5):
        await store.set(key(digest=f"d{i}"), f"v{i}".encode(), 60)
    assert store.size() == (3, 6)
    assert [await store.get(key(digest=f"d{i}")) for i in range(5)] == [None, None, b"v2", b"v3", b"v4"]  # fmt: skip


async def test_memory_recency_on_get() -> None:
    store = MemoryAnswerStore(2, 1_000_000)
    await store.set(key(digest="a"), b"A", 60)
    await store.set(key(digest="b"), b"B", 60)
    assert await store.get(key(digest="a")) == b"A"  # a is now the most recent
    await store.set(key(digest="c"), b"C", 60)
    assert await store.get(key(digest="b")) is None
    assert await store.get(key(digest="a")) == b"A"
    assert await store.get(key(digest="c")) == b"C"


async def test_memory_bytes_bound() -> None:
    store = MemoryAnswerStore(1000, 100)
    await store.set(key(digest="a"), b"a" * 40, 60)
    await store.set(key(digest="b"), b"b" * 40, 60)
    assert store.size() == (2, 80)
    await store.set(key(digest="c"), b"c" * 40, 60)  # 120 > 100: the oldest goes
    assert store.size() == (2, 80)
    assert await store.get(key(digest="a")) is None
    assert await store.get(key(digest="b")) == b"b" * 40
    await store.set(key(digest="big"), b"x" * 90, 60)  # fits alone: both others go
    assert store.size() == (1, 90)
    assert await store.get(key(digest="big")) == b"x" * 90
    # Larger than the whole bound: never stored, and nothing is evicted for it.
    await store.set(key(digest="huge"), b"h" * 101, 60)
    assert await store.get(key(digest="huge")) is None
    assert store.size() == (1, 90)


async def test_memory_ttl_on_the_injected_clock() -> None:
    clock = Clock()
    store = MemoryAnswerStore(10, 10_000, clock=clock)
    await store.set(key(digest="short"), b"S", 30)
    await store.set(key(digest="long"), b"L", 300)
    clock.now += 29.9
    assert await store.get(key(digest="short")) == b"S"
    clock.now += 0.2
    assert await store.get(key(digest="short")) is None
    assert store.size() == (1, 1)  # the expired entry is let go, its bytes too
    assert await store.get(key(digest="long")) == b"L"
    clock.now += 300
    assert await store.get(key(digest="long")) is None
    assert store.size() == (0, 0)


async def test_memory_expiry_by_aiocache_timer_too() -> None:
    store = MemoryAnswerStore(10, 10_000)
    await store.set(key(), b"v", 0.05)
    await asyncio.sleep(0.15)
    assert await store.get(key()) is None
    assert store.size() == (0, 0)


async def fill(store: Any) -> dict[str, bytes]:
    entries = {
        key(tenant, route, f"d{i}"): f"{tenant}/{route}/{i}".encode()
        for tenant in ("acme", "globex")
        for route in ("chat", "code")
        for i in range(3)
    }
    for k, v in entries.items():
        await store.set(k, v, 60)
    return entries


async def remaining(store: Any, entries: dict[str, bytes]) -> set[tuple[str, str]]:
    left = set()
    for k, v in entries.items():
        got = await store.get(k)
        if got is not None:
            assert got == v
            tenant, route, _ = v.decode().split("/")
            left.add((tenant, route))
    return left


CLEARS = [
    (("acme", None), 6, {("globex", "chat"), ("globex", "code")}),
    ((None, "code"), 6, {("acme", "chat"), ("globex", "chat")}),
    (("acme", "code"), 3, {("acme", "chat"), ("globex", "chat"), ("globex", "code")}),
    ((None, None), 12, set()),
    (("nobody", None), 0, {("acme", "chat"), ("acme", "code"), ("globex", "chat"), ("globex", "code")}),
]  # fmt: skip


@pytest.mark.parametrize(("scope", "deleted", "left"), CLEARS)
async def test_memory_clear(
    scope: tuple[str | None, str | None], deleted: int, left: set[tuple[str, str]]
) -> None:
    store = MemoryAnswerStore(100, 100_000)
    entries = await fill(store)
    assert await store.clear(*scope) == deleted
    assert await remaining(store, entries) == left
    assert store.size()[0] == 12 - deleted  # type: ignore[index]


async def test_memory_clear_is_exact_on_names_that_look_like_patterns() -> None:
    store = MemoryAnswerStore(100, 100_000)
    await store.set(key("a*", "r"), b"1", 60)
    await store.set(key("ab", "r"), b"2", 60)
    await store.set(key("a:b", "r:x"), b"3", 60)
    assert await store.clear("a*", None) == 1
    assert await store.get(key("ab", "r")) == b"2"
    assert await store.clear("a:b", "r:x") == 1
    assert await store.get(key("ab", "r")) == b"2"


def test_entry_keys_hex_encode_tenant_and_route() -> None:
    k = entry_key("ten*ant", "ro:ute", "abc")
    assert k == f"{PREFIX}{b'ten*ant'.hex()}:{b'ro:ute'.hex()}:abc"
    assert "*" not in k


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture()
async def redis_store(redis_server: RedisServer) -> AsyncIterator[tuple[RedisAnswerStore, Any]]:
    client = connect_redis(redis_server.url, TIMEOUT)
    try:
        yield RedisAnswerStore(client, TIMEOUT), client
    finally:
        await client.aclose()


async def test_redis_set_get_bytes_round_trip(redis_store: tuple[RedisAnswerStore, Any]) -> None:
    store, client = redis_store
    value = bytes(range(256)) + "é✓".encode() + b"\x00\xff"
    assert await store.get(key()) is None
    await store.set(key(), value, 60)
    got = await store.get(key())
    assert got == value and isinstance(got, bytes)
    assert await client.get(key()) == value  # stored under the entry key itself, raw
    ttl_ms = await client.pttl(key())
    assert 59_000 < ttl_ms <= 60_000
    assert store.size() is None  # shared: not counted here


async def test_redis_ttl_expiry(redis_store: tuple[RedisAnswerStore, Any]) -> None:
    store, client = redis_store
    await store.set(key(digest="short"), b"S", 0.2)
    await store.set(key(digest="long"), b"L", 30)
    assert 0 < await client.pttl(key(digest="short")) <= 200
    assert await store.get(key(digest="short")) == b"S"
    await asyncio.sleep(0.35)
    assert await store.get(key(digest="short")) is None
    assert await store.get(key(digest="long")) == b"L"


@pytest.mark.parametrize(("scope", "deleted", "left"), CLEARS)
async def test_redis_clear(
    redis_store: tuple[RedisAnswerStore, Any],
    scope: tuple[str | None, str | None],
    deleted: int,
    left: set[tuple[str, str]],
) -> None:
    store, client = redis_store
    await client.set("not-the-cache", b"keep")  # other keys on the same Redis stay
    entries = await fill(store)
    assert await store.clear(*scope) == deleted
    assert await remaining(store, entries) == left
    assert await client.get("not-the-cache") == b"keep"


async def test_redis_clear_goes_past_one_scan_batch(
    redis_store: tuple[RedisAnswerStore, Any],
) -> None:
    store, client = redis_store
    async with client.pipeline(transaction=False) as pipe:
        for i in range(1200):
            pipe.set(key("bulk", "chat", f"{i:05d}"), b"x", px=60_000)
        pipe.set(key("other", "chat", "keep"), b"y", px=60_000)
        await pipe.execute()
    assert await store.clear("bulk", None) == 1200
    assert await store.get(key("other", "chat", "keep")) == b"y"
    assert [k async for k in client.scan_iter(match=f"{PREFIX}*")] == [
        key("other", "chat", "keep").encode()
    ]


async def test_redis_clear_is_exact_on_names_that_look_like_patterns(
    redis_store: tuple[RedisAnswerStore, Any],
) -> None:
    store, _ = redis_store
    await store.set(key("a*", "r"), b"1", 60)
    await store.set(key("ab", "r"), b"2", 60)
    await store.set(key("a?", "r"), b"3", 60)
    assert await store.clear("a*", None) == 1
    assert await store.get(key("ab", "r")) == b"2"
    assert await store.get(key("a?", "r")) == b"3"


async def test_a_stopped_redis_raises(redis_server: RedisServer) -> None:
    client = connect_redis(redis_server.url, TIMEOUT)
    store = RedisAnswerStore(client, TIMEOUT)
    try:
        await store.set(key(), b"v", 60)
        redis_server.stop()
        for operation in (
            store.get(key()),
            store.set(key(), b"v", 60),
            store.clear("acme", None),
        ):
            started = time.monotonic()
            with pytest.raises(REDIS_ERRORS):
                await operation
            assert time.monotonic() - started < 2.0
    finally:
        await client.aclose()


async def test_a_paused_redis_raises_within_the_timeout(redis_server: RedisServer) -> None:
    client = connect_redis(redis_server.url, TIMEOUT)
    store = RedisAnswerStore(client, TIMEOUT)
    try:
        # Set-up, not the check: on a loaded machine the first connection can take longer
        # than the bound under test, so it is made (and the value written) with time to spare.
        await RedisAnswerStore(client, 10.0).set(key(), b"v", 60)
        redis_server.pause()
        for operation in (store.get(key()), store.set(key(), b"w", 60)):
            started = time.monotonic()
            with pytest.raises(REDIS_ERRORS):
                await operation
            assert time.monotonic() - started < TIMEOUT * 4
    finally:
        redis_server.resume()
        await client.aclose()


# --- the response cache over a failing store bypasses ---------------------------------------

SETTINGS = {
    "backends": {"fake": {"type": "fake"}},
    "models": [{"id": "chat", "backend": "fake", "upstream_model": "echo", "cache": {"mode": "exact"}}],
}  # fmt: skip
BODY = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}'
ANSWER = CachedAnswer(
    kind="chat",
    choices=[{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop", "logprobs": None}],
)  # fmt: skip


def context() -> RequestContext:
    ctx = RequestContext(request_id="r", endpoint="chat/completions")
    ctx.model = ctx.route_id = "chat"
    return ctx


async def test_the_response_cache_bypasses_a_stopped_redis_and_backs_off(
    redis_server: RedisServer,
) -> None:
    client = connect_redis(redis_server.url, TIMEOUT)
    metrics = CacheMetrics(CollectorRegistry())
    cache = ResponseCache(
        parse_settings(SETTINGS, "test", {}),
        RedisAnswerStore(client, TIMEOUT),
        Coalescer(),
        metrics,
    )
    request = msgspec.json.decode(BODY, type=ChatCompletionRequest)
    fields = decode_fields(BODY)
    try:
        ctx = context()
        plan = cache.plan(request, fields, ctx)
        assert plan is not None and plan.lookup and plan.store
        assert await cache.lookup(plan, ctx) is None and ctx.cache_status == "miss"
        cache.store_later(plan, ANSWER)
        await cache.drain()
        ctx = context()
        assert await cache.lookup(plan, ctx) == ANSWER and ctx.cache_status == "hit"

        redis_server.stop()
        ctx = context()
        started = time.monotonic()
        assert await cache.lookup(plan, ctx) is None
        assert time.monotonic() - started < 2.0
        assert ctx.cache_status == "bypass" and not ctx.cached
        assert metrics.errors.labels("get")._value.get() == 1
        # Backing off: the next plans skip the lookup (and the store) for a while.
        ctx = context()
        later = cache.plan(request, fields, ctx)
        assert later is not None and not later.lookup
        assert await cache.lookup(later, ctx) is None and ctx.cache_status == "bypass"
        cache.store_later(later, ANSWER)  # skipped while unavailable: nothing to drain
        await cache.drain()
        assert metrics.errors.labels("get")._value.get() == 1

        redis_server.start()  # back on the same port: caching resumes after the backoff
        deadline = time.monotonic() + 10
        while True:
            ctx = context()
            again = cache.plan(request, fields, ctx)
            assert again is not None
            if again.lookup:
                found = await cache.lookup(again, ctx)
                if ctx.cache_status != "bypass":
                    break
            assert time.monotonic() < deadline, "the cache never came back"
            await asyncio.sleep(0.1)
        assert found is None and ctx.cache_status == "miss"  # a fresh Redis: empty
        cache.store_later(again, ANSWER)
        await cache.drain()
        ctx = context()
        assert await cache.lookup(again, ctx) == ANSWER and ctx.cache_status == "hit"
    finally:
        await client.aclose()
