"""The quota stores on their own (the Redis store is not wired in yet): the sliding-window log admits exactly `rpm` in 60 s and
says when the next slot frees; token reservations settle; parallel leases and budgets hold."""

from __future__ import annotations

import asyncio

import pytest

from gateway.quota.memory import MemoryQuotaStore
from gateway.quota.model import Admitted, Ask, Refused, ScopeLimits, Settlement


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ask(n: int, scope: ScopeLimits, tokens: int = 0, cost: int = 0) -> Ask:
    return Ask(f"r{n}", (scope,), tokens, cost, "2026-12-02", "2026-12", 900.0)


def test_rpm_admits_exactly_the_limit_then_recovers_when_the_oldest_leaves() -> None:
    clock = Clock()
    store = MemoryQuotaStore(clock)
    scope = ScopeLimits("key:k", "key `k`", rpm=3)
    for n in range(3):
        assert isinstance(store.admit_now(ask(n, scope)), Admitted)
        clock.now += 10
    refused = store.admit_now(ask(9, scope))
    assert isinstance(refused, Refused) and refused.kind == "requests"
    assert refused.retry_after == pytest.approx(30.0)  # the first entry leaves at 60 s
    clock.now += 30.0
    assert isinstance(store.admit_now(ask(10, scope)), Admitted)


def test_tokens_reserve_then_settle_to_the_real_usage() -> None:
    clock = Clock()
    store = MemoryQuotaStore(clock)
    scope = ScopeLimits("key:k", "key `k`", tpm=100)
    first = store.admit_now(ask(1, scope, tokens=80))
    assert isinstance(first, Admitted) and first.tokens is not None
    assert first.tokens.remaining == 20
    assert isinstance(store.admit_now(ask(2, scope, tokens=30)), Refused)
    asyncio.run(store.settle([Settlement("r1", (scope,), -70, 0, "2026-12-02", "2026-12")]))
    assert isinstance(store.admit_now(ask(3, scope, tokens=30)), Admitted)
    too_large = store.admit_now(ask(4, scope, tokens=101))
    assert isinstance(too_large, Refused) and too_large.kind == "too_large"


def test_parallel_and_budget() -> None:
    store = MemoryQuotaStore(Clock())
    par = ScopeLimits("key:p", "key `p`", max_parallel=1)
    assert isinstance(store.admit_now(ask(1, par)), Admitted)
    busy = store.admit_now(ask(2, par))
    assert isinstance(busy, Refused) and busy.kind == "parallel"
    asyncio.run(store.settle([Settlement("r1", (par,), 0, 0, "2026-12-02", "2026-12")]))
    assert isinstance(store.admit_now(ask(3, par)), Admitted)
    budget = ScopeLimits("tenant:t", "tenant `t`", day_budget=100)
    assert isinstance(store.admit_now(ask(4, budget, cost=60)), Admitted)
    assert isinstance(store.admit_now(ask(5, budget, cost=60)), Admitted)  # 60 < 100
    spent = store.admit_now(ask(6, budget, cost=1))
    assert isinstance(spent, Refused) and spent.kind == "day_budget"
