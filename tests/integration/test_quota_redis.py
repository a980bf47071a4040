"""The Redis quota store against a real redis-server: the same semantics as the in-memory
store (rpm, tpm, parallel leases, budgets, several scopes in one decision, usage rows), and
exact limits when several replicas (separate clients) admit at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from gateway.quota.memory import MemoryQuotaStore
from gateway.quota.model import (
    Admitted,
    Ask,
    Decision,
    QuotaStore,
    Refused,
    ScopeLimits,
    Settlement,
    UsageRecord,
)
from gateway.quota.redis_store import RedisQuotaStore
from tests.support import RedisServer

pytestmark = pytest.mark.anyio

DAY = "2026-12-02"
MONTH = "2026-12"


@pytest.fixture()
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_server.url)
    yield redis
    await redis.aclose()


@pytest.fixture(params=["redis", "memory"])
async def store(request: pytest.FixtureRequest, client: Redis) -> QuotaStore:
    """The Redis store, and the in-memory reference the same expectations hold for."""
    return RedisQuotaStore(client) if request.param == "redis" else MemoryQuotaStore()


def replica(url: str) -> Redis:
    """One replica's client: a pool that waits for a free connection rather than failing."""
    return Redis.from_pool(BlockingConnectionPool.from_url(url, max_connections=20, timeout=10))


def ask(
    rid: str,
    *scopes: ScopeLimits,
    tokens: int = 0,
    cost: int = 0,
    day: str = DAY,
    month: str = MONTH,
    lease: float = 900.0,
) -> Ask:
    return Ask(rid, scopes, tokens, cost, day, month, lease)


def settlement(
    rid: str, *scopes: ScopeLimits, tokens: int = 0, cost: int = 0, day: str = DAY
) -> Settlement:
    return Settlement(rid, scopes, tokens, cost, day, MONTH)


def refused(decision: Decision, kind: str) -> Refused:
    assert isinstance(decision, Refused), decision
    assert decision.kind == kind, decision
    return decision


def admitted(decision: Decision) -> Admitted:
    assert isinstance(decision, Admitted), decision
    return decision


async def test_rpm_admits_exactly_the_limit_and_reports_the_window(
    store: QuotaStore,
) -> None:
    scope = ScopeLimits("key:k", "key `k`", rpm=3)
    for n in range(3):
        got = admitted(await store.admit(ask(f"r{n}", scope)))
        assert got.tokens is None
        assert got.requests is not None
        assert (got.requests.limit, got.requests.remaining) == (3, 2 - n)
        assert 59.0 < got.requests.reset_seconds <= 60.0
    no = refused(await store.admit(ask("r9", scope)), "requests")
    assert no.scope == scope and no.limit == 3
    assert 0.0 < no.retry_after <= 60.0
    assert no.requests is not None and (no.requests.limit, no.requests.remaining) == (3, 0)
    assert no.tokens is None
    # A refusal counts nothing: still refused, the window unchanged.
    again = refused(await store.admit(ask("r10", scope)), "requests")
    assert again.requests is not None and again.requests.remaining == 0


async def test_tokens_reserve_settle_back_and_refuse(store: QuotaStore) -> None:
    scope = ScopeLimits("key:k", "key `k`", tpm=100)
    first = admitted(await store.admit(ask("r1", scope, tokens=80)))
    assert first.requests is None
    assert first.tokens is not None and (first.tokens.limit, first.tokens.remaining) == (100, 20)

    over = refused(await store.admit(ask("r2", scope, tokens=30)), "tokens")
    assert over.limit == 100
    # Only r1's 80 can make room, and it leaves the window 60 s after it came.
    assert 59.0 < over.retry_after <= 60.0
    assert over.tokens is not None and (over.tokens.limit, over.tokens.remaining) == (100, 20)

    await store.settle([settlement("r1", scope, tokens=-70)])  # r1 really used 10
    fits = admitted(await store.admit(ask("r3", scope, tokens=30)))
    assert fits.tokens is not None and fits.tokens.remaining == 60

    too_large = refused(await store.admit(ask("r4", scope, tokens=101)), "too_large")
    assert too_large.limit == 100 and too_large.retry_after == 0.0

    # A settlement never takes a reservation below zero.
    await store.settle([settlement("r3", scope, tokens=-1000)])
    rest = admitted(await store.admit(ask("r5", scope, tokens=90)))
    assert rest.tokens is not None and rest.tokens.remaining == 0


