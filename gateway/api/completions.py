"""`POST /v1/chat/completions` and `POST /v1/completions`: HTTP in, pipeline, HTTP out.

Raw ASGI handlers, because the streaming contract needs what a framework response hides:
the commit point (headers go out only once the first chunk is in hand), keep-alive comments,
and cancelling upstream work the moment the client disconnects. Errors raised here are
rendered by the one exception handler (`gateway.api.errors`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from litestar.handlers import ASGIRouteHandler, asgi

from gateway.api.asgi_io import ClientGone, DisconnectWatch, read_body, send_bytes, send_sse
from gateway.api.cache_headers import cache_directives
from gateway.api.decoding import check_content_type, decode_request
from gateway.api.sse import sse_frames
from gateway.backends.base import Endpoint
from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from gateway.errors import MethodNotAllowedError
from gateway.pipeline.pipeline import Pipeline
from gateway.settings.schema import Server


def context_of(scope: dict[str, Any], endpoint: str) -> RequestContext:
    ctx = scope.get(CONTEXT_SCOPE_KEY)
    if not isinstance(ctx, RequestContext):
        ctx = RequestContext(request_id="", endpoint=endpoint)
        scope[CONTEXT_SCOPE_KEY] = ctx
    return ctx


def completion_handlers(
    current: Callable[[], Pipeline],
    server: Server,
    deadline_seconds: Callable[[], float | None] = lambda: None,
) -> list[ASGIRouteHandler]:
    """`current` returns the live pipeline (a reload swaps it; a request keeps the one it
    started with)."""

    async def serve(endpoint: Endpoint, scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] != "POST":
            raise MethodNotAllowedError(f"Use POST for /v1/{endpoint}.", allow="POST")
        check_content_type(scope["headers"])
        ctx = context_of(scope, endpoint)
        try:
            body = await read_body(receive, server.max_body_bytes, server.body_timeout_seconds)
        except ClientGone:
            ctx.client_disconnected = True
            return
        parsed = decode_request(endpoint, body)
        headers = scope["headers"]
        asked = _priority(headers)
        if asked is not None:
            # A key's priority is a floor: the header may only make a request wait longer.
            ctx.priority = max(ctx.priority, asked)
        ctx.deadline = _deadline(headers, deadline_seconds())
        cache_directives(headers, ctx)
        pipeline = current()
        async with DisconnectWatch(receive) as watch:
            if parsed.is_stream:
                chunks = await pipeline.stream(parsed, ctx)
                try:
                    await send_sse(
                        send, sse_frames(chunks), server.sse_keepalive_seconds, watch.finishing
                    )
                finally:
                    # Also when the frames never started (the response could not begin).
                    await chunks.aclose()
            else:
                reply = await pipeline.complete(parsed, ctx)
                watch.finishing()
                await send_bytes(send, 200, reply.encode())
        if watch.disconnected:
            ctx.client_disconnected = True

    @asgi("/v1/chat/completions", copy_scope=False)
    async def chat_completions(scope: Any, receive: Any, send: Any) -> None:
        await serve("chat/completions", scope, receive, send)

    @asgi("/v1/completions", copy_scope=False)
    async def completions(scope: Any, receive: Any, send: Any) -> None:
        await serve("completions", scope, receive, send)

    @asgi("/v1/embeddings", copy_scope=False)
    async def embeddings(scope: Any, receive: Any, send: Any) -> None:
        await serve("embeddings", scope, receive, send)

    return [chat_completions, completions, embeddings]


def _priority(headers: list[tuple[bytes, bytes]]) -> int | None:
    """`x-priority: <int>` (lower runs sooner at a busy local model); clamped to -10..10."""
    for name, value in headers:
        if name == b"x-priority":
            try:
                return max(-10, min(10, int(value)))
            except ValueError:
                return None
    return None


# The OpenAI SDKs send their own timeout: past it nobody waits for the answer any more.
_CLIENT_TIMEOUT = b"x-stainless-read-timeout"


def _deadline(headers: list[tuple[bytes, bytes]], configured: float | None) -> float | None:
    """When the reply must have committed: the configured budget or the client's own
    (shorter) timeout, as `time.monotonic()`; None when neither is set."""
    budget = configured
    for name, value in headers:
        if name == _CLIENT_TIMEOUT:
            try:
                client = float(value)
            except ValueError:
                break
            if math.isfinite(client) and client > 0:
                budget = client if budget is None else min(budget, client)
            break
    return None if budget is None else time.monotonic() + budget
