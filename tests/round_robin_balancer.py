"""A tiny HTTP round-robin balancer for tests: each request goes to the next upstream in turn.

HTTP-level rather than TCP: a client's keep-alive connection would pin every request to one
replica with a per-connection proxy, and the point is that consecutive requests land on
different gateway processes. Bodies stream through chunk by chunk (SSE included). Every reply
carries `x-balancer-upstream: <index>` so a test can see which replica answered.

    python -m tests.round_robin_balancer --port 9300 --upstream http://127.0.0.1:9001 \
        --upstream http://127.0.0.1:9002
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Mapping

import aiohttp
from aiohttp import web

UPSTREAM_HEADER = "x-balancer-upstream"
# Per-hop headers (RFC 9110 section 7.6.1) and the ones aiohttp sets itself on each side.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def _forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP}


def build_app(upstreams: list[str]) -> web.Application:
    turn = itertools.cycle(range(len(upstreams)))
    app = web.Application(client_max_size=64 * 1024 * 1024)
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def open_session(app: web.Application) -> None:
        app[session_key] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            auto_decompress=False,  # bytes pass through as the replica encoded them
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close_session(app: web.Application) -> None:
        await app[session_key].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        index = next(turn)
        url = upstreams[index] + request.rel_url.raw_path_qs
        body = await request.read()
        async with app[session_key].request(
            request.method,
            url,
            headers=_forwarded(request.headers),
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        ) as upstream:
            reply = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            reply.headers.update(_forwarded(upstream.headers))
            reply.headers[UPSTREAM_HEADER] = str(index)
            await reply.prepare(request)
            async for chunk in upstream.content.iter_any():
                await reply.write(chunk)
            await reply.write_eof()
            return reply

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", action="append", required=True, help="base URL; repeat")
    args = parser.parse_args()
    upstreams = [u.rstrip("/") for u in args.upstream]
    web.run_app(build_app(upstreams), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
