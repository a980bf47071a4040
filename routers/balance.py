"""Which of a route's targets goes first: ordered, weighted, least busy, or fastest.

Balancers only read `TargetLoad` (requests in flight and an EWMA of response latency per
target), which the executor keeps up to date; the router returns the targets in the order
to try them, so the ones after the first are the route's own failover targets.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from routers.base import Target

# What one failure weighs in a target's latency average.
FAILURE_SECONDS = 1.0


class TargetLoad:
    """Requests in flight and recent latency per target key. One per gateway process, owned
    by the composition root; keys are configured targets (bounded, never client input)."""

    __slots__ = ("_alpha", "_in_flight", "_latency")

    def __init__(self, alpha: float = 0.3) -> None:
        self._alpha = alpha
        self._in_flight: dict[str, int] = {}
        self._latency: dict[str, float] = {}

    def started(self, key: str) -> None:
        self._in_flight[key] = self._in_flight.get(key, 0) + 1

    def finished(self, key: str, seconds: float | None) -> None:
        """One call ended; `seconds` to its answer (None: it failed, no latency sample)."""
        left = self._in_flight.get(key, 0) - 1
        if left > 0:
            self._in_flight[key] = left
        else:
            self._in_flight.pop(key, None)
        if seconds is not None:
            before = self._latency.get(key)
            self._latency[key] = (
                seconds if before is None else before + self._alpha * (seconds - before)
            )

    def penalise(self, key: str, seconds: float) -> None:
        """A failure counts as a slow answer (at least `FAILURE_SECONDS`), so `latency` moves
        away from a failing target, however fast it failed (a refused connection is quick)."""
        sample = max(seconds, FAILURE_SECONDS)
        before = self._latency.get(key)
        self._latency[key] = sample if before is None else before + self._alpha * (sample - before)

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)

    def latency(self, key: str) -> float | None:
        return self._latency.get(key)


def ordered_targets(
    balance: str,
    targets: Sequence[Target],
    weights: Sequence[float],
    load: TargetLoad,
    rng: random.Random,
) -> list[Target]:
    if len(targets) <= 1 or balance == "ordered":
        return list(targets)
    if balance == "weighted":
        # Weighted sampling without replacement (Efraimidis-Spirakis): the first target is
        # drawn with probability weight / total, the rest follow in weighted random order.
        keyed = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(weights)]
        return [targets[i] for _, i in sorted(keyed, reverse=True)]
    if balance == "least_busy":
        keyed_busy = [
            (load.in_flight(t.key), -w, rng.random(), i) for i, (t, w) in _pairs(targets, weights)
        ]
        return [targets[k[-1]] for k in sorted(keyed_busy)]
    # latency: fastest recent answers first; a target never measured goes first to be learnt.
    keyed_fast = [
        (load.latency(t.key) or 0.0, rng.random(), i) for i, (t, _) in _pairs(targets, weights)
    ]
    return [targets[k[-1]] for k in sorted(keyed_fast)]


def _pairs(
    targets: Sequence[Target], weights: Sequence[float]
) -> list[tuple[int, tuple[Target, float]]]:
    return list(enumerate(zip(targets, weights, strict=True)))
