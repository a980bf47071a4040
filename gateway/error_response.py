"""The one rendering of a `GatewayError` as an HTTP response: status, headers, body.

It lives here, below both `gateway.api` (the framework's exception handler) and the pure-ASGI
middleware, so an error answered before the app runs (a 413 from the body limit) looks exactly
like one raised inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.errors import GatewayError
from gateway.translate.messages_stream import anthropic_error

_encoder = msgspec.json.Encoder()

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class RenderedError:
    status: int
    headers: Headers
    body: bytes


def speaks_anthropic(path: str) -> bool:
    """Whether errors on `path` take Anthropic's shape (the Messages API's endpoints)."""
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def render_error_response(error: GatewayError, path: str = "") -> RenderedError:
    """The error body (OpenAI's, or Anthropic's on its endpoints) with the error's own
    headers (retry-after, x-should-retry, ...)."""
    if speaks_anthropic(path):
        body = _encoder.encode(anthropic_error(error.status_code, error.message)[1])
    else:
        body = error.body()
    headers: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *error.headers(),
    ]
    return RenderedError(error.status_code, headers, body)


async def send_error_response(send: Any, error: GatewayError, path: str = "") -> None:
    """Answer with `error` on a raw ASGI `send` (middleware that stops a request early)."""
    rendered = render_error_response(error, path)
    await send(
        {"type": "http.response.start", "status": rendered.status, "headers": rendered.headers}
    )
    await send({"type": "http.response.body", "body": rendered.body, "more_body": False})
