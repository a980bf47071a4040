"""Floor proxy #1: a bare ASGI pass-through over one shared `httpx.AsyncClient`.

Forwards method, path (+ query), body and content-type to the upstream and streams the
response back chunk by chunk as it arrives. No parsing, no validation, no logging.

Run: `python bench/floor_httpx.py --port 9201 --upstream http://127.0.0.1:9100`
"""

from __future__ import annotations

from typing import Any

import httpx
from _floor_common import Scope, Send, make_app, request_content_type, run

_PASS_HEADERS = ("content-type", "content-length")


def build(upstream: str) -> Any:
    state: dict[str, httpx.AsyncClient] = {}

    async def startup() -> None:
        state["client"] = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=1024),
        )

    async def shutdown() -> None:
        await state["client"].aclose()

    async def forward(scope: Scope, body: bytes, send: Send) -> None:
        client = state["client"]
        url = upstream + scope["path"]
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = {}
        ctype = request_content_type(scope)
        if ctype is not None:
            headers["content-type"] = ctype
        request = client.build_request(scope["method"], url, content=body, headers=headers)
        response = await client.send(request, stream=True)
        try:
            out = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.items()
                if k in _PASS_HEADERS
            ]
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": out}
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    return make_app(startup, shutdown, forward)


if __name__ == "__main__":
    run(build, __doc__ or "")
