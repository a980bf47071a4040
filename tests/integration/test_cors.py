from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.container import Container
from gateway.settings.loader import parse_settings

pytestmark = pytest.mark.anyio


@pytest.fixture()
async def cors_http() -> AsyncIterator[httpx.AsyncClient]:
    settings = parse_settings(
        {
            "server": {"cors_allow_origins": ["https://chat.example"], "access_log": False},
            "backends": {"fake": {"type": "fake"}},
            "models": [{"id": "echo", "backend": "fake"}],
        },
        "test",
        {},
    )
    container = Container(settings, env={})
    await container.start()
    transport = httpx.ASGITransport(app=create_app(settings, container))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
    await container.aclose()


async def test_browser_frontends_get_cors_headers(cors_http: httpx.AsyncClient) -> None:
    origin = {"origin": "https://chat.example"}
    preflight = await cors_http.options(
        "/v1/chat/completions",
        headers={
            **origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "https://chat.example"
    reply = await cors_http.post(
        "/v1/chat/completions",
        headers=origin,
        json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == "https://chat.example"
    assert "x-request-id" in reply.headers["access-control-expose-headers"]
