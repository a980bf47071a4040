"""The shared-state Redis of a policy file (`state.redis_url_env`) and the breaker sync on it:
built by the composition root, kept out of it so that it stays a list of parts."""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from gateway.resilience.breaker import BreakerRegistry
from gateway.resilience.breaker_sync import RedisBreakerSync
from gateway.resilience.breaker_wire import default_replica_id
from gateway.resilience.redis_client import connect_redis
from gateway.settings.loader import ConfigError
from gateway.settings.schema import Settings


def state_redis(settings: Settings, env: Mapping[str, str]) -> Redis | None:
    name = settings.state.redis_url_env
    if name is None:
        return None
    url = env.get(name)
    if not url:
        raise ConfigError(
            "the environment",
            [f"$.state.redis_url_env: environment variable `{name}` is not set"],
        )
    return connect_redis(url, settings.state.timeout_seconds)


def breaker_sync(client: Redis, breakers: BreakerRegistry) -> RedisBreakerSync:
    # Other replicas' news applies only to targets this one knows (never creates one).
    return RedisBreakerSync(
        client, breakers, default_replica_id(), accept=lambda key: key in breakers.states()
    )
