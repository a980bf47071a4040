"""The one way the gateway opens a Redis client for shared state."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def connect_redis(url: str, timeout: float) -> aioredis.Redis:
    """A client whose every socket operation is bounded (an unreachable Redis never hangs a
    request); the caller closes it."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # No retries inside the client: each user has its own backoff, a request none.
        retry=Retry(NoBackoff(), 0),
    )
