"""The one place where HTTP-client failures become `GatewayError`s.

Before the upstream's first byte a stall is a 504; an unreachable, refusing or resetting
upstream is a 502; an upstream's own error status is kept (status, OpenAI-shaped body,
`retry-after`), never turned into a 5xx of ours.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import msgspec

from gateway.backends.sse_decoder import EventTooLarge
from gateway.errors import (
    BadGatewayError,
    GatewayError,
    GatewayTimeoutError,
    UpstreamAuthError,
    UpstreamStatusError,
)

log = logging.getLogger("gateway.upstream")
_MAX_ERROR_BODY = 64 * 1024
_encoder = msgspec.json.Encoder()


@contextmanager
def upstream_errors(backend: str, phase: str) -> Iterator[None]:
    """Translate client exceptions raised while talking to `backend` during `phase`."""
    try:
        yield
    except GatewayError:
        raise
    except TimeoutError as exc:
        raise GatewayTimeoutError(f"upstream `{backend}` did not answer in time ({phase})") from exc
    except aiohttp.ClientConnectorError as exc:
        raise BadGatewayError(
            f"upstream `{backend}` is unreachable: {exc.os_error.strerror or exc.os_error}",
            code="upstream_unreachable",
        ) from exc
    except aiohttp.ServerTimeoutError as exc:
        raise GatewayTimeoutError(f"upstream `{backend}` timed out ({phase})") from exc
    except EventTooLarge as exc:
        raise malformed(backend, f"a stream event that is too large ({exc})") from exc
    except aiohttp.ClientPayloadError as exc:
        raise BadGatewayError(
            f"upstream `{backend}` sent an incomplete reply ({phase})", code="upstream_truncated"
        ) from exc
    except (aiohttp.ClientError, ConnectionError, OSError) as exc:
        raise BadGatewayError(
            f"upstream `{backend}` failed ({phase}): {type(exc).__name__}",
            code="upstream_connection_error",
        ) from exc


def malformed(backend: str, what: str) -> BadGatewayError:
    return BadGatewayError(f"upstream `{backend}` sent {what}", code="upstream_malformed")


async def status_error(backend: str, response: aiohttp.ClientResponse) -> GatewayError:
    """The upstream's error reply, kept in OpenAI shape whatever shape it arrived in.

    An upstream 401/403 is about the gateway's own credentials, not the client's: it becomes
    a 502 `upstream_auth_error` naming the backend (the next target may still serve), and
    the upstream's message (which can quote part of the operator's key) is only logged."""
    data = bytearray()
    try:
        async with asyncio.timeout(5):
            while len(data) < _MAX_ERROR_BODY and (piece := await response.content.readany()):
                data += piece
    except (TimeoutError, aiohttp.ClientError):
        pass
    status = response.status
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if 300 <= status < 400:
        return UpstreamStatusError(
            502,
            *openai_error_body(
                502,
                b"",
                backend,
                f"upstream `{backend}` redirected ({status}); point base_url at the final address",
            ),
        )
    if status in (401, 403):
        log.warning(
            "upstream rejected the gateway's credentials",
            extra={
                "backend": backend,
                "status": status,
                "body": bytes(data[:300]).decode("utf-8", "replace"),
            },
        )
        return UpstreamAuthError(
            f"upstream `{backend}` rejected the gateway's credentials (HTTP {status}); "
            "the gateway's operator must fix its key for this backend"
        )
    body, message = openai_error_body(status, bytes(data[:_MAX_ERROR_BODY]), backend)
    error = UpstreamStatusError(status, body, message, retry_after=retry_after)
    # The upstream's own code, for decisions (a `context_length_exceeded` fails over to a
    # target with a larger window); the body the client gets stays the upstream's.
    error.error_code = _code_of(body)
    return error


def _code_of(body: bytes) -> str | None:
    try:
        code = msgspec.json.decode(body).get("error", {}).get("code")
    except (msgspec.DecodeError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def openai_error_body(
    status: int, data: bytes, backend: str, fallback: str | None = None
) -> tuple[bytes, str]:
    """Normalise an upstream error payload to `{"error": {message, type, param, code}}`."""
    parsed: Any = None
    try:
        parsed = msgspec.json.decode(data) if data else None
    except (msgspec.DecodeError, RecursionError):
        parsed = None
    default_type = "invalid_request_error" if status < 500 else "upstream_error"
    error: dict[str, Any]
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        error = dict(parsed["error"])
        error["message"] = str(error.get("message") or f"upstream returned HTTP {status}")
    elif isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        error = {"message": parsed["error"]}
    elif isinstance(parsed, dict) and "detail" in parsed:
        error = {"message": str(parsed["detail"])}
    elif isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        error = {"message": parsed["message"]}
    elif fallback is not None:
        error = {"message": fallback}
    else:
        text = data[:300].decode("utf-8", "replace").strip()
        suffix = f": {text}" if text and not text.lstrip().startswith("<") else ""
        error = {"message": f"upstream `{backend}` returned HTTP {status}{suffix}"}
    error["type"] = str(error.get("type") or default_type)
    for key in ("param", "code"):
        value = error.get(key)
        # Some servers send integer codes; the OpenAI shape has a string or null.
        error[key] = None if value is None else str(value)
    return _encoder.encode({"error": error}), error["message"]


def error_event_body(raw_error: bytes, backend: str) -> bytes:
    """An upstream's in-stream `{"error": ...}` object, in OpenAI shape."""
    return openai_error_body(
        502,
        b'{"error":' + raw_error + b"}",
        backend,
        f"upstream `{backend}` reported an error mid-stream",
    )[0]


MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `retry-after` header (delta or HTTP date), capped; None if unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(MAX_RETRY_AFTER, max(0.0, seconds)) if math.isfinite(seconds) else None
    try:
        from datetime import UTC, datetime

        when = parsedate_to_datetime(value)
        return min(MAX_RETRY_AFTER, max(0.0, (when - datetime.now(UTC)).total_seconds()))
    except (TypeError, ValueError):
        return None
