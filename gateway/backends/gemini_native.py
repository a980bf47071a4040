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

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from gateway.backends.base import BackendCall, Capabilities
from gateway.backends.gemini_convert import to_gemini
from gateway.backends.gemini_errors import as_gateway_error, gemini_status_error, parse_error
from gateway.backends.gemini_reply import StreamTranslator, chat_completion
from gateway.backends.http_pool import HTTPPool
from gateway.backends.registry import BackendType, BuildContext
from gateway.backends.upstream_errors import malformed
from gateway.backends.upstream_http import UpstreamHTTP, with_extra
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
        self.capabilities = base.declared(spec.capabilities)
        self._timeouts = timeouts
        self._pool = pool
        self._root = f"{spec.base_url.rstrip('/')}/{spec.api_version}"
        headers = {**spec.headers, **(secret_headers or {})}
        if api_key:
            headers["x-goog-api-key"] = api_key
        self._headers = headers
        self._safety = [msgspec.to_builtins(s) for s in spec.safety_settings]
        self._http = UpstreamHTTP(
            name, pool, timeouts, spec.max_reply_bytes, lambda r: gemini_status_error(name, r)
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
        headers = with_extra(self._headers, call.extra_headers)
        data = await self._http.reply(url, body, headers, call.ctx)
        reply = self._decode(data, "a reply that is not a JSON object")
        if "error" in reply and "candidates" not in reply:
            raise as_gateway_error(parse_error(data, 502), self.name, None)
        return _fields(chat_completion(reply, call.upstream_model, self.name))

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        body = self._body(call)
        url = self._url(call.upstream_model, "streamGenerateContent") + "?alt=sse"
        translator = StreamTranslator(call.upstream_model)
        headers = with_extra(self._headers, call.extra_headers)
        emitted = False
        events = self._http.events(url, body, headers, call.ctx, started=lambda: emitted)
        async with aclosing(events):
            async for data in events:
                event = self._decode(data, "a stream event that is not a JSON object")
                if "error" in event and "candidates" not in event:
                    raise as_gateway_error(parse_error(data, 0), self.name, None)
                for chunk in translator.feed(event):
                    emitted = True
                    yield _fields(chunk)
        if not translator.complete:
            raise BadGatewayError(
                f"upstream `{self.name}` closed the stream before it finished",
                code="upstream_stream_truncated",
            )
        usage = translator.usage_chunk()
        if usage is not None:
            yield _fields(usage)

    def _decode(self, data: bytes, what: str) -> dict[str, Any]:
        try:
            return _object.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise malformed(self.name, what) from None

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


def build(spec: GeminiBackendSpec, ctx: BuildContext) -> GeminiBackend:
    key = ctx.secret(spec.api_key_env, "api_key_env")
    secret_headers = ctx.secret_headers(spec.headers_env)
    return GeminiBackend(
        ctx.name,
        spec,
        ctx.timeouts(spec.timeouts),
        ctx.pool,
        api_key=key,
        secret_headers=secret_headers,
    )


BACKEND_TYPE = BackendType(GeminiBackendSpec, build, lambda spec: bool(spec.discover_models))
