"""`/mcp`: the gateway's tools served over MCP (streamable HTTP), behind the same keys as
`/v1` (the auth middleware checks both)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.handlers import ASGIRouteHandler, asgi

from tools.mcp_server import McpApp, mcp_asgi_app
from tools.registry import ToolRegistry


def mcp_handler(registry: Callable[[], ToolRegistry]) -> tuple[ASGIRouteHandler, McpApp]:
    """The route and the endpoint (start it on startup, close it on shutdown)."""
    endpoint = mcp_asgi_app(registry)

    @asgi("/mcp", is_mount=True, copy_scope=True)
    async def mcp(scope: Any, receive: Any, send: Any) -> None:
        await endpoint(scope, receive, send)

    return mcp, endpoint
