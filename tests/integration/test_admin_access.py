"""Who reaches `/admin/*`: with an admin key configured, only its holder, whether or not
`/v1` needs keys; with none, loopback clients only (a remote one gets a 403)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.container import Container
from gateway.settings.loader import parse_settings

pytestmark = pytest.mark.anyio
ADMIN_ENV = "TEST_ADMIN_ACCESS_ADMIN"
ADMIN = "sk-admin-access-0123456789"


def document(admin: bool) -> dict[str, Any]:
    auth = {"required": False, **({"admin_key_env": ADMIN_ENV} if admin else {})}
    return {
        "server": {"access_log": False},
        "auth": auth,
        "backends": {"fake": {"type": "fake"}},
        "models": [{"id": "echo", "backend": "fake", "cache": {"mode": "exact"}}],
    }


async def status(doc: dict[str, Any], client_host: str, headers: dict[str, str]) -> int:
    built = Container(parse_settings(doc, "test", {}), env={})
    await built.start()
    try:
        transport = httpx.ASGITransport(
            app=create_app(built.settings, built), client=(client_host, 5555)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            chat = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
            assert (await http.post("/v1/chat/completions", json=chat)).status_code == 200
            reply = await http.delete("/admin/cache", headers=headers)
            if reply.status_code != 200:
                error = reply.json()["error"]
                assert set(error) == {"message", "type", "param", "code"}
            return reply.status_code
    finally:
        await built.aclose()


async def test_a_configured_admin_key_is_needed_even_when_v1_is_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN)
    assert await status(document(admin=True), "127.0.0.1", {}) == 401
    assert await status(document(admin=True), "127.0.0.1", {"x-api-key": "wrong"}) == 401
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert await status(document(admin=True), "203.0.113.9", admin) == 200


async def test_without_an_admin_key_only_loopback_clients_reach_the_admin_api() -> None:
    assert await status(document(admin=False), "127.0.0.1", {}) == 200
    assert await status(document(admin=False), "::1", {}) == 200
    assert await status(document(admin=False), "203.0.113.9", {}) == 403
