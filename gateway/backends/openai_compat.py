"""Any OpenAI-compatible upstream (OpenAI, vLLM, llama-server, Ollama, LM Studio, ...).

Requests pass through as raw fields: only `model` (set by the pipeline) and, for metering,
`stream_options` are re-encoded. Every call is bounded by the backend's timeouts: connect,
first byte (a stall here is a 504) and idle between chunks (a stall here ends the stream).
Closing the stream iterator (a client disconnect cancels it) closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import httpx
import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.backends.http_pool import HTTPPool
from gateway.backends.sse_decoder import SSEDecoder
from gateway.backends.upstream_errors import (
    error_event_body,
    malformed,
    status_error,
    upstream_errors,
)
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
        declared = spec.capabilities
        self.capabilities = (
            Capabilities()
            if declared is None
            else Capabilities().overridden(
                tools=declared.tools,
                json_schema=declared.json_schema,
                images=declared.images,
                context_tokens=declared.context_tokens,
            )
        )
        self._timeouts = timeouts
        self._pool = pool
        self._base_url = spec.base_url.rstrip("/")
        headers = {**spec.headers, **(secret_headers or {})}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self._connect_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeouts.connect, connect=timeouts.connect
        )

    async def start(self) -> None:
        await self._pool.start()

    def ready(self) -> bool:
        return self._pool.ready()

    async def aclose(self) -> None:
        """The shared pool is closed by its owner (the container)."""

    async def complete(self, call: BackendCall) -> RawFields:
        url = f"{self._base_url}/{call.endpoint}"
        body = encode_fields(call.fields)
        started = time.perf_counter()
        try:
            with upstream_errors(self.name, "waiting for the reply"):
                async with asyncio.timeout(self._timeouts.first_byte) as deadline:
                    response = await self._post(url, body, call)
                    try:
                        if response.status >= 300:
                            raise await status_error(self.name, response)
                        deadline.reschedule(_after(self._timeouts.idle))
                        data = await self._read_capped(response)
                    except BaseException:
                        # A half-read reply must not go back to the pool; closing the
                        # connection is also what stops the upstream's work on a disconnect.
                        response.close()
                        raise
                    response.release()
        finally:
            call.ctx.backend_seconds += time.perf_counter() - started
        try:
            return decode_fields(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise malformed(self.name, "a reply that is not a complete JSON object") from None

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._spec.max_reply_bytes
        if (response.content_length or 0) > limit:
            raise malformed(self.name, f"a reply over the {limit}-byte limit")
        data = bytearray()
        while piece := await response.content.readany():
            data += piece
            if len(data) > limit:
                raise malformed(self.name, f"a reply over the {limit}-byte limit")
        return bytes(data)

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        url = f"{self._base_url}/{call.endpoint}"
        fields = call.fields
        if self._spec.request_stream_usage and not call.client_wants_usage:
            fields = {**fields, "stream_options": _with_usage(fields.get("stream_options"))}
        body = encode_fields(fields)
        ctx = call.ctx
        waited_from = time.perf_counter()
        response: aiohttp.ClientResponse | None = None
        # The first event, not just the headers, must arrive within `first_byte`.
        deadline: float | None = _after(self._timeouts.first_byte)
        try:
            with upstream_errors(self.name, "before the first byte"):
                async with asyncio.timeout_at(deadline):
                    response = await self._post(url, body, call)
                    if response.status >= 300:
                        raise await status_error(self.name, response)
                    ctype = response.headers.get("content-type", "")
                    if not ctype.startswith("text/event-stream"):
                        raise malformed(self.name, f"`{ctype or 'no content type'}` to a stream")
            decoder = SSEDecoder(max_event_bytes=self._spec.max_reply_bytes)
            finished = False
            reader = response.content
            idle = self._timeouts.idle
            while True:
                phase = "before the first byte" if deadline else "between stream chunks"
                with upstream_errors(self.name, phase):
                    async with asyncio.timeout_at(deadline or _after(idle)):
                        piece = await reader.readany()
                ctx.backend_seconds += time.perf_counter() - waited_from
                with upstream_errors(self.name, "between stream chunks"):
                    events = decoder.feed(piece) if piece else decoder.finish()
                for data in events:
                    if data == _DONE:
                        return
                    deadline = None
                    finished = finished or _FINISH_MARK.search(data) is not None
                    yield self._decode_event(data)
                if not piece:
                    if finished:
                        return  # some servers end after the last chunk without `[DONE]`
                    raise BadGatewayError(
                        f"upstream `{self.name}` closed the stream before it finished",
                        code="upstream_stream_truncated",
                    )
                waited_from = time.perf_counter()
        finally:
            if response is not None:
                # close(), not release(): an unfinished stream must not go back to the pool,
                # and closing the connection is what tells the upstream to stop generating.
                response.close()

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

    async def _post(self, url: str, body: bytes, call: BackendCall) -> aiohttp.ClientResponse:
        headers = self._headers
        if call.extra_headers:
            headers = {**headers, **call.extra_headers}
        # A ready-made payload skips aiohttp's per-request payload-type lookup.
        payload = aiohttp.BytesPayload(body, content_type="application/json")
        # Redirects are not followed: configured headers may hold secrets for this origin only.
        return await self._pool.session.post(
            url,
            data=payload,
            headers=headers,
            timeout=self._connect_timeout,
            allow_redirects=False,
        )

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


def _after(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds
