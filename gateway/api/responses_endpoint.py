"""`/v1/responses` (OpenAI's Responses API): translated into one chat request for the
pipeline (routing, policies, cache, tool loop and metering run unchanged), the reply
translated back, JSON or SSE; `GET` / `DELETE /v1/responses/{id}` on the stored ones.

A response is stored (unless `store: false`) before its last byte goes out, with the
conversation through it, so a client that chains `previous_response_id` at once finds it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, delete, get
from litestar.handlers import BaseRouteHandler, asgi
from litestar.params import FromPath

from gateway.api.caller import request_tenant
from gateway.api.decoding import decode_json, decode_request
from gateway.api.exchange import exchange
from gateway.api.inbound import begin
from gateway.api.translated_sse import translated_frames
from gateway.context import RequestContext
from gateway.errors import InvalidRequestError, NotFoundError
from gateway.pipeline.pipeline import Pipeline
from gateway.pipeline.response_chain import ChunkStream
from gateway.protocol.payload import Reply
from gateway.protocol.responses import ResponsesRequest
from gateway.response_store import ResponseStore, StoredResponse
from gateway.settings.schema import Server
from gateway.translate import ResponsesStream, chat_to_response, responses_to_chat
from gateway.translate.responses import output_messages

Json = dict[str, Any]
_decoder = msgspec.json.Decoder(ResponsesRequest)
_reply_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()
_STORED_STATUSES = ("completed", "incomplete")


class _Turn:
    """One `/v1/responses` request on its way through the pipeline."""

    def __init__(self, req: ResponsesRequest, chat: Json, store: ResponseStore, tenant: str | None):
        self.req = req
        self.response_id = f"resp_{secrets.token_hex(24)}"
        self.created = int(time.time())
        messages = chat["messages"]
        # Instructions are this request's alone: a chained request brings its own.
        has_instructions = isinstance(req.instructions, str) and bool(req.instructions)
        self._conversation = messages[1:] if has_instructions else messages
        self._store = store
        self._tenant = tenant

    async def remember(self, response: Json) -> None:
        if self.req.store is False or response.get("status") not in _STORED_STATUSES:
            return
        history = [*self._conversation, *output_messages(response.get("output") or [])]
        record = StoredResponse(response=response, history=history)
        await self._store.put(self._tenant, self.response_id, record)


def responses_handlers(
    current: Callable[[], Pipeline],
    server: Server,
    store: Callable[[], ResponseStore],
    deadline_seconds: Callable[[], float | None] = lambda: None,
) -> list[BaseRouteHandler]:
    @asgi("/v1/responses", copy_scope=False)
    async def create_response(scope: Any, receive: Any, send: Any) -> None:
        started = await begin(scope, receive, server, "chat/completions", deadline_seconds())
        if started is None:
            return
        ctx, body = started
        req = _decode(body)
        turn, parsed = await _prepare(req, ctx, store())

        async def reply_body(reply: Reply) -> bytes:
            response = chat_to_response(
                _reply_decoder.decode(reply.encode()),
                response_id=turn.response_id,
                created=turn.created,
                request=req,
            )
            await turn.remember(response)
            return _encoder.encode(response)

        def frames(chunks: ChunkStream) -> Any:
            translator = ResponsesStream(
                response_id=turn.response_id, created=turn.created, request=req
            )

            async def before_close(closing: list[Json]) -> None:
                await turn.remember(closing[-1]["response"])

            return translated_frames(chunks, translator, translator.start(), before_close)

        await exchange(
            current(),
            parsed,
            ctx=ctx,
            receive=receive,
            send=send,
            server=server,
            frames=frames,
            body=reply_body,
        )

    @get("/v1/responses/{response_id:str}")
    async def get_response(
        request: Request[Any, Any, Any], response_id: FromPath[str]
    ) -> Response[bytes]:
        record = await store().get(request_tenant(request), response_id)
        if record is None:
            raise _missing(response_id)
        return _json(record.response)

    @delete("/v1/responses/{response_id:str}", status_code=200)
    async def delete_response(
        request: Request[Any, Any, Any], response_id: FromPath[str]
    ) -> Response[bytes]:
        if not await store().delete(request_tenant(request), response_id):
            raise _missing(response_id)
        return _json({"id": response_id, "object": "response.deleted", "deleted": True})

    handlers: list[BaseRouteHandler] = [create_response, get_response, delete_response]
    return handlers


def _decode(body: bytes) -> ResponsesRequest:
    if not body.strip():
        raise InvalidRequestError(
            "The request body is empty: send a JSON object with `model` and `input`."
        )
    return decode_json(body, _decoder.decode)


async def _prepare(req: ResponsesRequest, ctx: RequestContext, store: ResponseStore) -> Any:
    history: list[Json] = []
    previous = req.previous_response_id
    if isinstance(previous, str) and previous:
        record = await store.get(ctx.tenant, previous)
        if record is None:
            raise NotFoundError(
                f"Previous response with id '{previous}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        history = record.history
    chat = responses_to_chat(req, history)
    parsed = decode_request("chat/completions", _encoder.encode(chat))
    return _Turn(req, chat, store, ctx.tenant), parsed


def _missing(response_id: str) -> NotFoundError:
    return NotFoundError(f"No response found with id '{response_id}'.", param="response_id")


def _json(value: Json) -> Response[bytes]:
    return Response(_encoder.encode(value), media_type="application/json")
