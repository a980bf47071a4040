"""What replicas share about breakers through Redis: key and channel names, the transition
events, what a Redis call may raise, and a replica's id."""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

DEFAULT_PREFIX = "switchyard:breaker:"
# Target keys are `<backend>/<upstream model>`: they always hold a slash, so no key collides.
DEFAULT_CHANNEL = "switchyard:breaker:_events"

OPEN = "open"
CLOSED = "closed"
# What a Redis call can raise when the server is down, slow or answers garbage.
REDIS_ERRORS = (RedisError, OSError, TimeoutError, ValueError)


def default_replica_id() -> str:
    """Host name, pid and a random suffix: unique per process, readable in Redis."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Transition:
    key: str
    state: str  # OPEN or CLOSED
    opened_at: float  # wall clock (time.time()) of the opening; 0 for a closing


def stored_opening(replica: str, opened_at: float) -> str:
    """The value kept at `<prefix><key>` while a breaker is open."""
    return json.dumps({"replica": replica, "opened_at": opened_at})


def read_opening(raw: bytes | str) -> tuple[str, float]:
    value = json.loads(raw)
    return str(value["replica"]), float(value["opened_at"])


def event_message(replica: str, event: Transition) -> str:
    """What goes out on the channel: who, which target, opened (when) or closed."""
    message: dict[str, object] = {"replica": replica, "key": event.key, "state": event.state}
    if event.state == OPEN:
        message["opened_at"] = event.opened_at
    return json.dumps(message)


def read_event(data: bytes | str) -> tuple[str, str, str, float]:
    """(replica, key, state, opened-at or 0); raises on a malformed message."""
    message = json.loads(data)
    key = message["key"]
    if not isinstance(key, str):
        raise ValueError("a breaker event without a string key")
    opened_at = float(message["opened_at"]) if message["state"] == OPEN else 0.0
    return str(message["replica"]), key, str(message["state"]), opened_at
