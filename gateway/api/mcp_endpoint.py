"""`/mcp`: the gateway's tools served over MCP (streamable HTTP), behind the same keys as
`/v1` (the auth middleware checks both).

The endpoint is built and started on its first request: the MCP SDK costs ~0.6 s and ~20 MB
to load, which a gateway nobody reaches over MCP should not pay at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from litestar.handlers import ASGIRouteHandler, asgi

from tools.registry import ToolRegistry

if TYPE_CHECKING:
    from tools.mcp_server import McpApp


class LazyMcpEndpoint:
    def __init__(self, registry: Callable[[], ToolRegistry]) -> None:
        self._registry = registry
        self._app: McpApp | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self._app or await self._open()
        await app(scope, receive, send)

    async def _open(self) -> McpApp:
        async with self._lock:
            if self._app is None:
                from tools.mcp_server import mcp_asgi_app

                app = mcp_asgi_app(self._registry)
                if not self._closed:
                    await app.start()  # bounded: raises TimeoutError past its limit
                self._app = app
            return self._app

    async def aclose(self, _app: object = None) -> None:
        """Close it (usable as a Litestar `on_shutdown` hook)."""
        self._closed = True
        if self._app is not None:
            await self._app.aclose()


def mcp_handler(
    registry: Callable[[], ToolRegistry],
) -> tuple[ASGIRouteHandler, LazyMcpEndpoint]:
    """The route and the endpoint (close it on shutdown)."""
    endpoint = LazyMcpEndpoint(registry)

    @asgi("/mcp", is_mount=True, copy_scope=True)
    async def mcp(scope: Any, receive: Any, send: Any) -> None:
        await endpoint(scope, receive, send)

    return mcp, endpoint
