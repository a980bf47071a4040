"""The live set of API keys: the policy file's, those created at runtime, and the revoked ids.

The request path (`resolve`) is a dict lookup by sha256 with no await on a hit. Without
Redis, created keys and revocations live in this process only (lost on restart). With Redis
(`RedisKeyStore`), they are shared: a change made here applies here at once, and a
background task polls the store's version every `poll_interval` and reloads everything when
it moved, so another replica's revoke applies within about a second. A hash this replica
does not know costs one bounded Redis lookup (a key another replica just created); misses
are remembered briefly so that a flood of wrong keys does not become a flood of Redis calls.
Redis down: known keys keep working, unknown ones are refused, one log line per outage.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis

from gateway.errors import ServiceUnavailableError
from gateway.keys.records import (
    DuplicateKeyIdError,
    KeyListing,
    KeySpec,
    Source,
    listing_of,
    new_entry,
    new_secret,
    record_of,
    utc,
)
from gateway.keys.redis_store import RedisKeyStore
from gateway.resilience.breaker_wire import REDIS_ERRORS
from gateway.resilience.redis_health import RedisHealth
from gateway.settings.schema import ApiKey, Settings
from middleware.auth import KeyRecord


class KeyTable:
    def __init__(
        self,
        file_keys: Sequence[ApiKey] = (),
        store: RedisKeyStore | None = None,
        *,
        poll_interval: float = 1.0,
        negative_ttl: float = 1.0,
        negative_max: int = 10_000,
    ) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._negative_ttl = negative_ttl
        self._negative_max = negative_max
        self._file: dict[str, ApiKey] = {k.sha256: k for k in file_keys}
        self._dynamic: dict[str, ApiKey] = {}
        self._revoked: set[str] = set()
        self._live: dict[str, KeyRecord] = {}
        # Hash -> monotonic time until which it is known to be unknown (oldest first).
        self._negative: OrderedDict[str, float] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[KeyRecord | None]] = {}
        self._version = -1
        self._down_until = 0.0
        self.health = RedisHealth("key table", poll_interval, poll_interval * 5)
        # Serialises a reload with local changes: a snapshot read before a change must not
        # be applied after it (it would undo a revoke here until the next poll).
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._rebuild()

    @classmethod
    def from_settings(cls, settings: Settings, redis: aioredis.Redis | None = None) -> KeyTable:
        store = (
            None if redis is None else RedisKeyStore(redis, timeout=settings.state.timeout_seconds)
        )
        return cls(settings.keys, store)

    @property
    def persistent(self) -> bool:
        return self._store is not None

    @property
    def dynamic_source(self) -> Source:
        return "redis" if self._store is not None else "memory"

    # -- the request path ----------------------------------------------------------------

    def known(self, sha256_hex: str) -> KeyRecord | None:
        """A key this replica knows and that has not expired (no await); None means ask
        `resolve` (another replica may have created it)."""
        record = self._live.get(sha256_hex)
        if record is None or (
            record.expires is not None and utc(record.expires) <= datetime.now(UTC)
        ):
            return None
        return record

    async def resolve(self, sha256_hex: str) -> KeyRecord | None:
        record = self._live.get(sha256_hex)
        if record is None:
            if self._store is None:
                return None
            record = await self._resolve_remote(sha256_hex)
            if record is None:
                return None
        if record.expires is not None and utc(record.expires) <= datetime.now(UTC):
            return None
        return record

    async def _resolve_remote(self, sha256_hex: str) -> KeyRecord | None:
        now = time.monotonic()
        if now < self._down_until:
            return None  # an outage: no call per request while the poller retries
        until = self._negative.get(sha256_hex)
        if until is not None:
            if until > now:
                return None
            del self._negative[sha256_hex]
        task = self._inflight.get(sha256_hex)
        if task is None:
            # Concurrent requests with one unknown key share one lookup.
            task = asyncio.ensure_future(self._lookup(sha256_hex))
            self._inflight[sha256_hex] = task
            task.add_done_callback(lambda _: self._inflight.pop(sha256_hex, None))
        return await asyncio.shield(task)

    async def _lookup(self, sha256_hex: str) -> KeyRecord | None:
        assert self._store is not None
        try:
            entry = await self._store.lookup(sha256_hex)
        except REDIS_ERRORS as exc:
            self._failed("lookup", exc, self._poll_interval)
            return None
        if entry is None or entry.id in self._revoked:
            self._negative[sha256_hex] = time.monotonic() + self._negative_ttl
            while len(self._negative) > self._negative_max:
                self._negative.popitem(last=False)
            return None
        self._dynamic[sha256_hex] = entry
        record = self._live[sha256_hex] = record_of(entry)
        return record

    # -- changes -------------------------------------------------------------------------

    async def create(self, spec: KeySpec) -> tuple[str, KeyRecord]:
        """A new key (returned once, stored only as its hash) and its record. Raises
        `DuplicateKeyIdError`, `InvalidRequestError`, or `ServiceUnavailableError` when the
        store is unreachable (then nothing was created)."""
        key = new_secret()
        entry = new_entry(spec, key)
        async with self._lock:
            if entry.id in self._ids():
                raise DuplicateKeyIdError(entry.id)
            if self._store is not None:
                try:
                    added = await self._store.add(entry)
                except REDIS_ERRORS as exc:
                    self._failed("create", exc, self._poll_interval)
                    raise _unavailable("no key was created") from exc
                if added is None:
                    raise DuplicateKeyIdError(entry.id)
            self._dynamic[entry.sha256] = entry
            self._negative.pop(entry.sha256, None)
            self._rebuild()
        return key, record_of(entry)

    async def revoke(self, key_id: str) -> bool:
        """Refuse the key `key_id` from now on (a file key too); False for an unknown id."""
        async with self._lock:
            known = key_id in self._ids()
            if self._store is not None:
                try:
                    if not known and not await self._store.has_id(key_id):
                        return False
                    await self._store.revoke(key_id)
                except REDIS_ERRORS as exc:
                    self._failed("revoke", exc, self._poll_interval)
                    raise _unavailable("the key was not revoked") from exc
            elif not known:
                return False
            self._revoked.add(key_id)
            self._rebuild()
        return True

    async def list(self) -> builtins.list[KeyListing]:
        if self._store is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._refresh()  # fresh when Redis answers, this replica's view if not
        rows = [listing_of(e, "file", e.id in self._revoked) for e in self._file.values()]
        source = self.dynamic_source
        dynamic = sorted(self._dynamic.values(), key=lambda e: e.id)
        rows.extend(listing_of(e, source, e.id in self._revoked) for e in dynamic)
        return rows

    def replace_file_keys(self, keys: Sequence[ApiKey]) -> None:
        """A policy-file reload: new static keys; created keys and revocations stay."""
        self._file = {k.sha256: k for k in keys}
        self._rebuild()

    def _ids(self) -> set[str]:
        return {e.id for e in self._file.values()} | {e.id for e in self._dynamic.values()}

    def _rebuild(self) -> None:
        live: dict[str, KeyRecord] = {}
        for entries in (self._dynamic, self._file):  # a file key wins a (pasted) duplicate
            for sha, entry in entries.items():
                if entry.id not in self._revoked:
                    live[sha] = record_of(entry)
        self._live = live

    # -- sync with Redis -----------------------------------------------------------------

    async def start(self) -> None:
        if self._store is None or self._task is not None:
            return
        try:
            await self._refresh()
            self._succeeded()
        except REDIS_ERRORS as exc:
            self._failed("load", exc, self._poll_interval)
        self._task = asyncio.create_task(self._poll(), name="key-table-sync")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self) -> None:
        assert self._store is not None
        delay = self._poll_interval
        while True:
            await asyncio.sleep(delay)
            try:
                if await self._store.version() != self._version:
                    await self._refresh()
            except REDIS_ERRORS as exc:
                delay = self.health.backoff(delay if not self.health.connected else 0)
                self._failed("poll", exc, delay)
                continue
            self._succeeded()
            delay = self._poll_interval

    async def _refresh(self) -> None:
        assert self._store is not None
        async with self._lock:
            snapshot = await self._store.snapshot()
            if snapshot.version == self._version:
                return
            self._dynamic = dict(snapshot.entries)
            self._revoked = set(snapshot.revoked)
            self._version = snapshot.version
            self._rebuild()

    def _failed(self, call: str, exc: BaseException, retry_in: float) -> None:
        self.health.failed(call, exc)
        self._down_until = time.monotonic() + retry_in

    def _succeeded(self) -> None:
        self.health.succeeded()
        self._down_until = 0.0


def _unavailable(what: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"The key store (Redis) is unreachable: {what}.")
