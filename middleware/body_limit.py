"""Reject request bodies over the limit with 413 before they are buffered."""

from __future__ import annotations

from typing import Any

from gateway.errors import PayloadTooLargeError


class BodyLimitMiddleware:
    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
                    await _reject(send, self.max_bytes)
                    return
                break
        await self.app(scope, receive, send)


async def _reject(send: Any, limit: int) -> None:
    error = PayloadTooLargeError(f"The request body exceeds the {limit}-byte limit.")
    headers = [(b"content-type", b"application/json"), (b"connection", b"close"), *error.headers()]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": error.body(), "more_body": False})
