"""One circuit breaker per target, asyncio-safe, on pybreaker's state machine.

closed -> open after `failures` failures within a sliding `window_seconds`;
open -> half-open once `cooldown_seconds` passed (checked when a request asks to be let
through); half-open lets exactly one probe through at a time and refuses the rest while it
runs; the probe's success closes the breaker, its failure opens it again for a fresh
cooldown. An open target is refused before any network call.

How it is used, around one call to a target::

    admission = breaker.admit()
    if admission is None:
        ...  # skip the target (breaker open); `breaker.retry_after()` for a 503
    try:
        reply = await call_target()
    except CountedFailure:   # upstream errors, 5xx, 429, timeouts: the caller decides
        breaker.failed(admission)
        raise
    except BaseException:    # a client 4xx, a cancellation: neither outcome
        breaker.release(admission)
        raise
    breaker.succeeded(admission)

Every method is synchronous, so no lock can be held across an `await`. pybreaker's
`call_async` needs Tornado and would hold its `threading.RLock` for the whole call, so it
is never used: an admission is decided here, and the outcome is fed to pybreaker
afterwards through its synchronous `call` with a function that returns or raises at once.
pybreaker then owns the transitions closed -> open (its `fail_max`), half-open -> open and
half-open -> closed (its `success_threshold`); only open -> half-open is triggered here
(`CircuitBreaker.half_open`), because pybreaker times the cooldown with the wall clock.

Sharing across replicas (`state.redis_url_env`) plugs in beside the registry, not under
it: an async task publishes this replica's transitions (the registry's listener) to Redis
and applies other replicas' through `TargetBreaker.trip` / `TargetBreaker.reset`. Requests
only ever read local memory, so Redis being down leaves each replica on its own state.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NoReturn, Protocol

import pybreaker

from gateway.resilience.breaker_store import Clock, WindowedMemoryStorage

_log = logging.getLogger("gateway.breaker")

Listener = Callable[[str, "BreakerState"], None]


class BreakerState(enum.IntEnum):
    """Values are what `gateway_breaker_state` reports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


_FROM_PYBREAKER = {
    pybreaker.STATE_CLOSED: BreakerState.CLOSED,
    pybreaker.STATE_HALF_OPEN: BreakerState.HALF_OPEN,
    pybreaker.STATE_OPEN: BreakerState.OPEN,
}


class BreakerSettings(Protocol):
    """What a breaker needs from the policy file's `breaker:` block."""

    @property
    def failures(self) -> int: ...
    @property
    def window_seconds(self) -> float: ...
    @property
    def cooldown_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    """A breaker's settings, copied out of whatever config object supplied them."""

    failures: int = 5
    window_seconds: float = 30.0
    cooldown_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.failures < 1 or self.window_seconds <= 0 or self.cooldown_seconds < 0:
            raise ValueError(f"invalid breaker settings: {self}")

    @classmethod
    def of(cls, settings: BreakerSettings) -> BreakerLimits:
        if isinstance(settings, BreakerLimits):
            return settings
        return cls(
            failures=int(settings.failures),
            window_seconds=float(settings.window_seconds),
            cooldown_seconds=float(settings.cooldown_seconds),
        )


@dataclass(frozen=True, slots=True, eq=False)
class Admission:
    """A request let through; hand it back to `succeeded`, `failed` or `release`.

    `epoch` counts the breaker's transitions: an outcome reported after the state moved on
    (a request let in before the breaker opened, finishing after) changes nothing.
    """

    epoch: int
    probe: bool


class _ReportedFailure(Exception):
    """Raised inside pybreaker's `call` to feed it a failure the caller already saw."""


def _fail() -> NoReturn:
    raise _ReportedFailure


def _succeed() -> None:
    return None


class _Transitions(pybreaker.CircuitBreakerListener):
    """pybreaker's state changes, handed to the owning breaker (called under the locks)."""

    def __init__(self, on_change: Callable[[BreakerState], None]) -> None:
        self._on_change = on_change

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._on_change(_FROM_PYBREAKER[new_state.name])


