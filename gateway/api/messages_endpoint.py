"""`/v1/messages` and `/v1/messages/count_tokens` (Anthropic's Messages API), translated
into one chat request for the pipeline (routing, policies, cache, tool loop and metering
run unchanged) and back, JSON or SSE.

Errors on these paths leave in Anthropic's shape (`gateway.error_response` looks at the
path), and keys may come as `x-api-key` (the auth middleware reads both headers).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import msgspec
from litestar.handlers import BaseRouteHandler, asgi

from gateway.api.asgi_io import send_bytes
from gateway.api.decoding import decode_json, decode_request
from gateway.api.exchange import exchange
from gateway.api.inbound import begin
from gateway.api.translated_sse import translated_frames
from gateway.embeddings.openai_tokens import OpenAITokens
from gateway.errors import InvalidRequestError
from gateway.pipeline.pipeline import Pipeline
from gateway.pipeline.response_chain import ChunkStream
from gateway.protocol.anthropic_messages import CountTokensRequest, MessagesRequest
from gateway.protocol.payload import Reply
from gateway.settings.schema import Server
from gateway.translate import (
    MessagesStream,
    chat_to_message,
    count_tokens_to_chat,
    messages_to_chat,
    ping,
)

Json = dict[str, Any]
_decoder = msgspec.json.Decoder(MessagesRequest)
_count_decoder = msgspec.json.Decoder(CountTokensRequest)
_reply_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()
# Chat templates add a few tokens per message (role markers, separators).
_TOKENS_PER_MESSAGE = 4


def messages_handlers(
    current: Callable[[], Pipeline],
    server: Server,
    deadline_seconds: Callable[[], float | None] = lambda: None,
) -> list[BaseRouteHandler]:
    tokens = OpenAITokens()

    @asgi("/v1/messages", copy_scope=False)
    async def create_message(scope: Any, receive: Any, send: Any) -> None:
        started = await begin(scope, receive, server, "chat/completions", deadline_seconds())
        if started is None:
            return
        ctx, body = started
        req = _decode(body, _decoder)
        chat = messages_to_chat(req)
        parsed = decode_request("chat/completions", _encoder.encode(chat))
        message_id = f"msg_{secrets.token_hex(12)}"

        async def reply_body(reply: Reply) -> bytes:
            chat_reply = _reply_decoder.decode(reply.encode())
            return _encoder.encode(chat_to_message(chat_reply, message_id=message_id, request=req))

        def frames(chunks: ChunkStream) -> Any:
            translator = MessagesStream(message_id=message_id, request=req)
            return translated_frames(chunks, translator, [*translator.start(), ping()])

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

    @asgi("/v1/messages/count_tokens", copy_scope=False)
    async def count_tokens(scope: Any, receive: Any, send: Any) -> None:
        started = await begin(scope, receive, server, "chat/completions", deadline_seconds())
        if started is None:
            return
        _, body = started
        chat = count_tokens_to_chat(_decode(body, _count_decoder))
        # The first count loads the token ranks (~0.3 s): off the event loop.
        counted = await asyncio.to_thread(_estimate, tokens, chat)
        await send_bytes(send, 200, _encoder.encode({"input_tokens": counted}))

    return [create_message, count_tokens]


def _decode(body: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    if not body.strip():
        raise InvalidRequestError(
            "The request body is empty: send a JSON object with `model`, `messages` and "
            "`max_tokens`."
        )
    return decode_json(body, decoder.decode)


def _estimate(tokens: OpenAITokens, chat: Json) -> int:
    """The prompt's tokens in cl100k_base: an estimate for models with other tokenizers
    (within a few percent for English text), as the Messages API's own count is for
    Claude's. Tool schemas count as their JSON."""
    total = 0
    for message in chat["messages"]:
        total += _TOKENS_PER_MESSAGE
        content = message.get("content")
        if isinstance(content, str):
            total += tokens.count(content)
        elif isinstance(content, list):
            total += sum(tokens.count(p["text"]) for p in content if p.get("type") == "text")
        for call in message.get("tool_calls") or []:
            function = call["function"]
            total += tokens.count(function["name"]) + tokens.count(function["arguments"])
    for tool in chat.get("tools") or []:
        total += tokens.count(_encoder.encode(tool["function"]).decode())
    return total
