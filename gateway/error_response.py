"""The one rendering of a `GatewayError` as an HTTP response: status, headers, body.

It lives here, below both `gateway.api` (the framework's exception handler) and the pure-ASGI
middleware, so an error answered before the app runs (a 413 from the body limit) looks exactly
like one raised inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class RenderedError:
    status: int
    headers: Headers
    body: bytes


def render_error_response(error: GatewayError) -> RenderedError:
    """The OpenAI error body with the error's own headers (retry-after, x-should-retry, ...)."""
    body = error.body()
    headers: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *error.headers(),
    ]
    return RenderedError(error.status_code, headers, body)


async def send_error_response(send: Any, error: GatewayError) -> None:
    """Answer with `error` on a raw ASGI `send` (middleware that stops a request early)."""
    rendered = render_error_response(error)
    await send(
        {"type": "http.response.start", "status": rendered.status, "headers": rendered.headers}
    )
    await send({"type": "http.response.body", "body": rendered.body, "more_body": False})
