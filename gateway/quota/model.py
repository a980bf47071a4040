"""The data a quota decision works on, shared by the in-memory and the Redis store.

Money is counted in integer nano-dollars (1e-9 USD): Redis adds integers atomically where
it could not add floats, and its Lua numbers (doubles) stay exact up to 9 million USD.

The records are frozen msgspec Structs rather than frozen dataclasses: every request builds
several, and a frozen dataclass's `__init__` costs about ten times as much. None of them
holds a reference back to itself, so they stay out of the cycle collector (`gc=False`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

# The sliding window of `rpm` and `tpm`.
WINDOW_SECONDS = 60.0
NANO_PER_USD = 1_000_000_000


def usd_to_nano(usd: float) -> int:
    return round(usd * NANO_PER_USD)


class ScopeLimits(msgspec.Struct, frozen=True, gc=False):
    """One scope's limits for a request (a key, a tenant or a route); None: no limit."""

    # A stable, storage-safe name: `key:<id>`, `tenant:<name>`, `route:<id>`.
    name: str
    # How errors name it to the caller: "key `team-a-ci`".
    label: str
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    day_budget: int | None = None  # nano-USD
    month_budget: int | None = None  # nano-USD

    @property
    def budgeted(self) -> bool:
        return self.day_budget is not None or self.month_budget is not None


class Ask(msgspec.Struct, frozen=True, gc=False):
    """What one request wants admitted: its id, its token and cost estimates, the UTC day and
    month its spend counts toward, and how long a parallel slot may be held at most (a
    replica that dies holding one frees it when the lease ends)."""

    request_id: str
    scopes: tuple[ScopeLimits, ...]
    tokens: int
    cost: int
    day: str
    month: str
    lease_seconds: float


class Window(msgspec.Struct, frozen=True, gc=False):
    """One limit's state after a decision, for the `x-ratelimit-*` headers."""

    limit: int
    remaining: int
    # Seconds until more capacity frees up (the oldest counted entry leaves the window).
    reset_seconds: float


RefusalKind = Literal["requests", "tokens", "too_large", "parallel", "day_budget", "month_budget"]


class Admitted(msgspec.Struct, frozen=True, gc=False):
    requests: Window | None
    tokens: Window | None


class Refused(msgspec.Struct, frozen=True, gc=False):
    kind: RefusalKind
    scope: ScopeLimits
    limit: int
    retry_after: float
    requests: Window | None = None
    tokens: Window | None = None


Decision = Admitted | Refused


class Settlement(msgspec.Struct, frozen=True, gc=False):
    """What a finished request corrects: its token reservation and cost estimate against the
    real usage (negative deltas give back), and its parallel slot."""

    request_id: str
    scopes: tuple[ScopeLimits, ...]
    token_delta: int
    cost_delta: int
    day: str
    month: str


class UsageRecord(msgspec.Struct, frozen=True, gc=False):
    """One request's usage, for `/v1/usage` and `/admin/usage`."""

    day: str
    tenant: str
    key: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: int  # nano-USD
    # Answered from the response cache or by an identical request's call: no model call.
    cached: bool = False


class UsageRow(msgspec.Struct):
    day: str
    tenant: str
    key: str
    model: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: int = 0  # nano-USD
    cached_requests: int = 0

    def add(self, record: UsageRecord, requests: int = 1) -> None:
        self.requests += requests
        self.cached_requests += requests if record.cached else 0
        self.prompt_tokens += record.prompt_tokens
        self.completion_tokens += record.completion_tokens
        self.cost += record.cost


class QuotaStore(Protocol):
    """Where limits, budgets and usage are counted: one process (`MemoryQuotaStore`) or
    every replica together (`RedisQuotaStore`). `admit` checks and counts in one atomic
    step; the rest is written off the request path, in batches."""

    async def admit(self, ask: Ask) -> Decision: ...

    async def settle(self, items: Sequence[Settlement]) -> None: ...

    async def record(self, items: Sequence[UsageRecord]) -> None: ...

    async def usage(
        self, days: Sequence[str], tenant: str | None, key: str | None
    ) -> list[UsageRow]: ...
