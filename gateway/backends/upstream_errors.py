"""The one place where HTTP-client failures become `GatewayError`s.

Before the upstream's first byte a stall is a 504; an unreachable, refusing or resetting
upstream is a 502; an upstream's own error status is kept (status, OpenAI-shaped body,
`retry-after`), never turned into a 5xx of ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import msgspec

from gateway.errors import BadGatewayError, GatewayError, GatewayTimeoutError, UpstreamStatusError

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


async def status_error(backend: str, response: aiohttp.ClientResponse) -> UpstreamStatusError:
    """The upstream's error reply, kept in OpenAI shape whatever shape it arrived in."""
    try:
        async with asyncio.timeout(5):
            data = await response.content.read(_MAX_ERROR_BODY)
    except (TimeoutError, aiohttp.ClientError):
        data = b""
    status = response.status
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    body, message = openai_error_body(status, data, backend)
    return UpstreamStatusError(status, body, message, retry_after=retry_after)


def openai_error_body(status: int, data: bytes, backend: str) -> tuple[bytes, str]:
    """Normalise an upstream error payload to `{"error": {message, type, param, code}}`."""
    parsed: Any = None
    try:
        parsed = msgspec.json.decode(data) if data else None
    except msgspec.DecodeError:
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
    else:
        text = data[:300].decode("utf-8", "replace").strip()
        suffix = f": {text}" if text and not text.lstrip().startswith("<") else ""
        error = {"message": f"upstream `{backend}` returned HTTP {status}{suffix}"}
    error.setdefault("type", default_type)
    error.setdefault("param", None)
    error.setdefault("code", None)
    return _encoder.encode({"error": error}), error["message"]


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
