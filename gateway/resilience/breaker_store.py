"""Where one target's breaker keeps its state: a pybreaker storage in local memory.

pybreaker counts consecutive failures and stamps `opened_at` with the wall clock; the
gateway's contract is "`failures` within a sliding `window_seconds`" on an injectable
monotonic clock. This storage gives pybreaker's state machine both: its failure counter
is the number of failures still inside the window, and `opened_at` is recorded on the
breaker's clock (the datetime pybreaker passes in is ignored).

Sharing across replicas does not happen here: pybreaker reads its storage under its
`threading.RLock` on every call, so a Redis-backed storage would put a network round trip
(and the sync client) on the event loop. A replica instead mirrors transitions through
`TargetBreaker.trip` / `TargetBreaker.reset` from an async task (see `breaker.py`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pybreaker

Clock = Callable[[], float]


class WindowedMemoryStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker state in local memory with a sliding-window failure counter.

    Not locked itself: every access comes from pybreaker under its lock, or from
    `TargetBreaker` under its own.
    """

    def __init__(self, window_seconds: float, clock: Clock) -> None:
        super().__init__("memory-window")
        self._window = window_seconds
        self._clock = clock
        self._state = pybreaker.STATE_CLOSED
        self._failures: deque[float] = deque()
        self._successes = 0
        self._opened_clock: float | None = None

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        self._state = state

    def increment_counter(self) -> None:
        now = self._clock()
        self._failures.append(now)
        self._forget_before(now - self._window)

    def reset_counter(self) -> None:
        self._failures.clear()

    def increment_success_counter(self) -> None:
        self._successes += 1

    def reset_success_counter(self) -> None:
        self._successes = 0

    @property
    def counter(self) -> int:
        """Failures within the last `window_seconds` (older ones are dropped here)."""
        self._forget_before(self._clock() - self._window)
        return len(self._failures)

    @property
    def success_counter(self) -> int:
        return self._successes

    @property
    def opened_at(self) -> datetime | None:
        """When the breaker last opened, as the wall-clock datetime pybreaker expects."""
        if self._opened_clock is None:
            return None
        ago = self._clock() - self._opened_clock
        return datetime.now(UTC) - timedelta(seconds=ago)

    @opened_at.setter
    def opened_at(self, _ignored: datetime) -> None:
        # pybreaker passes `datetime.now(UTC)`; the breaker's clock is the one that counts.
        self._opened_clock = self._clock()

    @property
    def opened_clock(self) -> float | None:
        """When the breaker last opened, on the breaker's clock (None: never opened)."""
        return self._opened_clock

    def note_opened(self, at: float) -> None:
        """Record the last opening as `at` on the breaker's clock (another replica's)."""
        self._opened_clock = at

    def _forget_before(self, horizon: float) -> None:
        failures = self._failures
        while failures and failures[0] <= horizon:
            failures.popleft()


__all__ = ["Clock", "WindowedMemoryStorage"]
