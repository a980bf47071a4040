"""Any OpenAI-compatible upstream (OpenAI, vLLM, llama-server, Ollama, LM Studio, ...).

Requests pass through as raw fields: only `model` (set by the pipeline) and, for metering,
`stream_options` are re-encoded. Every call is bounded by the backend's timeouts: connect,
first byte (a stall here is a 504) and idle between chunks (a stall here ends the stream).
Closing the stream iterator (a client disconnect cancels it) closes the upstream connection.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx
import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.backends.http_pool import HTTPPool
from gateway.backends.upstream_errors import (
    error_event_body,
    malformed,
    status_error,
)
from gateway.backends.upstream_http import UpstreamHTTP, with_extra
from gateway.errors import BadGatewayError, UpstreamStatusError
from gateway.protocol.raw import RawFields, decode_fields, encode_fields, raw
from gateway.settings.backend_types import OpenAIBackendSpec
from gateway.settings.upstream_types import Timeouts

_DONE = b"[DONE]"
_FINISH_MARK = re.compile(rb'"finish_reason"\s*:\s*"')
_options_decoder = msgspec.json.Decoder(dict[str, Any])


class UpstreamStreamError(UpstreamStatusError):
    """The upstream sent `data: {"error": ...}` after streaming began."""


class OpenAICompatBackend:
    def __init__(
        self,
        name: str,
        spec: OpenAIBackendSpec,
        timeouts: Timeouts,
        pool: HTTPPool,
        *,
        api_key: str | None,
        secret_headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._spec = spec
        self.capabilities = Capabilities().declared(spec.capabilities)
        self._timeouts = timeouts
        self._pool = pool
        self._base_url = spec.base_url.rstrip("/")
        headers = {**spec.headers, **(secret_headers or {})}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self._http = UpstreamHTTP(
            name, pool, timeouts, spec.max_reply_bytes, lambda r: status_error(name, r)
        )

    async def start(self) -> None:
        await self._pool.start()

    def ready(self) -> bool:
        return self._pool.ready()

    async def aclose(self) -> None:
        """The shared pool is closed by its owner (the container)."""

    async def complete(self, call: BackendCall) -> RawFields:
        url = f"{self._base_url}/{call.endpoint}"
        headers = with_extra(self._headers, call.extra_headers)
        data = await self._http.reply(url, encode_fields(call.fields), headers, call.ctx)
        try:
            return decode_fields(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise malformed(self.name, "a reply that is not a complete JSON object") from None

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        url = f"{self._base_url}/{call.endpoint}"
        fields = call.fields
        if self._spec.request_stream_usage and not call.client_wants_usage:
            fields = {**fields, "stream_options": _with_usage(fields.get("stream_options"))}
        headers = with_extra(self._headers, call.extra_headers)
        finished = False
        events = self._http.events(url, encode_fields(fields), headers, call.ctx)
        async with aclosing(events):
            async for data in events:
                if data == _DONE:
                    return
                finished = finished or _FINISH_MARK.search(data) is not None
                yield self._decode_event(data)
        if not finished:
            raise BadGatewayError(
                f"upstream `{self.name}` closed the stream before it finished",
                code="upstream_stream_truncated",
            )
        # Some servers end after the last chunk without `[DONE]`.

    def _decode_event(self, data: bytes) -> RawFields:
        try:
            fields = decode_fields(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise malformed(self.name, "a stream event that is not a JSON object") from None
        if "error" in fields and "choices" not in fields:
            raise UpstreamStreamError(
                502,
                error_event_body(bytes(fields["error"]), self.name),
                f"upstream `{self.name}` reported an error mid-stream",
            )
        return fields

    async def list_models(self) -> list[str]:
        """Model ids the upstream lists (off the hot path, so httpx)."""
        headers = dict(self._headers)
        # Listing is quick; never hold a client's request for a model-generation timeout.
        timeout = httpx.Timeout(
            min(10.0, self._timeouts.first_byte), connect=self._timeouts.connect
        )
        try:
            async with httpx.AsyncClient(timeout=timeout, headers=headers) as client:
                response = await client.get(f"{self._base_url}/models")
        except httpx.HTTPError as exc:
            raise BadGatewayError(
                f"cannot list the models of upstream `{self.name}`: {type(exc).__name__}"
            ) from exc
        if response.status_code >= 400:
            raise BadGatewayError(
                f"upstream `{self.name}` answered HTTP {response.status_code} to GET /models"
            )
        try:
            listing = msgspec.json.decode(response.content, type=_ModelListing)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise malformed(self.name, "a model list that is not OpenAI-shaped") from exc
        return [entry.id for entry in listing.data]


class _ModelEntry(msgspec.Struct):
    id: str


class _ModelListing(msgspec.Struct):
    data: list[_ModelEntry]


def _with_usage(options: msgspec.Raw | None) -> msgspec.Raw:
    """The client's `stream_options` with `include_usage` on, its other keys kept."""
    current: dict[str, Any] = {}
    if options is not None:
        try:
            current = _options_decoder.decode(options)
        except (msgspec.DecodeError, msgspec.ValidationError):
            current = {}
    return raw({**current, "include_usage": True})
