"""Limits, budgets and usage counted in this process (the default, and the fallback when a
shared Redis is down and `state.on_unavailable` is `fail_open`).

`rpm` and `tpm` are sliding-window logs: every admitted request (and its token weight) is
kept for 60 s, so no 60-second span ever holds more than the limit, and the time until the
next slot frees is exact. GCRA or a token bucket would admit a full burst and then refill,
up to twice the limit in some minute; a sliding-window counter is approximate across window
edges. The log costs memory per request in the window, which the limit itself bounds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.quota.model import (
    WINDOW_SECONDS,
    Admitted,
    Ask,
    Decision,
    Refused,
    ScopeLimits,
    Settlement,
    UsageRecord,
    UsageRow,
    Window,
)


@dataclass(slots=True)
class _Entry:
    at: float
    weight: int
    request_id: str


@dataclass(slots=True)
class _Log:
    """Entries of the last 60 s, oldest first, with their weights summed."""

    entries: deque[_Entry] = field(default_factory=deque)
    total: int = 0
    by_id: dict[str, _Entry] = field(default_factory=dict)

    def trim(self, now: float) -> None:
        cutoff = now - WINDOW_SECONDS
        entries = self.entries
        while entries and entries[0].at <= cutoff:
            old = entries.popleft()
            self.total -= old.weight
            self.by_id.pop(old.request_id, None)

    def add(self, now: float, weight: int, request_id: str) -> None:
        entry = _Entry(now, weight, request_id)
        self.entries.append(entry)
        self.total += weight
        self.by_id[request_id] = entry

    def adjust(self, request_id: str, delta: int) -> None:
        entry = self.by_id.get(request_id)
        if entry is None:
            return  # already out of the window: nothing left to correct
        new = max(0, entry.weight + delta)
        self.total += new - entry.weight
        entry.weight = new

    def wait_for(self, now: float, room: int, limit: int) -> float:
        """Seconds until `room` more fits under `limit`."""
        excess = self.total + room - limit
        for entry in self.entries:
            excess -= entry.weight
            if excess <= 0:
                return max(0.0, entry.at + WINDOW_SECONDS - now)
        return WINDOW_SECONDS

    def window(self, now: float, limit: int) -> Window:
        reset = self.entries[0].at + WINDOW_SECONDS - now if self.entries else 0.0
        return Window(limit, max(0, limit - self.total), max(0.0, reset))


@dataclass(slots=True)
class _Times:
    """The admission times of the last 60 s, oldest first: a request's weight is one and
    it is never adjusted, so a float per request is all it keeps."""

    entries: deque[float] = field(default_factory=deque)

    @property
    def total(self) -> int:
        return len(self.entries)

    def trim(self, now: float) -> None:
        cutoff = now - WINDOW_SECONDS
        entries = self.entries
        while entries and entries[0] <= cutoff:
            entries.popleft()

    def add(self, now: float) -> None:
        self.entries.append(now)

    def wait_for(self, now: float, limit: int) -> float:
        """Seconds until one more fits under `limit`: until the entry that is `limit`-th
        from the newest leaves the window."""
        excess = len(self.entries) + 1 - limit
        if excess <= 0:
            return 0.0
        return max(0.0, self.entries[excess - 1] + WINDOW_SECONDS - now)

    def window(self, now: float, limit: int) -> Window:
        reset = self.entries[0] + WINDOW_SECONDS - now if self.entries else 0.0
        return Window(limit, max(0, limit - len(self.entries)), max(0.0, reset))


@dataclass(slots=True)
class _Scope:
    requests: _Times = field(default_factory=_Times)
    tokens: _Log = field(default_factory=_Log)
    leases: dict[str, float] = field(default_factory=dict)
    # (period, nano-USD committed: spent plus the estimates of requests in flight)
    day: tuple[str, int] = ("", 0)
    month: tuple[str, int] = ("", 0)


class MemoryQuotaStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._scopes: dict[str, _Scope] = {}
        self._usage: dict[tuple[str, str, str, str], UsageRow] = {}

    async def admit(self, ask: Ask) -> Decision:
        return self.admit_now(ask)

    def admit_now(self, ask: Ask) -> Decision:
        now = self._clock()
        counted: list[tuple[ScopeLimits, _Scope]] = []
        for limits in ask.scopes:
            state = self._scope(limits.name)
            refusal = _refusal(limits, state, ask, now)
            if refusal is not None:
                return refusal
            counted.append((limits, state))
        requests: Window | None = None
        tokens: Window | None = None
        for limits, state in counted:
            if limits.rpm is not None:
                state.requests.add(now)
                requests = _tighter(requests, state.requests.window(now, limits.rpm))
            if limits.tpm is not None:
                state.tokens.add(now, ask.tokens, ask.request_id)
                tokens = _tighter(tokens, state.tokens.window(now, limits.tpm))
            if limits.max_parallel is not None:
                state.leases[ask.request_id] = now + ask.lease_seconds
            if limits.day_budget is not None:
                state.day = (ask.day, _spent(state.day, ask.day) + ask.cost)
            if limits.month_budget is not None:
                state.month = (ask.month, _spent(state.month, ask.month) + ask.cost)
        return Admitted(requests, tokens)

    def apply_now(self, settlement: Settlement | None, usage: UsageRecord | None) -> None:
        if settlement is not None:
            self._settle_one(settlement)
        if usage is not None:
            self._record_one(usage)

    async def settle(self, items: Sequence[Settlement]) -> None:
        for item in items:
            self._settle_one(item)

    def _settle_one(self, item: Settlement) -> None:
        for limits in item.scopes:
            state = self._scopes.get(limits.name)
            if state is None:
                continue
            state.tokens.adjust(item.request_id, item.token_delta)
            state.leases.pop(item.request_id, None)
            if state.day[0] == item.day:
                state.day = (item.day, max(0, state.day[1] + item.cost_delta))
            if state.month[0] == item.month:
                state.month = (item.month, max(0, state.month[1] + item.cost_delta))

    async def record(self, items: Sequence[UsageRecord]) -> None:
        for item in items:
            self._record_one(item)

    def _record_one(self, item: UsageRecord) -> None:
        key = (item.day, item.tenant, item.key, item.model)
        row = self._usage.get(key)
        if row is None:
            row = self._usage[key] = UsageRow(item.day, item.tenant, item.key, item.model)
        row.add(item)

    async def usage(
        self, days: Sequence[str], tenant: str | None, key: str | None
    ) -> list[UsageRow]:
        wanted = set(days)
        return [
            row
            for (day, row_tenant, row_key, _), row in sorted(self._usage.items())
            if day in wanted
            and (tenant is None or row_tenant == tenant)
            and (key is None or row_key == key)
        ]

    def _scope(self, name: str) -> _Scope:
        state = self._scopes.get(name)
        if state is None:
            state = self._scopes[name] = _Scope()
        return state


def _refusal(limits: ScopeLimits, state: _Scope, ask: Ask, now: float) -> Refused | None:
    if limits.day_budget is not None and _spent(state.day, ask.day) >= limits.day_budget:
        return Refused("day_budget", limits, limits.day_budget, 0.0)
    if limits.month_budget is not None and _spent(state.month, ask.month) >= limits.month_budget:
        return Refused("month_budget", limits, limits.month_budget, 0.0)
    if limits.max_parallel is not None:
        leases = state.leases
        for request_id in [r for r, until in leases.items() if until <= now]:
            del leases[request_id]  # held by a request that never settled
        if len(leases) >= limits.max_parallel:
            return Refused("parallel", limits, limits.max_parallel, 1.0)
    if limits.rpm is not None:
        times = state.requests
        times.trim(now)
        if times.total + 1 > limits.rpm:
            window = times.window(now, limits.rpm)
            wait = times.wait_for(now, limits.rpm)
            return Refused("requests", limits, limits.rpm, wait, requests=window)
    if limits.tpm is not None:
        log = state.tokens
        log.trim(now)
        if ask.tokens > limits.tpm:
            return Refused("too_large", limits, limits.tpm, 0.0)
        if log.total + ask.tokens > limits.tpm:
            window = log.window(now, limits.tpm)
            wait = log.wait_for(now, ask.tokens, limits.tpm)
            return Refused("tokens", limits, limits.tpm, wait, tokens=window)
    return None


def _spent(counter: tuple[str, int], period: str) -> int:
    return counter[1] if counter[0] == period else 0


def _tighter(current: Window | None, new: Window) -> Window:
    return new if current is None or new.remaining < current.remaining else current
