"""`POST /v1/chat/completions` and `POST /v1/completions`: HTTP in, pipeline, HTTP out.

Raw ASGI handlers, because the streaming contract needs what a framework response hides:
the commit point (headers go out only once the first chunk is in hand), keep-alive comments,
and cancelling upstream work the moment the client disconnects. Errors raised here are
rendered by the one exception handler (`gateway.api.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.handlers import ASGIRouteHandler, asgi

from gateway.api.decoding import decode_request
from gateway.api.exchange import exchange
from gateway.api.inbound import begin
from gateway.backends.base import Endpoint
from gateway.pipeline.pipeline import Pipeline
from gateway.settings.schema import Server


def completion_handlers(
    current: Callable[[], Pipeline],
    server: Server,
    deadline_seconds: Callable[[], float | None] = lambda: None,
) -> list[ASGIRouteHandler]:
    """`current` returns the live pipeline (a reload swaps it; a request keeps the one it
    started with)."""

    async def serve(endpoint: Endpoint, scope: Any, receive: Any, send: Any) -> None:
        started = await begin(scope, receive, server, endpoint, deadline_seconds())
        if started is None:
            return
        ctx, body = started
        parsed = decode_request(endpoint, body)
        await exchange(current(), parsed, ctx=ctx, receive=receive, send=send, server=server)

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
