"""The one way the gateway opens a Redis client for shared state."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# Per replica; each admission holds one for a fraction of a millisecond.
_MAX_CONNECTIONS = 64


def connect_redis(url: str, timeout: float) -> aioredis.Redis:
    """A client whose every socket operation is bounded (an unreachable Redis never hangs a
    request); the caller closes it."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        # A burst of requests waits (at most `timeout`) for one of these connections rather
        # than failing at once as a plain pool does past its cap, which would count as an
        # outage and let requests be admitted locally.
        max_connections=_MAX_CONNECTIONS,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # No retries inside the client: each user has its own backoff, a request none.
        retry=Retry(NoBackoff(), 0),
    )
    return aioredis.Redis.from_pool(pool)
