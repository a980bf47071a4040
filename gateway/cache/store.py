"""Where cached answers live, behind one small interface over aiocache: this process's
memory (a bounded LRU: entries and bytes) or the shared Redis.

Keys are `sy:cache:<tenant hex>:<route hex>:<digest>`: hex keeps client-chosen names out
of Redis glob syntax, so one tenant's or one route's entries can be found and cleared.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from aiocache import RedisCache, SimpleMemoryCache
from aiocache.serializers import NullSerializer

from gateway.settings.cache_types import CacheStore as CacheStoreSpec

PREFIX = "sy:cache:"
_CLEAR_BATCH = 500


def entry_key(tenant: str, route: str, digest: str) -> str:
    return f"{PREFIX}{tenant.encode().hex()}:{route.encode().hex()}:{digest}"


def _pattern(tenant: str | None, route: str | None) -> str:
    t = "*" if tenant is None else tenant.encode().hex()
    r = "*" if route is None else route.encode().hex()
    return f"{PREFIX}{t}:{r}:*"


class AnswerStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def delete(self, key: str) -> bool:
        """Delete one entry; whether it was there."""
        ...

    async def clear(self, tenant: str | None, route: str | None) -> int:
        """Delete the entries of a tenant, a route, both or (None, None) all; returns how
        many went."""
        ...

    def size(self) -> tuple[int, int] | None:
        """(entries, bytes) held here, or None when the store is shared."""
        ...


class MemoryAnswerStore:
    def __init__(
        self, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache = SimpleMemoryCache(serializer=NullSerializer(), timeout=None)
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        # key -> (size, expires at), least recently used first.
        self._lru: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._bytes = 0

    async def get(self, key: str) -> bytes | None:
        meta = self._lru.get(key)
        if meta is None:
            return None
        if meta[1] <= self._clock():
            await self._drop(key)
            return None
        value = await self._cache.get(key)
        if value is None:  # aiocache's own timer took it
            await self._drop(key)
            return None
        self._lru.move_to_end(key)
        return bytes(value)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self._max_bytes:
            return
        await self._drop(key)
        await self._cache.set(key, value, ttl=ttl)
        self._lru[key] = (len(value), self._clock() + ttl)
        self._bytes += len(value)
        while len(self._lru) > self._max_entries or self._bytes > self._max_bytes:
            await self._drop(next(iter(self._lru)))

    async def delete(self, key: str) -> bool:
        there = await self.get(key) is not None
        await self._drop(key)
        return there

    async def clear(self, tenant: str | None, route: str | None) -> int:
        t = None if tenant is None else tenant.encode().hex()
        r = None if route is None else route.encode().hex()
        doomed = []
        for key in self._lru:
            key_tenant, key_route, _ = key[len(PREFIX) :].split(":", 2)
            if (t is None or key_tenant == t) and (r is None or key_route == r):
                doomed.append(key)
        for key in doomed:
            await self._drop(key)
        return len(doomed)

    def size(self) -> tuple[int, int] | None:
        return len(self._lru), self._bytes

    async def _drop(self, key: str) -> None:
        meta = self._lru.pop(key, None)
        if meta is not None:
            self._bytes -= meta[0]
            await self._cache.delete(key)


class RedisAnswerStore:
    """On the gateway's shared Redis client (its timeouts bound every call); expiry is
    Redis's own (`PSETEX`). Errors propagate: the caller bypasses the cache."""

    def __init__(self, client: aioredis.Redis, timeout: float) -> None:
        # `encoding=None`: values come back as the bytes stored (aiocache decodes to str
        # by default).
        self._cache = RedisCache(serializer=NullSerializer(encoding=None), timeout=None)
        # aiocache builds a client of its own from host and port; the gateway's carries
        # the URL's credentials and TLS, a bounded pool and timeouts on every socket call.
        self._cache.client = client
        self._client = client
        self._timeout = timeout

    async def get(self, key: str) -> bytes | None:
        async with asyncio.timeout(self._timeout):
            value = await self._cache.get(key)
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        async with asyncio.timeout(self._timeout):
            await self._cache.set(key, value, ttl=float(ttl))

    async def delete(self, key: str) -> bool:
        async with asyncio.timeout(self._timeout):
            return bool(await self._client.unlink(key))

    async def clear(self, tenant: str | None, route: str | None) -> int:
        removed = 0
        batch: list[str | bytes] = []
        async with asyncio.timeout(max(self._timeout, 1.0) * 20):
            async for key in self._client.scan_iter(match=_pattern(tenant, route), count=1000):
                batch.append(key)
                if len(batch) >= _CLEAR_BATCH:
                    removed += await self._client.unlink(*batch)
                    batch = []
            if batch:
                removed += await self._client.unlink(*batch)
        return removed

    def size(self) -> tuple[int, int] | None:
        return None


def build_store(spec: CacheStoreSpec, redis: aioredis.Redis | None, timeout: float) -> AnswerStore:
    if spec.backend == "redis":
        if redis is None:  # the config check requires `state.redis_url_env` for this
            raise ValueError("cache.backend redis needs state.redis_url_env")
        return RedisAnswerStore(redis, timeout)
    return MemoryAnswerStore(spec.max_entries, spec.max_bytes)
