"""Google's Gemini API as a backend: chat completions in, `generateContent` out and back.

`POST {base_url}/{api_version}/models/{model}:generateContent` for a whole reply and
`:streamGenerateContent?alt=sse` for a stream, the key in `x-goog-api-key`. The request is
rebuilt (`gemini_convert`), the replies translated (`gemini_reply`), Google's errors mapped
(`gemini_errors`). Timeouts, pooling and failure mapping are those of `openai_compat`:
connect, first byte (a stall is a 504, before the commit point), idle between events (a
stall ends the stream); closing the stream iterator closes the upstream connection. A stream
that ends before every candidate has a `finishReason` is `upstream_stream_truncated`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.backends.gemini_convert import to_gemini
from gateway.backends.gemini_errors import as_gateway_error, gemini_status_error, parse_error
from gateway.backends.gemini_reply import StreamTranslator, chat_completion
from gateway.backends.http_pool import HTTPPool
from gateway.backends.registry import BackendType, BuildContext
from gateway.backends.sse_decoder import SSEDecoder
from gateway.backends.upstream_errors import malformed, upstream_errors
from gateway.errors import BadGatewayError, InvalidRequestError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import RawFields, raw
from gateway.settings.gemini_types import GeminiBackendSpec
from gateway.settings.upstream_types import Timeouts

_encoder = msgspec.json.Encoder()
_object = msgspec.json.Decoder(dict[str, Any])
_MAX_LISTING_PAGES = 20


class GeminiBackend:
    def __init__(
        self,
        name: str,
        spec: GeminiBackendSpec,
        timeouts: Timeouts,
        pool: HTTPPool,
        *,
        api_key: str | None,
        secret_headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._spec = spec
        # Chat only: Gemini has no text-completion or (here) embedding endpoint.
        base = Capabilities(completions=False, embeddings=False, fill_in_middle=False)
        declared = spec.capabilities
        self.capabilities = (
            base
            if declared is None
            else base.overridden(
                tools=declared.tools,
                json_schema=declared.json_schema,
                images=declared.images,
                context_tokens=declared.context_tokens,
            )
        )
        self._timeouts = timeouts
        self._pool = pool
        self._root = f"{spec.base_url.rstrip('/')}/{spec.api_version}"
        headers = {**spec.headers, **(secret_headers or {})}
        if api_key:
            headers["x-goog-api-key"] = api_key
        self._headers = headers
        self._safety = [msgspec.to_builtins(s) for s in spec.safety_settings]
        self._connect_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeouts.connect, connect=timeouts.connect
        )

    async def start(self) -> None:
        await self._pool.start()

    def ready(self) -> bool:
        return self._pool.ready()

    async def aclose(self) -> None:
        """The shared pool is closed by its owner (the container)."""

    def _url(self, model: str, method: str) -> str:
        # `gemini-2.5-flash`, `models/gemini-2.5-flash` or `tunedModels/my-model`.
        path = model if "/" in model else f"models/{model}"
        return f"{self._root}/{quote(path, safe='/')}:{method}"

    def _body(self, call: BackendCall) -> bytes:
        request = call.request
        if not isinstance(request, ChatCompletionRequest):
            raise InvalidRequestError(
                f"upstream `{self.name}` serves /v1/chat/completions only", param="model"
            )
        return _encoder.encode(to_gemini(request, call.fields, self._safety, call.upstream_model))

    async def complete(self, call: BackendCall) -> RawFields:
        body = self._body(call)
        url = self._url(call.upstream_model, "generateContent")
        started = time.perf_counter()
        try:
            with upstream_errors(self.name, "waiting for the reply"):
                async with asyncio.timeout(self._timeouts.first_byte) as deadline:
                    response = await self._post(url, body, call)
                    try:
                        if response.status >= 300:
                            raise await gemini_status_error(self.name, response)
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
        reply = self._decode(data, "a reply that is not a JSON object")
        if "error" in reply and "candidates" not in reply:
            raise as_gateway_error(parse_error(data, 502), self.name, None)
        return _fields(chat_completion(reply, call.upstream_model, self.name))

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
        body = self._body(call)
        url = self._url(call.upstream_model, "streamGenerateContent") + "?alt=sse"
        ctx = call.ctx
        translator = StreamTranslator(call.upstream_model)
        waited_from = time.perf_counter()
        response: aiohttp.ClientResponse | None = None
        # The first event, not just the headers, must arrive within `first_byte`.
        deadline: float | None = _after(self._timeouts.first_byte)
        try:
            with upstream_errors(self.name, "before the first byte"):
                async with asyncio.timeout_at(deadline):
                    response = await self._post(url, body, call)
                    if response.status >= 300:
                        raise await gemini_status_error(self.name, response)
                    ctype = response.headers.get("content-type", "")
                    if not ctype.startswith("text/event-stream"):
                        raise malformed(self.name, f"`{ctype or 'no content type'}` to a stream")
            decoder = SSEDecoder(max_event_bytes=self._spec.max_reply_bytes)
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
                    event = self._decode(data, "a stream event that is not a JSON object")
                    if "error" in event and "candidates" not in event:
                        raise as_gateway_error(parse_error(data, 0), self.name, None)
                    for chunk in translator.feed(event):
                        deadline = None
                        yield _fields(chunk)
                if not piece:
                    if not translator.complete:
                        raise BadGatewayError(
                            f"upstream `{self.name}` closed the stream before it finished",
                            code="upstream_stream_truncated",
                        )
                    usage = translator.usage_chunk()
                    if usage is not None:
                        yield _fields(usage)
                    return
                waited_from = time.perf_counter()
        finally:
            if response is not None:
                # close(), not release(): an unfinished stream must not go back to the pool,
                # and closing the connection is what tells the upstream to stop generating.
                response.close()

    def _decode(self, data: bytes, what: str) -> dict[str, Any]:
        try:
            return _object.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise malformed(self.name, what) from None

    async def _post(self, url: str, body: bytes, call: BackendCall) -> aiohttp.ClientResponse:
        headers = self._headers
        if call.extra_headers:
            headers = {**headers, **call.extra_headers}
        payload = aiohttp.BytesPayload(body, content_type="application/json")
        # Redirects are not followed: the key header is for this origin only.
        return await self._pool.session.post(
            url,
            data=payload,
            headers=headers,
            timeout=self._connect_timeout,
            allow_redirects=False,
        )

    async def list_models(self) -> list[str]:
        """The models that serve `generateContent` (off the hot path, so httpx)."""
        timeout = httpx.Timeout(
            min(10.0, self._timeouts.first_byte), connect=self._timeouts.connect
        )
        names: list[str] = []
        token: str | None = None
        try:
            async with httpx.AsyncClient(timeout=timeout, headers=self._headers) as client:
                for _ in range(_MAX_LISTING_PAGES):
                    params = {"pageSize": "1000", **({"pageToken": token} if token else {})}
                    response = await client.get(f"{self._root}/models", params=params)
                    if response.status_code >= 400:
                        raise BadGatewayError(
                            f"upstream `{self.name}` answered HTTP {response.status_code} "
                            "to GET /models"
                        )
                    page = self._decode(response.content, "a model list that is not JSON")
                    names.extend(_chat_models(page))
                    token = page.get("nextPageToken") or None
                    if not isinstance(token, str):
                        break
        except httpx.HTTPError as exc:
            raise BadGatewayError(
                f"cannot list the models of upstream `{self.name}`: {type(exc).__name__}"
            ) from exc
        return names


def _chat_models(page: dict[str, Any]) -> list[str]:
    models = page.get("models")
    names = []
    for model in models if isinstance(models, list) else []:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            continue
        methods = model.get("supportedGenerationMethods")
        if isinstance(methods, list) and "generateContent" not in methods:
            continue  # embedding-only and other non-chat models
        names.append(model["name"].removeprefix("models/"))
    return names


def _fields(value: dict[str, Any]) -> RawFields:
    return {key: raw(item) for key, item in value.items()}


def _after(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


def build(spec: GeminiBackendSpec, ctx: BuildContext) -> GeminiBackend:
    key = ctx.secret(spec.api_key_env, "api_key_env")
    secret_headers: dict[str, str] = {}
    for header, variable in spec.headers_env.items():
        value = ctx.secret(variable, f"headers_env.{header}")
        if value:
            secret_headers[header] = value
    return GeminiBackend(
        ctx.name,
        spec,
        ctx.timeouts(spec.timeouts),
        ctx.pool,
        api_key=key,
        secret_headers=secret_headers,
    )


BACKEND_TYPE = BackendType(GeminiBackendSpec, build, lambda spec: bool(spec.discover_models))
