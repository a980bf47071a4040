"""The key table alone: in memory, and shared by two tables through a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from gateway.keys import DuplicateKeyIdError, KeySpec, KeyTable, RedisKeyStore, sha256_hex
from gateway.resilience.redis_client import connect_redis
from gateway.settings.schema import ApiKey, Limits
from tests.support import RedisServer

pytestmark = pytest.mark.anyio
FILE_KEY = "sk-file-0123456789"


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


def file_entry(key: str = FILE_KEY, key_id: str = "file-1") -> ApiKey:
    return ApiKey(id=key_id, sha256=sha256_hex(key), tenant="t")


async def test_create_resolve_and_revoke_in_memory() -> None:
    table = KeyTable([file_entry()])
    key, record = await table.create(KeySpec(tenant="acme", limits=Limits(rpm=3)))
    assert key.startswith("sk-sy-") and record.id.startswith("acme-")
    resolved = await table.resolve(sha256_hex(key))
    assert resolved is not None and resolved.limits == Limits(rpm=3)
    assert await table.resolve(sha256_hex(FILE_KEY)) is not None
    assert await table.revoke(record.id) and await table.revoke("file-1")
    assert await table.resolve(sha256_hex(key)) is None
    assert await table.resolve(sha256_hex(FILE_KEY)) is None
    assert not await table.revoke("nobody")
    rows = {r.id: r for r in await table.list()}
    assert (rows["file-1"].source, rows["file-1"].revoked) == ("file", True)
    assert (rows[record.id].source, rows[record.id].revoked) == ("memory", True)
    assert not table.persistent


async def test_ids_are_unique_and_expiry_is_checked_per_request() -> None:
    table = KeyTable([file_entry()])
    with pytest.raises(DuplicateKeyIdError):
        await table.create(KeySpec(tenant="t", id="file-1"))
    soon = datetime.now(UTC) + timedelta(seconds=0.3)
    key, _ = await table.create(KeySpec(tenant="t", id="brief", expires=soon))
    assert await table.resolve(sha256_hex(key)) is not None
    await asyncio.sleep(0.4)
    assert await table.resolve(sha256_hex(key)) is None


async def test_a_file_reload_keeps_created_keys_and_revocations() -> None:
    table = KeyTable([file_entry()])
    key, _ = await table.create(KeySpec(tenant="t"))
    await table.revoke("file-1")
    other = "sk-file-other"
    table.replace_file_keys([file_entry(), file_entry(other, "file-2")])
    assert await table.resolve(sha256_hex(key)) is not None
    assert await table.resolve(sha256_hex(other)) is not None
    assert await table.resolve(sha256_hex(FILE_KEY)) is None  # still revoked
    table.replace_file_keys([])
    assert await table.resolve(sha256_hex(other)) is None


# -- through Redis ----------------------------------------------------------------------


@pytest.fixture()
async def replicas(redis_server: RedisServer) -> AsyncIterator[tuple[KeyTable, KeyTable]]:
    clients = [connect_redis(redis_server.url, 0.25) for _ in range(2)]
    tables = [KeyTable([file_entry()], RedisKeyStore(c, timeout=0.25)) for c in clients]
    for table in tables:
        await table.start()
    yield tables[0], tables[1]
    for table, client in zip(tables, clients, strict=True):
        await table.aclose()
        await client.aclose()


async def _refused_within(table: KeyTable, sha: str, seconds: float) -> float:
    start = time.monotonic()
    while await table.resolve(sha) is not None:
        assert time.monotonic() - start < seconds, "still accepted"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_a_key_created_on_one_replica_works_on_the_other(
    replicas: tuple[KeyTable, KeyTable],
) -> None:
    a, b = replicas
    key, record = await a.create(KeySpec(tenant="acme", id="shared"))
    resolved = await b.resolve(sha256_hex(key))  # at once: the miss asks Redis
    assert resolved is not None and resolved.id == "shared"
    with pytest.raises(DuplicateKeyIdError):
        await b.create(KeySpec(tenant="acme", id="shared"))
    assert {r.id: r.source for r in await b.list()} == {"file-1": "file", "shared": "redis"}
    assert a.persistent and record.tenant == "acme"


async def test_a_revoke_on_one_replica_refuses_on_the_other_within_two_seconds(
    replicas: tuple[KeyTable, KeyTable],
) -> None:
    a, b = replicas
    key, record = await a.create(KeySpec(tenant="acme"))
    assert await b.resolve(sha256_hex(key)) is not None
    assert await b.resolve(sha256_hex(FILE_KEY)) is not None
    assert await a.revoke(record.id) and await a.revoke("file-1")
    assert await a.resolve(sha256_hex(key)) is None  # here: at once
    assert await _refused_within(b, sha256_hex(key), 2.0) < 2.0
    assert await _refused_within(b, sha256_hex(FILE_KEY), 2.0) < 2.0


async def test_redis_down_keeps_known_keys_and_refuses_unknown_ones_quickly(
    redis_server: RedisServer, replicas: tuple[KeyTable, KeyTable]
) -> None:
    a, b = replicas
    key, _ = await a.create(KeySpec(tenant="acme"))
    assert await b.resolve(sha256_hex(key)) is not None
    redis_server.stop()
    for table in (a, b):
        assert await table.resolve(sha256_hex(key)) is not None
        assert await table.resolve(sha256_hex(FILE_KEY)) is not None
        start = time.monotonic()
        for i in range(50):
            assert await table.resolve(sha256_hex(f"sk-unknown-{i}")) is None
        assert time.monotonic() - start < 1.0  # one bounded call, then none per request
    assert (await a.list())[0].id == "file-1"  # this replica's view


async def test_unknown_keys_are_looked_up_once_per_negative_ttl(
    redis_server: RedisServer,
) -> None:
    calls = 0

    class CountingStore(RedisKeyStore):
        async def lookup(self, sha256_hex: str) -> ApiKey | None:
            nonlocal calls
            calls += 1
            return await super().lookup(sha256_hex)

    client = aioredis.Redis.from_url(redis_server.url, socket_timeout=0.25)
    table = KeyTable([], CountingStore(client, timeout=0.25))
    try:
        await asyncio.gather(*(table.resolve(sha256_hex("sk-wrong")) for _ in range(20)))
        for _ in range(20):
            assert await table.resolve(sha256_hex("sk-wrong")) is None
        assert calls == 1
    finally:
        await client.aclose()
