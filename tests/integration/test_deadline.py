"""The request's deadline: the client's own read timeout (sent by the OpenAI SDKs) or
`defaults.deadline_seconds` bounds everything before the commit point."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.anyio
BODY = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("stream", [False, True])
async def test_the_clients_read_timeout_bounds_a_stalled_backend(
    http: httpx.AsyncClient, stream: bool
) -> None:
    started = time.monotonic()
    response = await http.post(
        "/v1/chat/completions",
        json={**BODY, "model": "fake/stall-first", "stream": stream},
        headers={"x-stainless-read-timeout": "0.3"},
    )
    assert time.monotonic() - started < 3
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
async def test_a_useless_timeout_header_is_ignored(http: httpx.AsyncClient, value: str) -> None:
    response = await http.post(
        "/v1/chat/completions",
        json={**BODY, "model": "echo"},
        headers={"x-stainless-read-timeout": value},
    )
    assert response.status_code == 200


async def test_the_configured_deadline_applies_without_a_client_header() -> None:
    from gateway.app import create_app
    from gateway.container import Container
    from gateway.settings.loader import parse_settings

    document = {
        "server": {"access_log": False},
        "defaults": {"deadline_seconds": 0.3},
        "backends": {"fake": {"type": "fake"}},
        "models": [{"id": "fake/*", "backend": "fake", "upstream_model": "*"}],
    }
    container = Container(parse_settings(document, "test", {}), env={})
    await container.start()
    transport = httpx.ASGITransport(app=create_app(container.settings, container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            started = time.monotonic()
            response = await client.post(
                "/v1/chat/completions", json={**BODY, "model": "fake/stall-first"}
            )
            assert time.monotonic() - started < 3
            assert response.status_code == 504
            assert response.json()["error"]["code"] == "deadline_exceeded"
            # A client that allows less wins; one that allows more does not extend it.
            response = await client.post(
                "/v1/chat/completions",
                json={**BODY, "model": "fake/stall-first"},
                headers={"x-stainless-read-timeout": "600"},
            )
            assert response.status_code == 504
            assert time.monotonic() - started < 6
    finally:
        await container.aclose()
