"""Shared plumbing of the two floor proxies: CLI, lifespan, request-body reading, uvicorn run.

A floor is the least a Python pass-through proxy can cost on this stack (uvicorn + uvloop +
httptools and one pooled HTTP client): the gateway's overhead is judged against it.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Forward = Callable[[Scope, bytes, Send], Awaitable[None]]


async def read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def request_content_type(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return None


def make_app(
    startup: Callable[[], Awaitable[None]],
    shutdown: Callable[[], Awaitable[None]],
    forward: Forward,
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await startup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        await forward(scope, body, send)

    return app


def run(factory: Callable[[str], Any], description: str) -> None:
    """Parse `--port/--upstream` and serve `factory(upstream_base)` on 127.0.0.1."""
    import uvicorn

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9100")
    args = parser.parse_args()
    uvicorn.run(
        factory(args.upstream.rstrip("/")),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
    )
