"""One external MCP server as a tool source: connected, listed, supervised, called.

A background task owns the connection (the SDK's client is an anyio context that must be
entered and left by one task): it connects, lists the tools, keeps the session, and when the
server goes away (a stdio process exits, an HTTP server stops answering) marks it down, hides
its tools and reconnects with exponential backoff. Every await is bounded: a server that does
not start, answer or stop in time is down, never a hang.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import anyio
import mcp_types
from mcp import Client
from mcp.shared.exceptions import MCPError

from tools.base import ToolError
from tools.mcp_listing import McpTool, accept_tools
from tools.mcp_transport import McpServerSpec, http_headers, open_transport, watched

logger = logging.getLogger(__name__)

SourceStatus = Literal["starting", "up", "down"]

# A server listing more pages than this is cut there (a paginator that never ends).
_MAX_LIST_PAGES = 50


class ToolUnavailableError(ToolError):
    """The tool's server is not connected (down, restarting, or shut down)."""


class McpSource:
    """The tools of one `tools.mcp_servers` entry. `start()` launches the supervisor;
    `aclose()` stops it (a stdio server's whole process group goes with it)."""

    def __init__(
        self,
        name: str,
        spec: McpServerSpec,
        env: Mapping[str, str],
        *,
        connect_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        health_interval: float = 30.0,
        errlog: TextIO | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        # Read now, so a missing variable fails the gateway's startup with its name.
        self._headers = http_headers(name, spec, env) if spec.url is not None else {}
        self._connect_timeout = connect_timeout
        self._backoff = (backoff_initial, backoff_max)
        self._health_interval = health_interval
        self._errlog = errlog
        self._status: SourceStatus = "starting"
        self._tools: dict[str, McpTool] = {}
        self._client: Client | None = None
        # Bumped whenever the visible tool set changes, so callers can cache what they built.
        self.generation = 0
        self.connects = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop: anyio.Event | None = None
        self._wake: anyio.Event | None = None
        self._settled: anyio.Event | None = None

    @property
    def kind(self) -> str:
        return "stdio" if self.spec.command is not None else "http"

    @property
    def status(self) -> SourceStatus:
        return self._status

    @property
    def tools(self) -> Mapping[str, McpTool]:
        """The tools callable now: none while the server is not up."""
        return self._tools

    async def start(self, ready_timeout: float | None = None) -> None:
        """Launch the supervisor; wait up to `ready_timeout` for the first connection attempt
        to end (up or down). Never raises for a server that is down."""
        if self._task is None:
            self._stop, self._settled = anyio.Event(), anyio.Event()
            self._task = asyncio.create_task(self._supervise(), name=f"mcp-source:{self.name}")
        if ready_timeout is not None and self._settled is not None:
            with anyio.move_on_after(ready_timeout):
                await self._settled.wait()

    async def aclose(self, grace_seconds: float = 10.0) -> None:
        self._stopping = True
        for event in (self._stop, self._wake):
            if event is not None:
                event.set()
        task, self._task = self._task, None
        if task is None:
            return
        # The supervisor's exit stops the process (SDK: close stdin, SIGTERM, SIGKILL to
        # the group, each bounded); cancelling it is the fallback if that overruns.
        _, pending = await asyncio.wait({task}, timeout=grace_seconds)
        if pending:
            task.cancel()
            await asyncio.wait({task}, timeout=grace_seconds)

    async def refresh(self, within_seconds: float | None = None) -> None:
        """List the tools again now (on demand); a failure marks the connection broken."""
        client = self._client
        if client is None:
            return
        try:
            limit = within_seconds if within_seconds is not None else self._connect_timeout
            with anyio.fail_after(limit):
                tools = await self._list(client)
        except Exception as exc:
            self._broken(f"listing failed: {_describe(exc)}")
            return
        self._publish("up", tools)

    async def call_tool(
        self,
        tool: str,
        arguments: dict[str, Any],
        timeout: float,  # noqa: ASYNC109 - the registry's per-call budget, one of several
    ) -> str:
        """The text of the tool's result; `ToolError` with the server's text when the tool
        reports an error; `TimeoutError` past `timeout`."""
        client = self._client
        if client is None or self._status != "up":
            raise ToolUnavailableError(f"MCP server {self.name!r} is {self._status}")
        try:
            with anyio.fail_after(timeout):
                result = await client.call_tool(tool, arguments)
        except TimeoutError:
            raise
        except MCPError as exc:
            if exc.code == mcp_types.CONNECTION_CLOSED:
                self._broken("connection closed during a call")
                raise ToolUnavailableError(f"MCP server {self.name!r} went away") from exc
            raise ToolError(f"MCP server {self.name!r}: {exc}") from exc
        except Exception as exc:
            self._broken(f"call failed: {_describe(exc)}")
            raise ToolUnavailableError(f"MCP server {self.name!r} unreachable") from exc
        text = result_text(result)
        if result.is_error:
            raise ToolError(text or f"{tool} reported an error")
        return text

    # --- the supervisor -------------------------------------------------------------

    async def _supervise(self) -> None:
        initial, ceiling = self._backoff
        delay = initial
        while not self._stopping:
            began = time.monotonic()
            try:
                await self._serve_once()
            except Exception as exc:
                self.last_error = _describe(exc)
                logger.warning(
                    "MCP server %r (%s) failed: %s", self.name, self.kind, self.last_error
                )
            self._publish("down", {})
            if self._settled is not None:
                self._settled.set()
            if self._stopping or self._stop is None:
                break
            # A connection that stayed up a while was healthy: its loss starts over.
            if time.monotonic() - began >= max(ceiling, 5.0):
                delay = initial
            with anyio.move_on_after(delay):
                await self._stop.wait()
            delay = min(delay * 2, ceiling)

    async def _serve_once(self) -> None:
        wake = self._wake = anyio.Event()
        transport = open_transport(
            self.spec, self._headers, connect_timeout=self._connect_timeout, errlog=self._errlog
        )
        self._publish("starting", {})
        # The connect deadline is lifted once connected; one scope around the whole
        # connection keeps cancel scopes nested as anyio requires.
        try:
            with anyio.CancelScope(deadline=anyio.current_time() + self._connect_timeout) as scope:
                async with Client(watched(transport, wake), cache=None) as client:
                    tools = await self._list(client)
                    scope.deadline = math.inf
                    await self._connected(client, tools, wake)
            if scope.cancelled_caught:
                raise TimeoutError(f"no MCP answer within {self._connect_timeout:g} s")
        finally:
            self._client = None
            self._wake = None

    async def _connected(
        self, client: Client, tools: dict[str, McpTool], wake: anyio.Event
    ) -> None:
        """Hold the connection until it ends, is found broken, or the source stops."""
        self._client = client
        self.connects += 1
        self.last_error = None
        self._publish("up", tools)
        if self._settled is not None:
            self._settled.set()
        logger.info("MCP server %r up: %d tools", self.name, len(tools))
        while not wake.is_set():
            with anyio.move_on_after(self._health_interval):
                await wake.wait()
            if not wake.is_set():
                await self.refresh()
        if not self._stopping and self.last_error is None:
            self.last_error = "connection ended"
            logger.warning("MCP server %r: connection ended", self.name)

    async def _list(self, client: Client) -> dict[str, McpTool]:
        listed: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        return accept_tools(self.name, listed)

    def _broken(self, reason: str) -> None:
        self.last_error = reason
        if self._wake is not None:
            self._wake.set()

    def _publish(self, status: SourceStatus, tools: dict[str, McpTool]) -> None:
        changed = status != self._status or _signature(tools) != _signature(self._tools)
        self._status, self._tools = status, tools
        if changed:
            self.generation += 1


def result_text(result: mcp_types.CallToolResult) -> str:
    """A tool result's content as text: text blocks joined, other blocks named."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {resource.uri}]")
        else:
            parts.append(f"[{block.type} content]")
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n".join(parts)


def _signature(tools: Mapping[str, McpTool]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, tool.description, tool.input_schema) for name, tool in tools.items()]


def _describe(exc: BaseException) -> str:
    # Task groups wrap the real failure; the innermost one names the cause.
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