class TargetBreaker:
    """The circuit breaker of one target. Safe from asyncio tasks and threads alike."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        clock: Clock = time.monotonic,
        listener: Listener | None = None,
        *,
        probe_lease_seconds: float = 60.0,
    ) -> None:
        self.name = name
        self.limits = BreakerLimits.of(settings)
        self._clock = clock
        self._listener = listener
        # A probe whose outcome never came back (a caller that forgot to report) stops
        # blocking the target after this long.
        self._probe_lease = probe_lease_seconds
        self._lock = threading.Lock()
        self._storage = WindowedMemoryStorage(self.limits.window_seconds, clock)
        self._cb = pybreaker.CircuitBreaker(
            fail_max=self.limits.failures,
            reset_timeout=self.limits.cooldown_seconds,
            state_storage=self._storage,
            listeners=[_Transitions(self._changed)],
            name=name,
        )
        self._state = BreakerState.CLOSED
        self._epoch = 0
        self._pass = Admission(self._epoch, probe=False)
        self._probe: Admission | None = None
        self._probe_since = 0.0
        self._unnotified: list[BreakerState] = []

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cooldown passed reads (and becomes)
        half-open, so `/readyz` and metrics show it before the next request arrives."""
        if self._state is BreakerState.OPEN:
            with self._lock:
                if self._state is BreakerState.OPEN and self._clock() >= self._reopens_at():
                    self._cb.half_open()
            self._notify()
        return self._state

    def admit(self) -> Admission | None:
        """Let one request through, or None: refuse it now without calling the target."""
        if self._state is BreakerState.CLOSED:
            return self._pass
        with self._lock:
            admission = self._admit_locked()
        self._notify()
        return admission

    def succeeded(self, admission: Admission) -> None:
        # Successes while closed change nothing: failures are counted in a window, so a
        # success does not forgive the ones before it.
        if not admission.probe:
            return
        with self._lock:
            if admission is self._probe:
                self._feed(_succeed)
        self._notify()

    def failed(self, admission: Admission) -> None:
        with self._lock:
            if admission.epoch != self._epoch:
                return
            if self._state is BreakerState.CLOSED or admission is self._probe:
                self._feed(_fail)
        self._notify()

    def release(self, admission: Admission) -> None:
        """The request ended with neither outcome (cancelled, a client error): a probe's
        slot is freed for the next request."""
        if not admission.probe:
            return
        with self._lock:
            if admission is self._probe:
                self._probe = None

    def retry_after(self) -> float:
        """Seconds until this target may be tried again (0: now)."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                return max(0.0, self._reopens_at() - self._clock())
            if self._state is BreakerState.HALF_OPEN and self._probe_running():
                return self.limits.cooldown_seconds
            return 0.0

    def trip(self, opened_seconds_ago: float = 0.0) -> None:
        """Open now, as if it had opened `opened_seconds_ago` (another replica's breaker)."""
        with self._lock:
            opened_at = self._clock() - max(0.0, opened_seconds_ago)
            if self._state is BreakerState.OPEN:
                # Already open here too: the later opening (the longer cooldown) wins.
                current = self._storage.opened_clock
                opened_at = opened_at if current is None else max(opened_at, current)
            else:
                self._cb.open()
            self._storage.note_opened(opened_at)
        self._notify()

    def reset(self) -> None:
        """Close now (another replica's probe succeeded, or an operator said so)."""
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                self._cb.close()
        self._notify()

    # Everything below runs under `self._lock`.

    def _admit_locked(self) -> Admission | None:
        if self._state is BreakerState.OPEN:
            if self._clock() < self._reopens_at():
                return None
            self._cb.half_open()
        if self._state is BreakerState.HALF_OPEN:
            if self._probe_running():
                return None
            self._probe = Admission(self._epoch, probe=True)
            self._probe_since = self._clock()
            return self._probe
        return self._pass

    def _reopens_at(self) -> float:
        opened = self._storage.opened_clock
        return (opened if opened is not None else self._clock()) + self.limits.cooldown_seconds

    def _probe_running(self) -> bool:
        return self._probe is not None and self._clock() - self._probe_since < self._probe_lease

    def _feed(self, outcome: Callable[[], None]) -> None:
        """Hand one outcome to pybreaker's state machine (it may transition)."""
        with contextlib.suppress(_ReportedFailure, pybreaker.CircuitBreakerError):
            self._cb.call(outcome)

    def _changed(self, state: BreakerState) -> None:
        # Called by pybreaker, under its lock and ours: record only, notify after.
        self._state = state
        self._epoch += 1
        self._pass = Admission(self._epoch, probe=False)
        self._probe = None
        self._unnotified.append(state)

    def _notify(self) -> None:
        """Tell the listener about transitions, outside every lock."""
        if not self._unnotified:
            return
        with self._lock:
            changes, self._unnotified = self._unnotified, []
        if self._listener is not None:
            for state in changes:
                self._listener(self.name, state)


class BreakerRegistry:
    """One breaker per target key (`<backend>/<upstream model>`), created on first use."""

    def __init__(
        self,
        default: BreakerSettings,
        overrides: Mapping[str, BreakerSettings] | None = None,
        *,
        clock: Clock = time.monotonic,
        listener: Listener | None = None,
    ) -> None:
        self._clock = clock
        # Every listener hears every breaker's transitions (metrics, sharing across replicas).
        self._listeners: list[Listener] = [listener] if listener is not None else []
        self._lock = threading.Lock()
        self._default = BreakerLimits.of(default)
        self._overrides = {key: BreakerLimits.of(s) for key, s in (overrides or {}).items()}
        self._breakers: dict[str, TargetBreaker] = {}

    def get(self, key: str) -> TargetBreaker:
        breaker = self._breakers.get(key)
        if breaker is not None:
            return breaker
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None:
                breaker = self._breakers[key] = self._build(key)
            return breaker

    def states(self) -> dict[str, BreakerState]:
        """Every known target's state, for `/readyz` and `gateway_breaker_state`."""
        with self._lock:
            breakers = sorted(self._breakers.items())
        return {key: breaker.state for key, breaker in breakers}

    def reconfigure(
        self,
        default: BreakerSettings,
        overrides: Mapping[str, BreakerSettings] | None = None,
        targets: Iterable[str] | None = None,
    ) -> None:
        """Apply a reloaded config. Breakers whose settings did not change keep their state;
        changed ones start closed. With `targets` (every key the new config routes to),
        breakers of other keys are dropped and missing ones created."""
        with self._lock:
            self._default = BreakerLimits.of(default)
            self._overrides = {key: BreakerLimits.of(s) for key, s in (overrides or {}).items()}
            keys = set(self._breakers) if targets is None else set(targets)
            rebuilt: dict[str, TargetBreaker] = {}
            for key in sorted(keys):
                old = self._breakers.get(key)
                unchanged = old is not None and old.limits == self._limits(key)
                rebuilt[key] = old if old is not None and unchanged else self._build(key)
            self._breakers = rebuilt

    def forget(self, key: str) -> None:
        """Drop one target's breaker (a bounded set of targets named by clients)."""
        with self._lock:
            self._breakers.pop(key, None)

    def _limits(self, key: str) -> BreakerLimits:
        return self._overrides.get(key, self._default)

    def _build(self, key: str) -> TargetBreaker:
        return TargetBreaker(key, self._limits(key), clock=self._clock, listener=self._tell)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _tell(self, key: str, state: BreakerState) -> None:
        for listener in list(self._listeners):
            try:
                listener(key, state)
            except Exception:  # one listener's failure must not silence the others
                _log.exception("breaker listener failed for %s", key)


__all__ = [
    "Admission",
    "BreakerLimits",
    "BreakerRegistry",
    "BreakerSettings",
    "BreakerState",
    "Listener",
    "TargetBreaker",
]
