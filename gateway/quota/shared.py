"""The quota store a request uses: Redis when configured and reachable; when it is not,
`fail_open` counts in this process (a warning, `gateway_state_degraded` = 1) and
`fail_closed` refuses with a 503. During an outage Redis is retried with backoff, not on
every request, so a dead Redis costs no request its timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal

from gateway.errors import ServiceUnavailableError
from gateway.quota.memory import MemoryQuotaStore
from gateway.quota.model import Ask, Decision, QuotaStore
from gateway.quota.redis_store import RedisQuotaStore
from gateway.resilience.breaker_wire import REDIS_ERRORS
from gateway.resilience.redis_health import RedisHealth

FailMode = Literal["fail_open", "fail_closed"]


class SharedQuota:
    def __init__(
        self,
        local: MemoryQuotaStore,
        shared: RedisQuotaStore | None = None,
        *,
        mode: FailMode = "fail_open",
        timeout: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local = local
        self.shared = shared
        self._mode = mode
        self._timeout = timeout
        self._clock = clock
        self.health = RedisHealth("rate limits and budgets", backoff_initial=0.25, backoff_max=5.0)
        self._retry_at = 0.0
        self._backoff = 0.0

    @property
    def degraded(self) -> bool:
        """Whether requests are being counted locally because the shared Redis is down."""
        return self.shared is not None and self._retry_at > 0.0

    @property
    def usage_store(self) -> QuotaStore:
        """Where a request with no limits records its usage."""
        if self.shared is None or self.degraded:
            return self.local
        return self.shared

    async def admit(self, ask: Ask) -> tuple[Decision, QuotaStore]:
        shared = self.shared
        if shared is None:
            return self.local.admit_now(ask), self.local
        if self._retry_at and self._clock() < self._retry_at:
            return self._unavailable(ask)
        try:
            async with asyncio.timeout(self._timeout):
                decision = await shared.admit(ask)
        except REDIS_ERRORS as exc:
            self.health.failed("admit", exc)
            self._backoff = self.health.backoff(self._backoff)
            self._retry_at = self._clock() + self._backoff
            return self._unavailable(ask)
        self._retry_at = 0.0
        self._backoff = 0.0
        self.health.succeeded()
        return decision, shared

    def _unavailable(self, ask: Ask) -> tuple[Decision, QuotaStore]:
        if self._mode == "fail_closed":
            raise ServiceUnavailableError(
                "Rate limits and budgets cannot be checked right now (shared state is "
                "unavailable); retry shortly.",
                code="state_unavailable",
                retry_after=max(1.0, self._backoff),
            )
        return self.local.admit_now(ask), self.local
