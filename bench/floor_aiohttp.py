"""Floor proxy #2: a bare ASGI pass-through over one shared `aiohttp.ClientSession`.

Forwards method, path (+ query), body and content-type to the upstream and streams the
response back chunk by chunk as it arrives. No parsing, no validation, no logging.

Run: `python bench/floor_aiohttp.py --port 9202 --upstream http://127.0.0.1:9100`
"""

from __future__ import annotations

from typing import Any

import aiohttp
from _floor_common import Scope, Send, make_app, request_content_type, run

_PASS_HEADERS = ("content-type", "content-length")


def build(upstream: str) -> Any:
    state: dict[str, aiohttp.ClientSession] = {}

    async def startup() -> None:
        state["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1024, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=30.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def shutdown() -> None:
        await state["session"].close()

    async def forward(scope: Scope, body: bytes, send: Send) -> None:
        session = state["session"]
        url = upstream + scope["path"]
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = {}
        ctype = request_content_type(scope)
        if ctype is not None:
            headers["content-type"] = ctype
        async with session.request(scope["method"], url, data=body, headers=headers) as response:
            out = [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.items()
                if k.lower() in _PASS_HEADERS
            ]
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return make_app(startup, shutdown, forward)


if __name__ == "__main__":
    run(build, __doc__ or "")
