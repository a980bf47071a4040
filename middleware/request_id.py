"""Request id (inbound `X-Request-Id` kept, else generated; always returned as
`x-request-id`), the per-request context, and the headers read off it: the gateway's
overhead, the route taken, the rate-limit windows (`x-ratelimit-*`), the flagging policy
stages and the cache result (`x-gateway-cache`)."""

from __future__ import annotations

import os
import re
from typing import Any

from gateway.context import CONTEXT_SCOPE_KEY, REQUEST_ID, RequestContext
from gateway.quota.refusals import rate_limit_headers

_VALID_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_CACHE_VALUES = {v: v.encode() for v in ("hit", "semantic-hit", "miss", "bypass")}


class RequestIdMiddleware:
    def __init__(self, app: Any, *, overhead_header: bool = True) -> None:
        self.app = app
        self.overhead_header = overhead_header

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                # Echo a caller's id only if it is safe to put in logs and headers.
                if _VALID_ID.fullmatch(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = os.urandom(16).hex()  # a uuid4's randomness, without the object
        ctx = RequestContext(request_id=request_id, endpoint=scope["path"])
        scope[CONTEXT_SCOPE_KEY] = ctx
        id_header = (b"x-request-id", request_id.encode("ascii"))
        overhead_header = self.overhead_header

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append(id_header)
                if overhead_header:
                    overhead_ms = ctx.overhead_seconds() * 1000
                    headers.append((b"x-gateway-overhead-ms", f"{overhead_ms:.3f}".encode()))
                if ctx.model:
                    headers.extend(route_headers(ctx))
                if ctx.rate_limits is not None:
                    headers.extend(rate_limit_headers(ctx.rate_limits))
                if ctx.flags:
                    headers.append((b"x-gateway-flagged", ",".join(ctx.flags).encode()))
                if ctx.tool_runs:
                    runs = _header_safe(",".join(ctx.tool_runs), 4096)
                    headers.append((b"x-gateway-tools", runs))
                if ctx.cache_status is not None:
                    headers.append((b"x-gateway-cache", _CACHE_VALUES[ctx.cache_status]))
                message = {**message, "headers": headers}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def route_headers(ctx: RequestContext) -> list[tuple[bytes, bytes]]:
    """Where a model request went: the id asked for, the target that answered last
    (`<backend>/<upstream model>`) and the upstream calls made. Client-chosen text is
    reduced to header-safe bytes."""
    headers = [
        (b"x-gateway-route", _header_safe(ctx.model)),
        (b"x-gateway-attempts", str(ctx.attempts).encode()),
    ]
    if ctx.backend_name is not None:
        target = f"{ctx.backend_name}/{ctx.upstream_model or ''}"
        headers.append((b"x-gateway-target", _header_safe(target)))
    kind, _, label = ctx.route_reason.partition(":")
    if kind in ("intent", "complexity") and label:
        confidence = ctx.route_confidence or 0.0
        value = f"{label}; confidence={confidence:.2f}"
        headers.append((b"x-gateway-intent", _header_safe(value)))
    return headers


def _header_safe(value: str, limit: int = 256) -> bytes:
    return value.encode("ascii", "replace").translate(_UNSAFE)[:limit]


# Control characters (CR/LF included) would split or corrupt a header line.
_UNSAFE = bytes(range(256)).maketrans(bytes(range(32)) + b"\x7f", b"?" * 33)
