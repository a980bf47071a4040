"""The key-management API in process (no Redis: keys live in the app's process)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import served

pytestmark = pytest.mark.anyio
ADMIN_ENV = "TEST_ADMIN_KEYS_ADMIN"
ADMIN = "sk-admin-integration-0123456789"
FILE_KEY = "sk-file-integration-0123456789"
DOCUMENT: dict[str, Any] = {
    "server": {"access_log": False},
    "auth": {"required": True, "admin_key_env": ADMIN_ENV},
    "keys": [{"id": "from-file", "sha256": hashlib.sha256(FILE_KEY.encode()).hexdigest()}],
    "backends": {"fake": {"type": "fake"}},
    "models": [{"id": "echo", "backend": "fake"}],
}
AS_ADMIN = {"authorization": f"Bearer {ADMIN}"}
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture()
async def http(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv(ADMIN_ENV, ADMIN)  # the app reads the admin key when it is built
    async with served(DOCUMENT) as client:
        yield client


async def chat(http: httpx.AsyncClient, key: str) -> int:
    reply = await http.post("/v1/chat/completions", json=CHAT, headers={"x-api-key": key})
    return reply.status_code


async def test_a_created_key_is_shown_once_works_and_is_revoked(http: httpx.AsyncClient) -> None:
    body = {"tenant": "acme", "id": "acme-ci", "models": ["echo"], "limits": {"rpm": 10}}
    created = await http.post("/admin/keys", json=body, headers=AS_ADMIN)
    assert created.status_code == 201, created.text
    reply = created.json()
    key = reply["key"]
    assert key.startswith("sk-sy-") and reply["id"] == "acme-ci"
    assert (reply["persistent"], reply["source"], reply["limits"]["rpm"]) == (False, "memory", 10)
    assert await chat(http, key) == 200

    listed = await http.get("/admin/keys", headers=AS_ADMIN)
    rows = {row["id"]: row for row in listed.json()["data"]}
    assert rows["acme-ci"]["source"] == "memory" and not rows["acme-ci"]["revoked"]
    assert rows["from-file"]["source"] == "file"
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert key not in listed.text and digest not in listed.text and "sha256" not in listed.text

    revoked = await http.delete("/admin/keys/acme-ci", headers=AS_ADMIN)
    assert revoked.status_code == 200 and revoked.json() == {"id": "acme-ci", "revoked": True}
    assert await chat(http, key) == 401
    rows = {
        row["id"]: row for row in (await http.get("/admin/keys", headers=AS_ADMIN)).json()["data"]
    }
    assert rows["acme-ci"]["revoked"]


async def test_a_file_key_can_be_revoked(http: httpx.AsyncClient) -> None:
    assert await chat(http, FILE_KEY) == 200
    assert (await http.delete("/admin/keys/from-file", headers=AS_ADMIN)).status_code == 200
    assert await chat(http, FILE_KEY) == 401


async def test_unknown_ids_bad_bodies_and_duplicates_are_openai_shaped(
    http: httpx.AsyncClient,
) -> None:
    missing = await http.delete("/admin/keys/nobody", headers=AS_ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "id"
    for body, param in [
        ({}, "tenant"),
        ({"tenant": "t", "limits": {"rpm": "ten"}}, "limits.rpm"),
        ({"tenant": "t", "colour": "blue"}, "colour"),
        ({"tenant": "t", "expires": "2001-01-01T00:00:00Z"}, "expires"),
    ]:
        bad = await http.post("/admin/keys", json=body, headers=AS_ADMIN)
        assert bad.status_code == 400, body
        error = bad.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)
    not_json = await http.post("/admin/keys", content=b"{", headers=AS_ADMIN)
    assert not_json.status_code == 400
    duplicate = await http.post(
        "/admin/keys", json={"tenant": "t", "id": "from-file"}, headers=AS_ADMIN
    )
    assert duplicate.status_code in (400, 409)
    assert "already exists" in duplicate.json()["error"]["message"]


async def test_the_admin_api_needs_the_admin_key(http: httpx.AsyncClient) -> None:
    for headers in ({}, {"authorization": f"Bearer {FILE_KEY}"}):
        assert (await http.get("/admin/keys", headers=headers)).status_code == 401
        refused = await http.post("/admin/keys", json={"tenant": "t"}, headers=headers)
        assert refused.status_code == 401
