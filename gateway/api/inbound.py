"""What every model endpoint does before its pipeline call, whatever API it speaks: the
method and content type, the body (bounded in size and time), and the request context's
scheduling fields from the headers (priority, deadline, cache directives)."""

from __future__ import annotations

import math
import time
from typing import Any

from gateway.api.asgi_io import ClientGone, read_body
from gateway.api.cache_headers import cache_directives
from gateway.api.decoding import check_content_type
from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from gateway.errors import MethodNotAllowedError
from gateway.settings.schema import Server


def context_of(scope: dict[str, Any], endpoint: str) -> RequestContext:
    ctx = scope.get(CONTEXT_SCOPE_KEY)
    if not isinstance(ctx, RequestContext):
        ctx = RequestContext(request_id="", endpoint=endpoint)
        scope[CONTEXT_SCOPE_KEY] = ctx
    return ctx


async def begin(
    scope: Any,
    receive: Any,
    server: Server,
    endpoint: str,
    deadline_seconds: float | None,
) -> tuple[RequestContext, bytes] | None:
    """The context and body of a POST to a model endpoint; None when the client left
    before its body arrived (nobody to answer)."""
    if scope["method"] != "POST":
        raise MethodNotAllowedError(f"Use POST for {scope['path']}.", allow="POST")
    check_content_type(scope["headers"])
    ctx = context_of(scope, endpoint)
    try:
        body = await read_body(receive, server.max_body_bytes, server.body_timeout_seconds)
    except ClientGone:
        ctx.client_disconnected = True
        return None
    headers = scope["headers"]
    asked = _priority(headers)
    if asked is not None:
        # A key's priority is a floor: the header may only make a request wait longer.
        ctx.priority = max(ctx.priority, asked)
    ctx.deadline = _deadline(headers, deadline_seconds)
    cache_directives(headers, ctx)
    return ctx, body


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
