"""Refuse request bodies whose declared length is over the limit with 413, without buffering
them: the body is read and discarded (bounded) before answering, so the client, still sending,
reads the 413 instead of a connection reset (see `gateway.body_drain`). Chunked bodies have no
declared length; the handler's body reader enforces the limit on them the same way."""

from __future__ import annotations

from typing import Any

from gateway.body_drain import (
    DRAIN_MAX_BYTES,
    DRAIN_MAX_SECONDS,
    drain_body,
    expects_continue,
    payload_too_large,
)
from gateway.error_response import send_error_response


class BodyLimitMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        max_bytes: int,
        drain_max_bytes: int = DRAIN_MAX_BYTES,
        drain_max_seconds: float = DRAIN_MAX_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_max_bytes = drain_max_bytes
        self.drain_max_seconds = drain_max_seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._refuse(scope, receive, send, declared)
                    return
                break
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any, declared: int) -> None:
        # A body larger than the drain bound would be cut off anyway: don't read any of it.
        if declared <= self.drain_max_bytes and not expects_continue(scope["headers"]):
            await drain_body(
                receive, max_bytes=self.drain_max_bytes, max_seconds=self.drain_max_seconds
            )
        await send_error_response(send, payload_too_large(self.max_bytes), scope["path"])