async def test_tokens_retry_after_waits_for_enough_of_the_oldest(store: QuotaStore) -> None:
    scope = ScopeLimits("key:k", "key `k`", tpm=100)
    admitted(await store.admit(ask("r1", scope, tokens=10)))
    await asyncio.sleep(0.5)
    admitted(await store.admit(ask("r2", scope, tokens=80)))
    # 40 more needs 30 freed: r1's 10 is not enough, r2's 80 (0.5 s younger) is.
    wait = refused(await store.admit(ask("r3", scope, tokens=40)), "tokens").retry_after
    assert 59.0 < wait <= 60.0
    first_only = refused(await store.admit(ask("r4", scope, tokens=15)), "tokens").retry_after
    assert first_only < wait - 0.3


async def test_parallel_lease_held_until_settled(store: QuotaStore) -> None:
    scope = ScopeLimits("key:p", "key `p`", max_parallel=2)
    admitted(await store.admit(ask("r1", scope)))
    admitted(await store.admit(ask("r2", scope)))
    busy = refused(await store.admit(ask("r3", scope)), "parallel")
    assert busy.limit == 2 and busy.retry_after == 1.0
    await store.settle([settlement("r1", scope)])
    admitted(await store.admit(ask("r4", scope)))
    refused(await store.admit(ask("r5", scope)), "parallel")


async def test_parallel_lease_expires_without_a_settle(store: QuotaStore) -> None:
    scope = ScopeLimits("key:p", "key `p`", max_parallel=1)
    admitted(await store.admit(ask("r1", scope, lease=0.2)))
    refused(await store.admit(ask("r2", scope, lease=0.2)), "parallel")
    await asyncio.sleep(0.3)
    admitted(await store.admit(ask("r3", scope, lease=0.2)))


async def test_a_short_lease_does_not_drop_a_longer_one(store: QuotaStore) -> None:
    scope = ScopeLimits("key:p", "key `p`", max_parallel=2)
    admitted(await store.admit(ask("long", scope, lease=900.0)))
    admitted(await store.admit(ask("short", scope, lease=0.05)))
    # Past the short lease and past any key expiry the short lease alone would set.
    await asyncio.sleep(1.3)
    admitted(await store.admit(ask("r3", scope)))
    refused(await store.admit(ask("r4", scope)), "parallel")  # "long" still holds its slot


async def test_day_budget_counts_estimates_and_settles_the_real_cost(
    store: QuotaStore,
) -> None:
    scope = ScopeLimits("tenant:t", "tenant `t`", day_budget=100)
    admitted(await store.admit(ask("r1", scope, cost=60)))
    admitted(await store.admit(ask("r2", scope, cost=60)))  # 60 < 100: admitted, now 120
    spent = refused(await store.admit(ask("r3", scope, cost=1)), "day_budget")
    assert spent.limit == 100 and spent.scope == scope
    await store.settle([settlement("r2", scope, cost=-70)])  # 50 committed
    admitted(await store.admit(ask("r4", scope, cost=40)))  # 90
    admitted(await store.admit(ask("r5", scope, cost=10)))  # 100
    refused(await store.admit(ask("r6", scope, cost=1)), "day_budget")
    # A new day starts from zero; a late settlement of yesterday's spend leaves today alone.
    nxt = "2026-12-03"
    admitted(await store.admit(ask("r7", scope, cost=99, day=nxt)))
    await store.settle([settlement("r4", scope, cost=-40)])
    admitted(await store.admit(ask("r8", scope, cost=1, day=nxt)))  # 100
    refused(await store.admit(ask("r9", scope, cost=1, day=nxt)), "day_budget")
    # Corrections never leave the committed spend below zero.
    await store.settle([settlement("r7", scope, cost=-1000, day=nxt)])
    admitted(await store.admit(ask("r10", scope, cost=100, day=nxt)))
    refused(await store.admit(ask("r11", scope, cost=1, day=nxt)), "day_budget")


