"""The per-target circuit breaker: its state machine on a fake clock, the registry across
config reloads, and safety under many asyncio tasks and threads."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass

import pytest

from gateway.resilience.breaker import (
    Admission,
    BreakerLimits,
    BreakerRegistry,
    BreakerState,
    TargetBreaker,
)

CLOSED, HALF_OPEN, OPEN = BreakerState.CLOSED, BreakerState.HALF_OPEN, BreakerState.OPEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Breaker:
    """Stands in for the settings Struct: anything with the three fields fits."""

    failures: int = 3
    window_seconds: float = 30.0
    cooldown_seconds: float = 10.0


def make(
    failures: int = 3, window: float = 30.0, cooldown: float = 10.0
) -> tuple[TargetBreaker, FakeClock, list[tuple[str, BreakerState]]]:
    clock = FakeClock()
    seen: list[tuple[str, BreakerState]] = []
    breaker = TargetBreaker(
        "a/echo",
        Breaker(failures, window, cooldown),
        clock=clock,
        listener=lambda name, state: seen.append((name, state)),
    )
    return breaker, clock, seen


def fail_once(breaker: TargetBreaker) -> None:
    admission = breaker.admit()
    assert admission is not None
    breaker.failed(admission)


def trip(breaker: TargetBreaker, clock: FakeClock) -> None:
    for i in range(breaker.limits.failures):
        clock.advance(0.25 if i else 0.0)  # binary-exact steps: no float drift
        fail_once(breaker)
    assert breaker.state is OPEN


class Upstream:
    """Counts the calls that actually reach the target."""

    def __init__(self) -> None:
        self.calls = 0

    def call_through(self, breaker: TargetBreaker, *, ok: bool) -> bool:
        admission = breaker.admit()
        if admission is None:
            return False
        self.calls += 1
        if ok:
            breaker.succeeded(admission)
        else:
            breaker.failed(admission)
        return True


def test_state_values_are_the_metric_values() -> None:
    assert [int(s) for s in (CLOSED, HALF_OPEN, OPEN)] == [0, 1, 2]


def test_opens_after_the_failures_within_the_window() -> None:
    breaker, clock, seen = make(failures=3, window=30)
    fail_once(breaker)
    clock.advance(10)
    fail_once(breaker)
    assert breaker.state is CLOSED
    clock.advance(10)
    fail_once(breaker)
    assert breaker.state is OPEN
    assert seen == [("a/echo", OPEN)]


def test_failures_spread_wider_than_the_window_never_open_it() -> None:
    breaker, clock, _ = make(failures=3, window=30)
    for _ in range(10):
        fail_once(breaker)
        clock.advance(15.01)  # at most two failures are ever within 30 s
    assert breaker.state is CLOSED


def test_a_failure_exactly_window_seconds_old_no_longer_counts() -> None:
    breaker, clock, _ = make(failures=2, window=30)
    fail_once(breaker)
    clock.advance(30)
    fail_once(breaker)
    assert breaker.state is CLOSED
    clock.advance(29.75)
    fail_once(breaker)
    assert breaker.state is OPEN


def test_successes_do_not_forgive_failures_in_the_window() -> None:
    breaker, clock, _ = make(failures=3)
    upstream = Upstream()
    for _ in range(3):
        upstream.call_through(breaker, ok=False)
        upstream.call_through(breaker, ok=True)
        clock.advance(1)
    assert breaker.state is OPEN


def test_an_open_target_is_refused_without_a_call() -> None:
    breaker, clock, _ = make(failures=2, cooldown=10)
    upstream = Upstream()
    upstream.call_through(breaker, ok=False)
    upstream.call_through(breaker, ok=False)
    assert upstream.calls == 2
    for _ in range(50):
        assert not upstream.call_through(breaker, ok=True)
        clock.advance(0.19)
    assert upstream.calls == 2
    assert breaker.state is OPEN


def test_retry_after_counts_down_the_cooldown() -> None:
    breaker, clock, _ = make(cooldown=10)
    assert breaker.retry_after() == 0.0
    trip(breaker, clock)
    assert breaker.retry_after() == pytest.approx(10.0)
    clock.advance(4)
    assert breaker.retry_after() == pytest.approx(6.0)
    clock.advance(7)
    assert breaker.retry_after() == 0.0


def test_half_opens_after_the_cooldown_with_exactly_one_probe() -> None:
    breaker, clock, seen = make(cooldown=10)
    trip(breaker, clock)
    clock.advance(9.75)
    assert breaker.admit() is None
    clock.advance(0.25)
    probe = breaker.admit()
    assert probe is not None and probe.probe
    assert breaker.state is HALF_OPEN
    # Others are refused while the probe runs, however many and however long.
    for _ in range(20):
        assert breaker.admit() is None
        clock.advance(1)
    assert breaker.retry_after() > 0
    assert [s for _, s in seen] == [OPEN, HALF_OPEN]


def test_an_open_breaker_reads_half_open_once_the_cooldown_passed() -> None:
    breaker, clock, seen = make(cooldown=10)
    registry_view = {breaker.name: breaker}
    trip(breaker, clock)
    clock.advance(10)
    # No request yet: /readyz and the metric still show the half-open state.
    assert {k: b.state for k, b in registry_view.items()} == {"a/echo": HALF_OPEN}
    assert [s for _, s in seen] == [OPEN, HALF_OPEN]
    probe = breaker.admit()
    assert probe is not None and probe.probe
    assert breaker.admit() is None


def test_a_successful_probe_closes_it() -> None:
    breaker, clock, seen = make(cooldown=10)
    trip(breaker, clock)
    clock.advance(10)
    probe = breaker.admit()
    assert probe is not None
    breaker.succeeded(probe)
    assert breaker.state is CLOSED
    assert [s for _, s in seen] == [OPEN, HALF_OPEN, CLOSED]
    # Closed again with a clean window: it takes `failures` new failures to open.
    fail_once(breaker)
    fail_once(breaker)
    assert breaker.state is CLOSED


def test_a_failed_probe_opens_it_for_a_fresh_cooldown() -> None:
    breaker, clock, seen = make(cooldown=10)
    trip(breaker, clock)
    clock.advance(12)
    probe = breaker.admit()
    assert probe is not None
    clock.advance(3)  # the probe took a while
    breaker.failed(probe)
    assert breaker.state is OPEN
    assert breaker.retry_after() == pytest.approx(10.0)
    clock.advance(9.75)
    assert breaker.admit() is None
    clock.advance(0.25)
    assert breaker.admit() is not None
    assert [s for _, s in seen] == [OPEN, HALF_OPEN, OPEN, HALF_OPEN]


def test_a_released_probe_frees_the_slot_without_an_outcome() -> None:
    breaker, clock, _ = make()
    trip(breaker, clock)
    clock.advance(10)
    probe = breaker.admit()
    assert probe is not None
    breaker.release(probe)  # e.g. the client disconnected
    assert breaker.state is HALF_OPEN
    second = breaker.admit()
    assert second is not None and second is not probe
    breaker.succeeded(probe)  # a stale report changes nothing
    assert breaker.state is HALF_OPEN
    breaker.succeeded(second)
    assert breaker.state is CLOSED


def test_a_probe_never_reported_stops_blocking_after_its_lease() -> None:
    clock = FakeClock()
    breaker = TargetBreaker("t", Breaker(1, 30, 5), clock=clock, probe_lease_seconds=20)
    fail_once(breaker)
    clock.advance(5)
    lost = breaker.admit()
    assert lost is not None
    clock.advance(19.75)
    assert breaker.admit() is None
    clock.advance(0.25)
    assert breaker.admit() is not None
    breaker.failed(lost)  # the lost probe's late report is not the current probe's
    assert breaker.state is HALF_OPEN


def test_outcomes_of_requests_let_in_before_a_transition_are_ignored() -> None:
    breaker, clock, _ = make(failures=2, cooldown=10)
    early = [breaker.admit() for _ in range(5)]
    trip(breaker, clock)
    clock.advance(10)
    probe = breaker.admit()
    assert probe is not None
    for admission in early:
        assert admission is not None
        breaker.failed(admission)  # slow requests from before the opening
    assert breaker.state is HALF_OPEN
    breaker.succeeded(probe)
    for admission in early:
        assert admission is not None
        breaker.failed(admission)
    assert breaker.state is CLOSED


def test_a_listener_may_read_the_breaker() -> None:
    clock = FakeClock()
    read: list[tuple[BreakerState, float]] = []
    holder: list[TargetBreaker] = []

    def listener(name: str, state: BreakerState) -> None:
        # Runs outside every lock: reading (even locking) the breaker here is fine.
        read.append((holder[0].state, holder[0].retry_after()))

    breaker = TargetBreaker("t", Breaker(1, 30, 10), clock=clock, listener=listener)
    holder.append(breaker)
    fail_once(breaker)
    assert read == [(OPEN, 10.0)]


def test_trip_and_reset_apply_another_replicas_state() -> None:
    breaker, clock, seen = make(failures=1, cooldown=10)
    breaker.trip(opened_seconds_ago=4)
    assert breaker.state is OPEN
    assert breaker.retry_after() == pytest.approx(6.0)
    breaker.trip(opened_seconds_ago=8)  # an older opening does not shorten the cooldown
    assert breaker.retry_after() == pytest.approx(6.0)
    clock.advance(6)
    probe = breaker.admit()
    assert probe is not None and probe.probe
    breaker.reset()  # another replica's probe succeeded first
    assert breaker.state is CLOSED
    breaker.failed(probe)  # this one's late failure belongs to the half-open it ended
    assert breaker.state is CLOSED
    assert [s for _, s in seen] == [OPEN, HALF_OPEN, CLOSED]


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        BreakerLimits(failures=0)
    with pytest.raises(ValueError):
        BreakerLimits(window_seconds=0)
    assert BreakerLimits.of(Breaker(5, 30, 10)) == BreakerLimits()


def test_the_registry_builds_one_breaker_per_target_on_demand() -> None:
    clock = FakeClock()
    seen: list[tuple[str, BreakerState]] = []
    registry = BreakerRegistry(
        Breaker(failures=1),
        {"b/echo": Breaker(failures=2)},
        clock=clock,
        listener=lambda name, state: seen.append((name, state)),
    )
    a, b = registry.get("a/echo"), registry.get("b/echo")
    assert registry.get("a/echo") is a
    assert (a.limits.failures, b.limits.failures) == (1, 2)
    fail_once(a)
    fail_once(b)
    assert registry.states() == {"a/echo": OPEN, "b/echo": CLOSED}
    assert seen == [("a/echo", OPEN)]


def test_reconfigure_keeps_unchanged_breakers_and_resets_changed_ones() -> None:
    clock = FakeClock()
    registry = BreakerRegistry(Breaker(failures=1), clock=clock)
    kept, changed = registry.get("a/echo"), registry.get("b/echo")
    fail_once(kept)
    fail_once(changed)
    registry.reconfigure(Breaker(failures=1), {"b/echo": Breaker(failures=1, cooldown_seconds=5)})
    assert registry.get("a/echo") is kept
    assert registry.get("b/echo") is not changed
    assert registry.states() == {"a/echo": OPEN, "b/echo": CLOSED}


def test_reconfigure_with_targets_drops_removed_ones_and_adds_new_ones() -> None:
    registry = BreakerRegistry(Breaker(failures=1), clock=FakeClock())
    kept = registry.get("a/echo")
    fail_once(kept)
    registry.get("gone/echo")
    registry.reconfigure(Breaker(failures=1), targets=["a/echo", "new/echo"])
    assert registry.states() == {"a/echo": OPEN, "new/echo": CLOSED}
    assert registry.get("a/echo") is kept


def lock_is_free(breaker: TargetBreaker) -> bool:
    """From another thread: are the breaker's lock and pybreaker's RLock both free?"""
    got: list[bool] = []

    def probe() -> None:
        for lock in (breaker._lock, breaker._cb._lock):
            ok = lock.acquire(timeout=1.0)
            got.append(ok)
            if ok:
                lock.release()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return all(got)


def test_many_asyncio_tasks_never_deadlock_nor_hold_a_lock_across_an_await() -> None:
    clock = FakeClock()
    seen: set[BreakerState] = set()
    breaker = TargetBreaker(
        "t", Breaker(3, 30, 0.5), clock=clock, listener=lambda _, state: seen.add(state)
    )
    rng = random.Random(7)
    in_flight_probes = 0
    most_probes = 0
    outcomes = {"admitted": 0, "refused": 0}
    held_across_await: list[str] = []

    async def request(i: int) -> None:
        nonlocal in_flight_probes, most_probes
        for _ in range(20):
            admission = breaker.admit()
            if admission is None:
                outcomes["refused"] += 1
                await asyncio.sleep(0)
                continue
            outcomes["admitted"] += 1
            in_flight_probes += admission.probe
            most_probes = max(most_probes, in_flight_probes)
            await asyncio.sleep(rng.random() / 1000)  # the upstream call
            if i % 10 == 0 and not lock_is_free(breaker):
                held_across_await.append(f"task {i}")
            in_flight_probes -= admission.probe
            report = rng.choice((breaker.succeeded, breaker.failed, breaker.release))
            report(admission)
            clock.advance(0.01)

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(*(request(i) for i in range(200))), timeout=30)

    asyncio.run(main())
    assert not held_across_await
    assert most_probes <= 1
    assert outcomes["admitted"] and outcomes["refused"]
    assert seen == {OPEN, HALF_OPEN, CLOSED}
    assert lock_is_free(breaker)


def test_threads_admitting_and_reporting_keep_one_probe_at_a_time() -> None:
    breaker = TargetBreaker("t", Breaker(2, 30, 0.0))  # the real clock: cooldown 0
    guard = threading.Lock()
    probes = 0
    violations: list[int] = []

    def worker(seed: int) -> None:
        nonlocal probes
        rng = random.Random(seed)
        for _ in range(2000):
            admission: Admission | None = breaker.admit()
            if admission is None:
                continue
            if admission.probe:
                with guard:
                    probes += 1
                    if probes > 1:
                        violations.append(probes)
                time.sleep(0)  # the upstream call: let the other threads run
                with guard:  # before the report: only the report frees the slot
                    probes -= 1
            (breaker.failed if rng.random() < 0.6 else breaker.succeeded)(admission)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not violations
    assert lock_is_free(breaker)
