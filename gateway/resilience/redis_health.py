"""Whether a Redis used for shared state is reachable: failed calls counted, one log line
per outage (not per call), exponential backoff between retries."""

from __future__ import annotations

import logging

log = logging.getLogger("gateway.state")


class RedisHealth:
    def __init__(self, what: str, backoff_initial: float = 0.1, backoff_max: float = 2.0) -> None:
        self._what = what
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self.errors = 0
        self.connected = False
        # Set by `succeeded` when the call it reports is the first since connecting.
        self.just_connected = False
        self._outage_logged = False

    def failed(self, call: str, exc: BaseException) -> None:
        self.errors += 1
        self.connected = False
        self.just_connected = False
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "%s: Redis unavailable (%s: %s: %s); state stays local until it is back",
                self._what,
                call,
                type(exc).__name__,
                exc,
            )

    def succeeded(self) -> bool:
        """Record a successful call; True when it ends an outage that was logged."""
        if self.connected:
            self.just_connected = False
            return False
        self.connected = True
        self.just_connected = True
        if not self._outage_logged:
            return False
        self._outage_logged = False
        log.warning("%s: Redis reachable again; sharing state", self._what)
        return True

    def backoff(self, current: float) -> float:
        return min(self._backoff_max, max(self._backoff_initial, current * 2))
