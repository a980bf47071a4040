"""Opening one MCP server's transport with the official SDK, and noticing when it ends.

The SDK's client does not say when a stdio server's process has exited while no request is
in flight; `watched` relays the transport's read stream and sets an event at its end, which
is what lets the supervisor mark the server down and restart it straight away.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol, TextIO

import anyio
import httpx2
from mcp.client._transport import Transport, TransportStreams
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage


class McpServerSpec(Protocol):
    """One `tools.mcp_servers` entry (`gateway.settings.tool_types.McpServer`), described
    here so that `tools` does not import the settings package: exactly one of `command`
    (stdio) and `url` (streamable HTTP)."""

    @property
    def command(self) -> Sequence[str] | None: ...
    @property
    def env(self) -> Mapping[str, str]: ...
    @property
    def url(self) -> str | None: ...
    @property
    def headers_env(self) -> Mapping[str, str]: ...


class McpConfigError(ValueError):
    """An MCP server entry that cannot be used as written (e.g. a header's variable is unset)."""


def http_headers(name: str, spec: McpServerSpec, env: Mapping[str, str]) -> dict[str, str]:
    """The headers of an HTTP server, their values read from the environment by name."""
    missing = [f"{header} ({var})" for header, var in spec.headers_env.items() if var not in env]
    if missing:
        raise McpConfigError(
            f"tools.mcp_servers.{name}.headers_env: environment variable not set for "
            + ", ".join(missing)
        )
    return {header: env[var] for header, var in spec.headers_env.items()}


def open_transport(
    spec: McpServerSpec,
    headers: Mapping[str, str],
    *,
    connect_timeout: float,
    errlog: TextIO | None = None,
) -> Transport:
    """The SDK transport for `spec`: a supervised child process, or streamable HTTP."""
    if spec.command is not None:
        params = StdioServerParameters(
            command=spec.command[0], args=list(spec.command[1:]), env=dict(spec.env)
        )
        # The child's stderr is the gateway's: its crash reports land in the gateway's log.
        return stdio_client(params, errlog=errlog if errlog is not None else sys.stderr)
    assert spec.url is not None  # the settings type holds exactly one of command and url
    return _http_transport(spec.url, dict(headers), connect_timeout)


@contextlib.asynccontextmanager
async def _http_transport(
    url: str, headers: dict[str, str], connect_timeout: float
) -> AsyncIterator[TransportStreams]:
    # Every HTTP wait is bounded: connect/write/pool by `connect_timeout`; reads are bounded
    # per call by the caller's timeout (the SSE read timeout only guards idle streams).
    timeout = httpx2.Timeout(connect_timeout, read=300.0)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as client,
        streamable_http_client(url, http_client=client) as streams,
    ):
        yield streams


@contextlib.asynccontextmanager
async def watched(transport: Transport, ended: anyio.Event) -> AsyncIterator[TransportStreams]:
    """`transport`'s streams, with `ended` set once its read side has closed."""
    async with transport as (inner_read, write):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def relay() -> None:
            try:
                async with send:
                    async for item in inner_read:
                        await send.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            finally:
                ended.set()

        async with anyio.create_task_group() as group:
            group.start_soon(relay)
            try:
                async with receive:
                    yield receive, write
            finally:
                group.cancel_scope.cancel()
