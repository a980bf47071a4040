"""Refusing an oversized request body so that the client can read the refusal.

A server that answers 413 and closes while the client is still sending leaves unread bytes in
the socket; the kernel then resets the connection, and the reset can destroy the response
before the client reads it (the client sees "connection reset", not 413). So the refusal first
reads and discards what the client is still sending, up to a bound in bytes and seconds, and
only then answers, with `connection: close`. Past the bound the client is abusive or too slow:
it is answered at once and may miss the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.errors import PayloadTooLargeError

# Four times the default body limit: room for honest mistakes, a bounded cost for abuse.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 10.0


def payload_too_large(limit: int) -> PayloadTooLargeError:
    error = PayloadTooLargeError(f"The request body exceeds the {limit}-byte limit.")
    # After a refusal the rest of the connection is not worth reading.
    error.extra_headers = (*error.extra_headers, (b"connection", b"close"))
    return error


def expects_continue(headers: list[tuple[bytes, bytes]]) -> bool:
    """With `expect: 100-continue` the client waits for a go-ahead before sending the body:
    answering at once sends nothing it must drain (and reading would invite the body)."""
    return any(name == b"expect" and value.lower() == b"100-continue" for name, value in headers)


async def drain_body(
    receive: Any, *, max_bytes: int = DRAIN_MAX_BYTES, max_seconds: float = DRAIN_MAX_SECONDS
) -> bool:
    """Read and discard the rest of the request body; whether it ended within the bounds."""
    seen = 0
    try:
        async with asyncio.timeout(max_seconds):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return False  # the client left: nobody to answer
                seen += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
                if seen > max_bytes:
                    return False
    except TimeoutError:
        return False
