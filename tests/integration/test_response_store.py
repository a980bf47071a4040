"""Stored `/v1/responses` answers on the wire: in memory by default, in a real Redis when
`state.redis_url_env` is set (shared by two replicas, with the configured TTL), per tenant,
and a clear 503 (never a 500 or a lost answer) when the store cannot be reached."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from gateway.app import create_app
from gateway.container import Container
from gateway.keys.records import sha256_hex as sha
from gateway.settings.loader import parse_settings
from tests.support import RedisServer

pytestmark = pytest.mark.anyio
KEY_A = "sk-store-tenant-a-0123456789"
KEY_B = "sk-store-tenant-b-0123456789"


def document(ttl: float = 60.0, redis: bool = False) -> dict[str, Any]:
    state: dict[str, Any] = {"responses": {"ttl_seconds": ttl, "max_entries": 3}}
    if redis:
        state.update(redis_url_env="TEST_REDIS_URL", timeout_seconds=0.3)
    return {
        "server": {"access_log": False},
        "state": state,
        "auth": {"required": True},
        "keys": [
            {"id": "a", "sha256": sha(KEY_A), "tenant": "team-a"},
            {"id": "b", "sha256": sha(KEY_B), "tenant": "team-b"},
        ],
        "backends": {"fake": {"type": "fake"}},
        "models": [{"id": "echo", "backend": "fake"}],
    }


@contextlib.asynccontextmanager
async def app(doc: dict[str, Any], env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    built = Container(parse_settings(doc, "test", env), env=env)
    await built.start()
    transport = httpx.ASGITransport(app=create_app(built.settings, built))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client
    finally:
        await built.aclose()


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def create(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post("/v1/responses", json={"model": "echo", **body}, headers=auth(key))


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def test_memory_store_chains_scopes_and_evicts() -> None:
    async with app(document(), {}) as client:
        first = (await create(client, KEY_A, input="one")).json()
        chained = await create(client, KEY_A, input="two", previous_response_id=first["id"])
        assert chained.status_code == 200
        assert chained.json()["previous_response_id"] == first["id"]
        other = await create(client, KEY_B, input="x", previous_response_id=first["id"])
        assert other.status_code == 404
        assert other.json()["error"]["code"] == "previous_response_not_found"
        assert other.json()["error"]["param"] == "previous_response_id"
        read = await client.get(f"/v1/responses/{first['id']}", headers=auth(KEY_A))
        assert read.status_code == 200 and read.json() == first
        # max_entries 3: the oldest goes once three newer ones are stored.
        for text in ("a", "b", "c"):
            assert (await create(client, KEY_A, input=text)).status_code == 200
        gone = await client.get(f"/v1/responses/{first['id']}", headers=auth(KEY_A))
        assert gone.status_code == 404


async def test_redis_store_is_shared_by_replicas_with_the_ttl(redis_server: RedisServer) -> None:
    env = {"TEST_REDIS_URL": redis_server.url}
    doc = document(ttl=120.0, redis=True)
    async with app(doc, env) as one, app(doc, env) as two:
        first = (await create(one, KEY_A, input="kept in redis")).json()
        # Another replica chains and reads it.
        chained = await create(two, KEY_A, input="next", previous_response_id=first["id"])
        assert chained.status_code == 200
        read = await two.get(f"/v1/responses/{first['id']}", headers=auth(KEY_A))
        assert read.json()["output"][0]["content"][0]["text"] == "kept in redis"
    client = aioredis.from_url(redis_server.url)
    try:
        keys = [k async for k in client.scan_iter(match="sy:resp:*")]
        assert len(keys) == 2
        ttl = await client.pttl(keys[0])
        assert 100_000 < ttl <= 120_000
    finally:
        await client.aclose()


async def test_an_unreachable_store_is_a_503_and_answers_still_go_out(
    redis_server: RedisServer,
) -> None:
    env = {"TEST_REDIS_URL": redis_server.url}
    async with app(document(redis=True), env) as client:
        first = (await create(client, KEY_A, input="before the outage")).json()
        redis_server.stop()
        # Storing fails quietly: the answer itself is not lost.
        answered = await create(client, KEY_A, input="during the outage")
        assert answered.status_code == 200
        assert answered.json()["output"][0]["content"][0]["text"] == "during the outage"
        chained = await create(client, KEY_A, input="x", previous_response_id=first["id"])
        assert chained.status_code == 503
        assert chained.json()["error"]["code"] == "state_unavailable"
        assert chained.headers["retry-after"]