async def test_month_budget(store: QuotaStore) -> None:
    scope = ScopeLimits("tenant:t", "tenant `t`", month_budget=1_000)
    admitted(await store.admit(ask("r1", scope, cost=600, day="2026-12-01")))
    admitted(await store.admit(ask("r2", scope, cost=600, day="2026-12-02")))
    spent = refused(await store.admit(ask("r3", scope, cost=1, day="2026-12-03")), "month_budget")
    assert spent.limit == 1_000
    await store.settle([settlement("r2", scope, cost=-300)])
    admitted(await store.admit(ask("r4", scope, cost=1, day="2026-12-03")))
    admitted(await store.admit(ask("r5", scope, cost=1, month="2027-01", day="2027-01-01")))


async def test_a_refusal_in_any_scope_counts_nothing_anywhere(store: QuotaStore) -> None:
    key = ScopeLimits("key:k", "key `k`", rpm=10, tpm=1_000, max_parallel=3, day_budget=500)
    tenant = ScopeLimits("tenant:t", "tenant `t`", rpm=5, month_budget=10_000)
    route = ScopeLimits("route:r", "route `r`", tpm=100)

    first = admitted(await store.admit(ask("r1", key, tenant, route, tokens=40, cost=100)))
    # The tightest window of each kind: the tenant's rpm, the route's tpm.
    assert first.requests is not None and (first.requests.limit, first.requests.remaining) == (
        5,
        4,
    )
    assert first.tokens is not None and (first.tokens.limit, first.tokens.remaining) == (100, 60)

    no = refused(await store.admit(ask("r2", key, tenant, route, tokens=70, cost=100)), "tokens")
    assert no.scope == route
    too_large = refused(await store.admit(ask("r3", key, tenant, route, tokens=101)), "too_large")
    assert too_large.scope == route

    # Nothing of r2 or r3 was counted in the key or the tenant: requests, tokens, leases, spend.
    alone = admitted(await store.admit(ask("r4", key, tenant, tokens=10, cost=100)))
    assert alone.requests is not None and alone.requests.remaining == 3  # tenant: r1, r4
    assert alone.tokens is not None and alone.tokens.remaining == 950  # key: 40 + 10
    admitted(await store.admit(ask("r5", key, tokens=0, cost=100)))  # key's third lease
    refused(await store.admit(ask("r6", key)), "parallel")
    await store.settle([settlement("r5", key, cost=-100)])
    # The key's day: r1, r4, (r5 settled to 0): 200 of 500.
    admitted(await store.admit(ask("r7", key, cost=300)))
    await store.settle([settlement("r7", key)])
    refused(await store.admit(ask("r8", key, cost=1)), "day_budget")

    # A settlement corrects every scope that counts tokens, and only those.
    await store.settle([settlement("r1", key, tenant, route, tokens=-30)])
    route_left = admitted(await store.admit(ask("r9", route, tokens=0)))
    assert route_left.tokens is not None and route_left.tokens.remaining == 90
    key_tokens = ScopeLimits(key.name, key.label, tpm=1_000)  # its budget is spent
    key_left = admitted(await store.admit(ask("r10", key_tokens, tokens=0)))
    assert key_left.tokens is not None and key_left.tokens.remaining == 980

    # The tenant's rpm refuses: the key counts neither the request nor its tokens.
    spare = ScopeLimits("tenant:u", "tenant `u`", rpm=1)
    admitted(await store.admit(ask("u1", spare)))
    fresh = ScopeLimits("key:f", "key `f`", rpm=2, tpm=100)
    no_rpm = refused(await store.admit(ask("u2", fresh, spare, tokens=50)), "requests")
    assert no_rpm.scope == spare
    after = admitted(await store.admit(ask("u3", fresh, tokens=50)))
    assert after.requests is not None and after.requests.remaining == 1
    assert after.tokens is not None and after.tokens.remaining == 50


