"""External MCP servers as tool sources, against real servers written with the SDK."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from gateway.settings.tool_types import McpServer
from tests.support import Process, free_port
from tools import McpConfigError, McpSource, ToolContext, ToolError, ToolRegistry

pytestmark = pytest.mark.anyio

ECHO = str(Path(__file__).resolve().parent.parent / "fixtures_mcp" / "echo_server.py")


async def wait_for(check: Callable[[], bool], within: float) -> None:
    import anyio

    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await anyio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture()
async def echo() -> AsyncIterator[McpSource]:
    source = McpSource("echo", McpServer(command=[sys.executable, ECHO]), {}, backoff_initial=0.2)
    await source.start(ready_timeout=20)
    try:
        yield source
    finally:
        await source.aclose()


async def test_stdio_server_is_listed_and_called(echo: McpSource) -> None:
    assert echo.status == "up"
    assert {"echo", "add", "fail", "sleep", "pid"} <= set(echo.tools)
    assert await echo.call_tool("add", {"a": 2, "b": 3}, timeout=5) == "5"
    with pytest.raises(ToolError, match="no luck"):
        await echo.call_tool("fail", {"reason": "no luck"}, timeout=5)

    registry = ToolRegistry([], [echo])
    entries = registry.resolve(["echo.*"])
    assert "echo__add" in [entry.public_name for entry in entries]
    result = await registry.call("echo__add", '{"a": 40, "b": 2}', ToolContext())
    assert (result.outcome, result.content, result.name) == ("ok", "42", "echo.add")
    invalid = await registry.call("echo.add", '{"a": "x", "b": 2}', ToolContext())
    assert invalid.outcome == "invalid" and "'x' is not of type 'integer'" in invalid.content
    slow = await registry.call("echo.sleep", '{"seconds": 5}', ToolContext(), timeout=0.3)
    assert slow.outcome == "timeout" and slow.seconds < 2
    assert echo.status == "up"  # a slow call is not a dead server


async def test_killed_server_is_down_then_restarted(echo: McpSource) -> None:
    registry = ToolRegistry([], [echo])
    first = int(await echo.call_tool("pid", {}, timeout=5))
    os.kill(first, 9)
    await wait_for(lambda: echo.status != "up", 5)
    assert registry.available(["echo.*"]) == []
    assert registry.status()["echo"] in ("down", "starting")
    down = await registry.call("echo.add", '{"a": 1, "b": 1}', ToolContext())
    assert not down.ok
    await wait_for(lambda: echo.status == "up", 20)
    assert len(registry.available(["echo.*"])) >= 5
    second = int(await echo.call_tool("pid", {}, timeout=5))
    assert second != first and echo.connects == 2


async def test_aclose_stops_the_process() -> None:
    source = McpSource("echo", McpServer(command=[sys.executable, ECHO]), {})
    await source.start(ready_timeout=20)
    pid = int(await source.call_tool("pid", {}, timeout=5))
    started = time.monotonic()
    await source.aclose()
    assert time.monotonic() - started < 6
    await wait_for(lambda: not alive(pid), 5)
    assert source.status == "down" and source.tools == {}


@pytest.mark.parametrize(
    "command",
    [
        ["/nonexistent/mcp-server"],
        [sys.executable, "-c", "import sys; sys.exit(3)"],
        # Starts but never speaks MCP: the connect timeout makes it down.
        [sys.executable, "-c", "import time; time.sleep(60)"],
    ],
    ids=["missing", "exits", "silent"],
)
async def test_a_server_that_cannot_start_is_down_never_a_hang(command: list[str]) -> None:
    source = McpSource("bad", McpServer(command=command), {}, connect_timeout=1.0)
    started = time.monotonic()
    await source.start(ready_timeout=10)
    try:
        assert source.status == "down"
        assert source.last_error
        assert time.monotonic() - started < 8
        registry = ToolRegistry([], [source])
        registry.resolve_static(["bad.anything"])
        assert registry.available(["bad.*"]) == []
        assert registry.status() == {"bad": "down"}
    finally:
        closing = time.monotonic()
        await source.aclose()
        assert time.monotonic() - closing < 8


def wait_port(port: int, proc: Process, within: float = 20.0) -> None:
    # Not an HTTP probe: a GET on an MCP endpoint opens an event stream that never ends.
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"MCP server exited:\n{proc.output()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"MCP server not listening on {port}:\n{proc.output()}")


@pytest.fixture()
def http_echo(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = Process([sys.executable, ECHO, "--http", str(port)], tmp_path / "echo-http.log")
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_port(port, proc)
        yield url
    finally:
        proc.stop()


async def test_http_source_sends_headers_from_env(http_echo: str) -> None:
    spec = McpServer(url=http_echo, headers_env={"Authorization": "SEARCH_TOKEN"})
    source = McpSource("search", spec, {"SEARCH_TOKEN": "Bearer s3cret"})
    await source.start(ready_timeout=10)
    try:
        assert source.status == "up"
        assert await source.call_tool("whoami", {}, timeout=5) == "Bearer s3cret"
        registry = ToolRegistry([], [source])
        result = await registry.call("search__echo", '{"text": "hi"}', ToolContext())
        assert (result.outcome, result.content) == ("ok", "hi")
        await registry.refresh(5)
        assert source.status == "up"
    finally:
        await source.aclose()


def test_http_source_names_a_missing_variable() -> None:
    spec = McpServer(url="http://127.0.0.1:9/mcp", headers_env={"Authorization": "SEARCH_TOKEN"})
    with pytest.raises(
        McpConfigError, match=r"search\.headers_env.*Authorization \(SEARCH_TOKEN\)"
    ):
        McpSource("search", spec, {})


async def test_unreachable_http_server_is_down() -> None:
    spec = McpServer(url=f"http://127.0.0.1:{free_port()}/mcp")
    source = McpSource("gone", spec, {}, connect_timeout=1.0)
    started = time.monotonic()
    await source.start(ready_timeout=5)
    try:
        assert source.status == "down" and time.monotonic() - started < 5
    finally:
        await source.aclose()
