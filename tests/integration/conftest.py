from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

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


@contextlib.asynccontextmanager
async def served(document: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The app of a policy document, in process, started and closed around the block."""
    built = Container(parse_settings(document, "test", {}), env={})
    await built.start()
    transport = httpx.ASGITransport(app=create_app(built.settings, built))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
    finally:
        await built.aclose()
