"""The registry served as an MCP server (streamable HTTP), for MCP clients such as IDE agents.

`tools/list` lists every tool callable now under its model-facing name; `tools/call` runs it
through `ToolRegistry.call`, so the same validation, timeouts and size caps apply as in the
chat tool loop. The session manager runs stateless (every request stands alone), so any
worker can answer any request.

The SDK's session manager needs a task group that lives as long as the app: `start()` opens
it in a background task (so startup and shutdown hooks may run in different tasks) and
`aclose()` closes it. The app ignores its mount path: mounted at `/mcp`, it serves `/mcp`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import mcp_types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from tools.base import ToolContext
from tools.registry import ToolRegistry

# Given the HTTP request's ASGI scope (None when the transport has none), the context a
# tool call runs in.
ContextFactory = Callable[[Mapping[str, Any] | None], ToolContext]

_NOT_STARTED = (
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"MCP endpoint not started"}}'
)


def tool_context_from_scope(scope: Mapping[str, Any] | None) -> ToolContext:
    """The request's `RequestContext` (left in the scope by the request-id middleware) as a
    `ToolContext`; an anonymous one when the middleware did not run."""
    ctx = scope.get(CONTEXT_SCOPE_KEY) if scope is not None else None
    if isinstance(ctx, RequestContext):
        return ToolContext.from_request(ctx)
    return ToolContext()


class McpApp:
    """An ASGI app (call it with scope, receive, send) plus its lifecycle."""

    def __init__(
        self,
        registry: ToolRegistry | Callable[[], ToolRegistry],
        context_factory: ContextFactory = tool_context_from_scope,
        *,
        name: str = "switchyard",
        stop_timeout: float = 5.0,
    ) -> None:
        # A callable: the live registry, which a reload of the policy file may replace.
        self._registry = registry if callable(registry) else (lambda: registry)
        self._context_factory = context_factory
        self._stop_timeout = stop_timeout
        self.server: Server[Any] = Server(
            name,
            description="The gateway's tools",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            get_tool_input_schema=self._input_schema,
        )
        self._manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    async def start(self, _app: object = None, *, within_seconds: float = 5.0) -> None:
        """Open the session manager's task group (usable as a Litestar `on_startup` hook)."""
        if self._task is not None:
            return
        # A session manager runs once; each start gets a fresh one.
        manager = StreamableHTTPSessionManager(app=self.server, stateless=True, json_response=True)
        started, self._stop = asyncio.Event(), asyncio.Event()
        stop = self._stop

        async def hold() -> None:
            async with manager.run():
                started.set()
                await stop.wait()

        self._task = asyncio.create_task(hold(), name="mcp-endpoint")
        waiter = asyncio.ensure_future(started.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=within_seconds, return_when="FIRST_COMPLETED"
        )
        waiter.cancel()
        if self._task in done:
            self._task.result()  # the manager failed to start: raise its error
        if not started.is_set():
            await self.aclose()
            raise TimeoutError(f"MCP endpoint did not start within {within_seconds:g} s")
        self._manager = manager

    async def aclose(self, _app: object = None) -> None:
        """Close it (usable as a Litestar `on_shutdown` hook)."""
        task, self._task, self._manager = self._task, None, None
        if self._stop is not None:
            self._stop.set()
        if task is None:
            return
        _, pending = await asyncio.wait({task}, timeout=self._stop_timeout)
        if pending:
            task.cancel()
            await asyncio.wait({task}, timeout=self._stop_timeout)

    async def __aenter__(self) -> McpApp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if scope["type"] != "http":
            return
        if manager is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1")],
                }
            )
            await send({"type": "http.response.body", "body": _NOT_STARTED})
            return
        await manager.handle_request(scope, receive, send)

    # --- MCP handlers ---------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(
            tools=[
                mcp_types.Tool(
                    name=entry.public_name,
                    description=entry.description,
                    input_schema=entry.parameters,
                )
                for entry in self._registry().all_available()
            ]
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        result = await self._registry().call(
            params.name, params.arguments or {}, self._context_factory(_scope_of(ctx))
        )
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(text=result.content)], is_error=not result.ok
        )

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        entry = self._registry().lookup(name)
        return entry.parameters if entry is not None else None


def mcp_asgi_app(
    registry: ToolRegistry | Callable[[], ToolRegistry],
    context_factory: ContextFactory = tool_context_from_scope,
) -> McpApp:
    """The gateway's MCP endpoint; `await app.start()` before serving, `aclose()` after."""
    return McpApp(registry, context_factory)


def _scope_of(ctx: ServerRequestContext[Any]) -> Mapping[str, Any] | None:
    # On streamable HTTP the SDK hands the handler the Starlette request it came with.
    scope = getattr(ctx.request, "scope", None)
    return scope if isinstance(scope, Mapping) else None
