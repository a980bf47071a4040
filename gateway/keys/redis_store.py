"""Dynamic keys shared by every replica through Redis. The layout under `sy:keys:`:

- `records`: a hash of sha256 -> the key's entry (msgspec JSON of the policy file's `ApiKey`)
- `ids`: a hash of id -> sha256, so that two creates of one id cannot both succeed
- `revoked`: a set of revoked ids (file keys' ids too)
- `version`: a counter INCR'ed in the same transaction as every change, which is all the
  replicas poll

Every call is bounded by `timeout` on top of the client's own socket timeouts; Redis errors
are raised as they are (the key table decides what an outage means).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from gateway.settings.schema import ApiKey

DEFAULT_PREFIX = "sy:keys:"
_decoder = msgspec.json.Decoder(ApiKey)
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    entries: dict[str, ApiKey]  # by sha256
    revoked: frozenset[str]


class RedisKeyStore:
    def __init__(
        self, client: aioredis.Redis, *, timeout: float = 0.5, prefix: str = DEFAULT_PREFIX
    ) -> None:
        self._client = client
        self.timeout = timeout
        self._records = prefix + "records"
        self._ids = prefix + "ids"
        self._revoked = prefix + "revoked"
        self._version = prefix + "version"

    async def version(self) -> int:
        async with asyncio.timeout(self.timeout):
            return int(await self._client.get(self._version) or 0)

    async def snapshot(self) -> Snapshot:
        """Everything, read in one transaction so the version matches what was read."""
        async with asyncio.timeout(self.timeout * 4):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.get(self._version)
                pipe.hgetall(self._records)
                pipe.smembers(self._revoked)
                version, records, revoked = await pipe.execute()
        entries: dict[str, ApiKey] = {}
        for sha, raw in records.items():
            try:
                entry = _decoder.decode(raw)
            except msgspec.ValidationError:
                continue  # a foreign or corrupt entry is no key (and must not stop the rest)
            if entry.sha256 == _text(sha):
                entries[entry.sha256] = entry
        return Snapshot(int(version or 0), entries, frozenset(_text(i) for i in revoked))

    async def lookup(self, sha256_hex: str) -> ApiKey | None:
        async with asyncio.timeout(self.timeout):
            raw = await self._client.hget(self._records, sha256_hex)
        if raw is None:
            return None
        try:
            entry = _decoder.decode(raw)
        except msgspec.ValidationError:
            return None
        return entry if entry.sha256 == sha256_hex else None

    async def add(self, entry: ApiKey) -> int | None:
        """Store a new key; None when its id is taken. Returns the new version."""
        async with asyncio.timeout(self.timeout * 4):
            if not await self._client.hsetnx(self._ids, entry.id, entry.sha256):
                return None
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(self._records, entry.sha256, _encoder.encode(entry))
                pipe.incr(self._version)
                _, version = await pipe.execute()
        return int(version)

    async def has_id(self, key_id: str) -> bool:
        async with asyncio.timeout(self.timeout):
            return bool(await self._client.hexists(self._ids, key_id))

    async def revoke(self, key_id: str) -> int:
        async with asyncio.timeout(self.timeout * 4):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.sadd(self._revoked, key_id)
                pipe.incr(self._version)
                _, version = await pipe.execute()
        return int(version)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
