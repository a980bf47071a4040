"""The gateway's tools served over MCP: the official SDK client lists and calls them through
the app, mounted under `/mcp` in a Litestar app served by a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar import Litestar, asgi
from litestar.types import Receive, Scope, Send
from mcp import Client

from gateway.settings.tool_types import McpServer
from tests.support import free_port
from tools import McpSource, ToolContext, ToolRegistry, mcp_asgi_app
from tools.builtin import builtin_tools

pytestmark = pytest.mark.anyio

ECHO = str(Path(__file__).resolve().parent.parent / "fixtures_mcp" / "echo_server.py")


@pytest.fixture()
async def served() -> AsyncIterator[tuple[str, list[Mapping[str, Any] | None]]]:
    source = McpSource("files", McpServer(command=[sys.executable, ECHO]), {})
    registry = ToolRegistry(builtin_tools(), [source], timeout_seconds=5)
    await registry.start(ready_timeout=20)
    scopes: list[Mapping[str, Any] | None] = []

    def context_factory(scope: Mapping[str, Any] | None) -> ToolContext:
        scopes.append(scope)
        return ToolContext(request_id="mcp-test")

    endpoint = mcp_asgi_app(registry, context_factory)

    @asgi("/mcp", is_mount=True, copy_scope=True)
    async def mcp_mount(scope: Scope, receive: Receive, send: Send) -> None:
        await endpoint(scope, receive, send)  # type: ignore[arg-type]

    app = Litestar(
        route_handlers=[mcp_mount], on_startup=[endpoint.start], on_shutdown=[endpoint.aclose]
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.025)
        assert server.started
        yield f"http://127.0.0.1:{port}/mcp", scopes
    finally:
        server.should_exit = True
        await asyncio.wait({task}, timeout=10)
        await registry.aclose()


async def test_sdk_client_lists_and_calls_the_registry(
    served: tuple[str, list[Mapping[str, Any] | None]],
) -> None:
    url, scopes = served
    async with Client(url) as client:
        listed = await client.list_tools()
        names = {tool.name for tool in listed.tools}
        assert {"calculator", "current_time", "files__echo", "files__add"} <= names
        calculator = next(tool for tool in listed.tools if tool.name == "calculator")
        assert calculator.input_schema["required"] == ["expression"]

        result = await client.call_tool("calculator", {"expression": "1/3 + 1/6"})
        assert not result.is_error
        assert json.loads(result.content[0].text)["exact"] == "1/2"  # type: ignore[union-attr]

        through = await client.call_tool("files__add", {"a": 2, "b": 2})
        assert (through.is_error, through.content[0].text) == (False, "4")  # type: ignore[union-attr]

        wrong = await client.call_tool("calculator", {"expression": 3})
        assert wrong.is_error
        assert "Expected `str`, got `int`" in wrong.content[0].text  # type: ignore[union-attr]
    assert scopes and all(scope is not None and scope["type"] == "http" for scope in scopes)


async def test_not_started_answers_503() -> None:
    import httpx

    endpoint = mcp_asgi_app(ToolRegistry(builtin_tools()))
    transport = httpx.ASGITransport(app=endpoint)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await http.post("/mcp", json={})
    assert response.status_code == 503
