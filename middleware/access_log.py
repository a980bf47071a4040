"""One structured JSON line per request, and the request metrics. Never logs bodies or
headers, so no key or prompt can leak into the log. Lines are written by a background thread
(`BackgroundWriter`): the request path only encodes and enqueues."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO

import msgspec

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from middleware.background_writer import BackgroundWriter

Observer = Callable[[str, int, float, RequestContext | None], None]
# Text a log line may carry: credentials replaced (`gateway.observability.log_redaction`).
Redact = Callable[[str], str]
# How much of a body `log_bodies` keeps.
MAX_LOGGED_BODY = 8192
# nginx's convention for "the client closed the connection before the response".
CLIENT_CLOSED = 499


class AccessLogMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        observe: Observer | None = None,
        enabled: bool = True,
        writer: BackgroundWriter | None = None,
        stream: BinaryIO | None = None,
        redact: Redact | None = None,
        log_bodies: Redact | None = None,
    ) -> None:
        """Pass the `writer` whose `aclose()` the app's shutdown runs, or else a `stream`
        (stderr by default) and close `self.writer` yourself. With `redact`, the model name
        (a client's text) goes through it; with `log_bodies`, the start of each request body
        is logged after going through that."""
        self.app = app
        self.observe = observe
        self.enabled = enabled
        self.redact = redact
        self.log_bodies = log_bodies if enabled else None
        self.writer = writer or BackgroundWriter(stream or sys.stderr.buffer, name="access-log")
        self._encoder = msgspec.json.Encoder()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if self.log_bodies is not None:
            receive = _BodyTap(scope, receive)
        ctx = scope.get(CONTEXT_SCOPE_KEY)
        if isinstance(ctx, RequestContext):
            # The request-id middleware (outside this one) notes the status as it goes out:
            # no wrapper of our own around every message.
            try:
                await self.app(scope, receive, send)
            finally:
                self._record(scope, ctx.status, time.perf_counter() - started)
            return
        status = [0]

        async def send_capturing(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_capturing)
        finally:
            self._record(scope, status[0], time.perf_counter() - started)

    def _record(self, scope: Any, status: int, seconds: float) -> None:
        ctx = scope.get(CONTEXT_SCOPE_KEY)
        ctx = ctx if isinstance(ctx, RequestContext) else None
        if ctx is not None and ctx.client_disconnected:
            status = CLIENT_CLOSED
        # Litestar records the matched route's template; requests answered before routing
        # (a 413 from the body limit, a 404) are labelled from the path.
        route = scope.get("path_template") or _route_of(scope["path"])
        if self.observe is not None:
            self.observe(route, status or 500, seconds, ctx)
        if not self.enabled:
            return
        entry: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "event": "request",
            "method": scope["method"],
            "path": scope["path"],
            "status": status or 500,
            "ms": round(seconds * 1000, 3),
        }
        if ctx is not None:
            entry["request_id"] = ctx.request_id
            entry["overhead_ms"] = round(max(0.0, seconds - ctx.backend_seconds) * 1000, 3)
            if ctx.model:
                entry["model"] = ctx.model if self.redact is None else self.redact(ctx.model)
            if ctx.backend_name:
                entry["backend"] = ctx.backend_name
            if ctx.attempts > 1:
                entry["attempts"] = ctx.attempts
            if ctx.usage is not None:
                entry["prompt_tokens"] = ctx.usage.prompt_tokens
                entry["completion_tokens"] = ctx.usage.completion_tokens
        body = scope.get(_BODY_KEY) if self.log_bodies is not None else None
        if body and self.log_bodies is not None:
            text = bytes(body[:MAX_LOGGED_BODY]).decode("utf-8", "replace")
            entry["body"] = self.log_bodies(text)
            if len(body) > MAX_LOGGED_BODY:
                entry["body_truncated"] = True
        self.writer.write(self._encoder.encode(entry) + b"\n")


_BODY_KEY = "gateway.logged_body"


class _BodyTap:
    """`receive`, keeping the start of the body in the scope for the log line."""

    __slots__ = ("_body", "_receive")

    def __init__(self, scope: Any, receive: Any) -> None:
        self._receive = receive
        self._body = scope[_BODY_KEY] = bytearray()

    async def __call__(self) -> Any:
        message = await self._receive()
        if message["type"] == "http.request" and len(self._body) <= MAX_LOGGED_BODY:
            self._body += message.get("body", b"")[: MAX_LOGGED_BODY + 1 - len(self._body)]
        return message


_KNOWN_ROUTES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
    "/healthz",
    "/readyz",
    "/metrics",
)


def _route_of(path: str) -> str:
    """A bounded label for metrics: known routes by name, everything else as `other`."""
    if path in _KNOWN_ROUTES:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{model_id}"  # the label Litestar's route template gives
    return "other"
