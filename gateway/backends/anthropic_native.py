"""Anthropic's Messages API as a backend (`type: anthropic`), behind the chat shape.

Chat requests are translated (`anthropic_convert`) and sent to `POST {base_url}/v1/messages`
with `x-api-key` and `anthropic-version`; replies and stream events come back as chat
completions and chunks (`anthropic_stream`). Timeouts, pooling and the translation of client
failures are those of `openai_compat`: connect, first byte (a stall here is a 504), idle
between events. Anthropic's error statuses are kept with an OpenAI-shaped body and
`retry-after`, except 529 (overloaded), which is a 503, and 401/403, which, as for every
upstream, are the gateway's own credentials failing (502 `upstream_auth_error`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import aiohttp
import httpx
import msgspec

from gateway.backends.anthropic_convert import (
    AnthropicCall,
    AnthropicReply,
    anthropic_to_chat,
    chat_to_anthropic,
)
from gateway.backends.anthropic_stream import ChunkTranslator
from gateway.backends.base import Backend, BackendCall, Capabilities
from gateway.backends.http_pool import HTTPPool
from gateway.backends.registry import BackendType, BuildContext
from gateway.backends.upstream_errors import malformed, status_error
from gateway.backends.upstream_http import UpstreamHTTP, with_extra
from gateway.errors import BadGatewayError, GatewayError, InvalidRequestError, UpstreamStatusError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import RawFields, raw
from gateway.settings.anthropic_types import AnthropicBackendSpec
from gateway.settings.upstream_types import Timeouts

_reply_decoder = msgspec.json.Decoder(AnthropicReply)
_encoder = msgspec.json.Encoder()
# Anthropic's overload is not an HTTP status clients know; the gateway's own is 503.
_OVERLOADED = 529
# Anthropic's 400 for a prompt over the model's window; as OpenAI's code, it lets the
# executor move on to a target with a larger window.
_TOO_LONG = "prompt is too long"


class _ModelEntry(msgspec.Struct):
    id: str


class _ModelPage(msgspec.Struct):
    data: list[_ModelEntry]
    has_more: bool = False
    last_id: str | None = None


class AnthropicBackend:
    def __init__(
        self,
        name: str,
        spec: AnthropicBackendSpec,
        timeouts: Timeouts,
        pool: HTTPPool,
        *,
        api_key: str | None,
    ) -> None:
        self.name = name
        self._spec = spec
        # Claude serves chat only: no legacy completions, no embeddings, no `suffix`.
        base = Capabilities(completions=False, embeddings=False, fill_in_middle=False)
        self.capabilities = base.declared(spec.capabilities)
        self._timeouts = timeouts
        self._pool = pool
        self._base_url = spec.base_url.rstrip("/")
        headers = {**spec.headers, "anthropic-version": spec.anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        self._headers = headers
        self._url = f"{self._base_url}/v1/messages"
        self._http = UpstreamHTTP(name, pool, timeouts, spec.max_reply_bytes, self._status_error)

    async def start(self) -> None:
        await self._pool.start()

    def ready(self) -> bool:
        return self._pool.ready()

    async def aclose(self) -> None:
        """The shared pool is closed by its owner (the container)."""

    def _translate(self, call: BackendCall) -> AnthropicCall:
        if call.endpoint != "chat/completions" or not isinstance(
            call.request, ChatCompletionRequest
        ):
            raise InvalidRequestError(
                f"backend `{self.name}` (Anthropic) serves /v1/chat/completions only",
                param="model",
            )
        return chat_to_anthropic(
            call.request,
            call.upstream_model,
            default_max_tokens=self._spec.default_max_tokens,
            fields=call.fields,
        )

    async def complete(self, call: BackendCall) -> RawFields:
        translated = self._translate(call)
        body = _encoder.encode({**translated.body, "stream": False})
        headers = with_extra(self._headers, call.extra_headers)
        data = await self._http.reply(self._url, body, headers, call.ctx)
        try:
            reply = _reply_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise malformed(self.name, "a reply that is not an Anthropic message") from None
        chat = anthropic_to_chat(reply, translated.json_tool)
        return {key: raw(value) for key, value in chat.items()}

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        translated = self._translate(call)
        body = _encoder.encode({**translated.body, "stream": True})
        translator = ChunkTranslator(self.name, call.upstream_model, translated.json_tool)
        headers = with_extra(self._headers, call.extra_headers)
        # Until content starts, the upstream is still within its first-byte allowance.
        events = self._http.events(
            self._url, body, headers, call.ctx, started=lambda: translator.started
        )
        async with aclosing(events):
            async for data in events:
                for chunk in self._translate_event(translator, data):
                    yield {key: raw(value) for key, value in chunk.items()}
                if translator.finished:
                    return
        raise BadGatewayError(
            f"upstream `{self.name}` closed the stream before `message_stop`",
            code="upstream_stream_truncated",
        )

    def _translate_event(self, translator: ChunkTranslator, data: bytes) -> list[dict[str, Any]]:
        try:
            return translator.feed(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise malformed(self.name, "a stream event that is not an Anthropic event") from None

    async def _status_error(self, response: aiohttp.ClientResponse) -> GatewayError:
        error = await status_error(self.name, response)
        if not isinstance(error, UpstreamStatusError):
            return error  # the gateway's own credentials failing, or a redirect
        if response.status == _OVERLOADED:
            given = error.retry_after if error.retry_after_given else None
            error = UpstreamStatusError(503, error.body(), error.message, retry_after=given)
        elif response.status == 400 and error.message.startswith(_TOO_LONG):
            error.error_code = "context_length_exceeded"
        return error

    async def list_models(self) -> list[str]:
        """Every model id the upstream lists, following its pages (off the hot path: httpx)."""
        timeout = httpx.Timeout(
            min(10.0, self._timeouts.first_byte), connect=self._timeouts.connect
        )
        ids: list[str] = []
        params: dict[str, str] = {"limit": "1000"}
        try:
            async with httpx.AsyncClient(timeout=timeout, headers=self._headers) as client:
                for _ in range(_MAX_PAGES):
                    response = await client.get(f"{self._base_url}/v1/models", params=params)
                    page = self._model_page(response)
                    ids.extend(entry.id for entry in page.data)
                    if not page.has_more or not page.last_id:
                        break
                    params = {"limit": "1000", "after_id": page.last_id}
        except httpx.HTTPError as exc:
            raise BadGatewayError(
                f"cannot list the models of upstream `{self.name}`: {type(exc).__name__}"
            ) from exc
        return ids

    def _model_page(self, response: httpx.Response) -> _ModelPage:
        if response.status_code >= 400:
            raise BadGatewayError(
                f"upstream `{self.name}` answered HTTP {response.status_code} to GET /v1/models"
            )
        try:
            return msgspec.json.decode(response.content, type=_ModelPage)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise malformed(self.name, "a model list that is not Anthropic-shaped") from exc


# A bound on paging, should an upstream keep saying `has_more`.
_MAX_PAGES = 50


def build(spec: AnthropicBackendSpec, ctx: BuildContext) -> Backend:
    key = ctx.secret(spec.api_key_env, "api_key_env")
    return AnthropicBackend(ctx.name, spec, ctx.timeouts(spec.timeouts), ctx.pool, api_key=key)


BACKEND_TYPE = BackendType(AnthropicBackendSpec, build, lambda spec: bool(spec.discover_models))
