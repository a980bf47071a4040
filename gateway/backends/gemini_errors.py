"""Google's error replies as the gateway's errors, in OpenAI shape.

Google answers `{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED",
"details": [...]}}` (a stream may wrap it in a list). The client keeps the status and gets
`{"error": {message, type, param, code}}` with Google's `status` in lower case as `code`;
`retry-after` comes from the header or else from a `google.rpc.RetryInfo` detail
(`"retryDelay": "7s"`), so retries and failover before the commit point behave as they do
for OpenAI upstreams. A rejected API key (HTTP 400 `API_KEY_INVALID`, 401, 403) is the
operator's problem: a 502 `upstream_auth_error`, as `upstream_errors.status_error` makes
it; a prompt longer than the model's window is `context_length_exceeded`, so the executor
moves on to a target with a larger one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aiohttp
import msgspec

from gateway.backends.upstream_errors import MAX_RETRY_AFTER, parse_retry_after, status_error
from gateway.errors import GatewayError, UpstreamAuthError, UpstreamStatusError

log = logging.getLogger("gateway.upstream")
_MAX_ERROR_BODY = 64 * 1024
_encoder = msgspec.json.Encoder()
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_KEY_REASONS = {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"}
_TOO_LONG = re.compile(r"input token count.*exceeds|exceeds the maximum number of tokens", re.I)
_TYPES = {429: "rate_limit_error", 401: "authentication_error", 403: "permission_error"}


class GeminiError(msgspec.Struct):
    """The parts of a Google error that decisions need."""

    status: int
    message: str
    code: str | None
    retry_after: float | None
    key_rejected: bool


def parse_error(data: bytes, status: int) -> GeminiError:
    """Google's error payload (`{"error": ...}` or `[{"error": ...}]`), whatever arrived."""
    try:
        parsed: Any = msgspec.json.decode(data) if data else None
    except (msgspec.DecodeError, RecursionError):
        parsed = None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        text = data[:300].decode("utf-8", "replace").strip()
        message = text if text and not text.startswith("<") else f"HTTP {status}"
        return GeminiError(status if status >= 400 else 502, message, None, None, False)
    code = error.get("code")
    if isinstance(code, int) and 400 <= code <= 599 and status < 400:
        status = code  # an error event in a stream carries its status only here
    name = error.get("status")
    message = str(error.get("message") or f"HTTP {status}")
    details = error.get("details")
    if not isinstance(details, list):
        details = []
    retry_after = None
    key_rejected = False
    for detail in details:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.RetryInfo"):
            retry_after = _delay(detail.get("retryDelay"))
        if kind.endswith("google.rpc.ErrorInfo") and detail.get("reason") in _KEY_REASONS:
            key_rejected = True
    if status < 400:
        status = 502  # an error event with no usable code: the upstream failed
    ours = name.lower() if isinstance(name, str) and name else None
    if _TOO_LONG.search(message):
        ours = "context_length_exceeded"
    return GeminiError(status, message, ours, retry_after, key_rejected)


def _delay(value: Any) -> float | None:
    """A protobuf Duration in JSON (`"7s"`, `"0.5s"`) in seconds, capped."""
    match = _DELAY.match(value) if isinstance(value, str) else None
    return min(MAX_RETRY_AFTER, float(match[1])) if match else None


def openai_body(error: GeminiError, backend: str) -> bytes:
    kind = _TYPES.get(error.status) or (
        "invalid_request_error" if error.status < 500 else "upstream_error"
    )
    return _encoder.encode(
        {
            "error": {
                "message": f"upstream `{backend}`: {error.message}",
                "type": kind,
                "param": None,
                "code": error.code,
            }
        }
    )


def as_gateway_error(error: GeminiError, backend: str, retry_after: float | None) -> GatewayError:
    if error.key_rejected:
        log.warning(
            "upstream rejected the gateway's credentials",
            extra={"backend": backend, "status": error.status, "body": error.message[:300]},
        )
        return UpstreamAuthError(
            f"upstream `{backend}` rejected the gateway's API key (HTTP {error.status}); "
            "the gateway's operator must fix its key for this backend"
        )
    upstream = UpstreamStatusError(
        error.status,
        openai_body(error, backend),
        f"upstream `{backend}` returned HTTP {error.status}: {error.message}",
        retry_after=retry_after if retry_after is not None else error.retry_after,
    )
    upstream.error_code = error.code
    return upstream


async def gemini_status_error(backend: str, response: aiohttp.ClientResponse) -> GatewayError:
    """The upstream's error reply (status >= 300) as the error the client will see."""
    status = response.status
    if status < 400 or status in (401, 403):
        return await status_error(backend, response)  # redirects and credentials: as ever
    data = bytearray()
    try:
        async with asyncio.timeout(5):
            while len(data) < _MAX_ERROR_BODY and (piece := await response.content.readany()):
                data += piece
    except (TimeoutError, aiohttp.ClientError):
        pass
    header = parse_retry_after(response.headers.get("retry-after"))
    return as_gateway_error(parse_error(bytes(data[:_MAX_ERROR_BODY]), status), backend, header)