USAGE = [
    UsageRecord(DAY, "acme", "k1", "gpt-4o", 10, 5, 1_000),
    UsageRecord(DAY, "acme", "k1", "gpt-4o", 20, 7, 2_000),
    UsageRecord(DAY, "acme", "k1", "llama", 1, 1, 0),
    UsageRecord(DAY, "acme", "k2", "gpt-4o", 3, 4, 500),
    UsageRecord("2026-12-01", "acme", "k1", "gpt-4o", 100, 50, 9_000),
    UsageRecord(DAY, "globex", "k3", "gpt-4o", 8, 9, 700),
]


async def test_usage_rows_sum_filter_and_outlive_the_client(
    client: Redis, redis_server: RedisServer
) -> None:
    store, reference = RedisQuotaStore(client), MemoryQuotaStore()
    await store.record(USAGE[:3])
    await store.record(USAGE[3:])
    await reference.record(USAGE)
    days = ["2026-12-01", DAY, "2026-12-03"]
    queries: list[tuple[list[str], str | None, str | None]] = [
        (days, None, None),
        (days, "acme", None),
        (days, "acme", "k1"),
        (days, None, "k3"),
        ([DAY], "globex", None),
        (["2026-12-01"], None, None),
        (days, "nobody", None),
        ([], None, None),
    ]
    for query in queries:
        assert await store.usage(*query) == await reference.usage(*query), query

    summed = await store.usage([DAY], "acme", "k1")
    assert [
        (r.model, r.requests, r.prompt_tokens, r.completion_tokens, r.cost) for r in summed
    ] == [
        ("gpt-4o", 2, 30, 12, 3_000),
        ("llama", 1, 1, 1, 0),
    ]

    other = Redis.from_url(redis_server.url)
    try:
        later = RedisQuotaStore(other)
        for query in queries:
            assert await later.usage(*query) == await reference.usage(*query), query
    finally:
        await other.aclose()


async def _admit_across_replicas(url: str, asks: list[Ask]) -> list[Decision]:
    one, two = replica(url), replica(url)
    try:
        stores = (RedisQuotaStore(one), RedisQuotaStore(two))
        return list(await asyncio.gather(*(stores[n % 2].admit(a) for n, a in enumerate(asks))))
    finally:
        await one.aclose()
        await two.aclose()


def _count(decisions: list[Decision]) -> tuple[int, set[str]]:
    kinds: set[str] = {d.kind for d in decisions if isinstance(d, Refused)}
    return sum(isinstance(d, Admitted) for d in decisions), kinds


async def test_replicas_admit_exactly_the_rpm(redis_server: RedisServer) -> None:
    scope = ScopeLimits("key:k", "key `k`", rpm=50)
    asks = [ask(f"r{n}", scope) for n in range(200)]
    decisions = await _admit_across_replicas(redis_server.url, asks)
    assert _count(decisions) == (50, {"requests"})


async def test_replicas_admit_exactly_max_parallel(redis_server: RedisServer) -> None:
    scope = ScopeLimits("key:p", "key `p`", max_parallel=5)
    asks = [ask(f"r{n}", scope) for n in range(40)]
    decisions = await _admit_across_replicas(redis_server.url, asks)
    assert _count(decisions) == (5, {"parallel"})


async def test_replicas_admit_exactly_the_budget(redis_server: RedisServer) -> None:
    # 100 each against 1000: admitted while the committed spend is below the budget.
    scope = ScopeLimits("tenant:t", "tenant `t`", day_budget=1_000)
    asks = [ask(f"r{n}", scope, cost=100) for n in range(40)]
    decisions = await _admit_across_replicas(redis_server.url, asks)
    assert _count(decisions) == (10, {"day_budget"})


async def test_replicas_admit_exactly_the_tpm(redis_server: RedisServer) -> None:
    scope = ScopeLimits("key:k", "key `k`", tpm=1_000)
    asks = [ask(f"r{n}", scope, tokens=30) for n in range(100)]
    decisions = await _admit_across_replicas(redis_server.url, asks)
    assert _count(decisions) == (33, {"tokens"})
