from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.container import Container
from gateway.settings.loader import parse_settings

SETTINGS = {
    "server": {"max_body_bytes": 64 * 1024, "access_log": False},
    "backends": {"fake": {"type": "fake"}},
    "models": [
        {"id": "echo", "backend": "fake"},
        {"id": "fake/*", "backend": "fake", "upstream_model": "*"},
    ],
}


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture()
async def container() -> AsyncIterator[Container]:
    built = Container(parse_settings(SETTINGS, "test", {}), env={})
    await built.start()
    yield built
    await built.aclose()


@pytest.fixture()
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container.settings, container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
