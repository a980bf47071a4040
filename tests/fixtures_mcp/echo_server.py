"""A small MCP server for the tests, written with the official SDK.

`python echo_server.py` serves stdio; `python echo_server.py --http PORT` serves streamable
HTTP on loopback and refuses calls without `Authorization: Bearer <ECHO_TOKEN>` (from its
environment), so a test can prove that `headers_env` reached the server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("echo")


@server.tool(description="Return the text as given.")
def echo(text: str) -> str:
    return text


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="Always fails.")
def fail(reason: str = "boom") -> str:
    raise ToolError(reason)


@server.tool(description="Sleep, then answer.")
async def sleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@server.tool(description="The process id of this server.")
def pid() -> int:
    return os.getpid()


@server.tool(description="The Authorization header this request carried.")
def whoami(ctx: Context) -> str:
    headers = ctx.headers or {}
    return str(headers.get("authorization", ""))


def main() -> None:
    # Quiet: the tests read results, not the SDK's per-call log lines.
    logging.disable(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None)
    parsed = parser.parse_args()
    if parsed.http is None:
        server.run()
        return
    server.run("streamable-http", host="127.0.0.1", port=parsed.http, stateless_http=True)


if __name__ == "__main__":
    main()
