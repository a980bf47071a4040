"""A scriptable OpenAI-compatible upstream on loopback, for end-to-end tests and demos.

Behaviour is chosen by the model name (see `gateway.backends.fake_script`). Every request is
recorded, with its body and whether it completed or was cancelled by a disconnect, and
`GET /_test/requests` returns the record so a test in another process can assert on the
upstream side (pass-through of fields, connection closed after a client disconnect).

    python -m gateway.testing.loopback_upstream --port 9100
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from aiohttp import web

from gateway.backends import fake_script
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.testing.serving import serve_app, upstream_parser

_STALL_SECONDS = 3600.0
_encoder = msgspec.json.Encoder()
_DECODERS: dict[str, Any] = {
    "chat": msgspec.json.Decoder(ChatCompletionRequest),
    "completions": msgspec.json.Decoder(CompletionRequest),
}
LISTED_MODELS = ["echo", "words-20", "tools-2", "slow-100", "error-500"]


class LoopbackUpstream:
    def __init__(self, *, require_key: str | None = None) -> None:
        self.require_key = require_key
        self.records: list[dict[str, Any]] = []
        self.calls: dict[str, int] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/_test/requests", self.requests)
        app.router.add_delete("/_test/requests", self.clear)
        return app

    async def models(self, request: web.Request) -> web.Response:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "loopback"}
            for m in LISTED_MODELS
        ]
        return web.json_response({"object": "list", "data": data})

    async def requests(self, request: web.Request) -> web.Response:
        return web.Response(body=_encoder.encode(self.records), content_type="application/json")

    async def clear(self, request: web.Request) -> web.Response:
        self.records.clear()
        return web.Response(status=204)

    async def embeddings(self, request: web.Request) -> web.Response:
        """Three-number vectors (length, vowels, 1) so tests can recognise each input."""
        body = await request.json()
        self.records.append(
            {
                "path": request.path,
                "body": body,
                "state": "completed",
                "authorization": request.headers.get("authorization"),
            }
        )
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [float(len(str(t))), float(sum(c in "aeiou" for c in str(t))), 1.0],
            }
            for i, t in enumerate(items)
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": len(items), "total_tokens": len(items)},
            }
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "chat")

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "completions")

    async def _serve(self, request: web.Request, kind: str) -> web.StreamResponse:
        raw_body = await request.read()
        record: dict[str, Any] = {
            "path": request.path,
            "body": msgspec.json.decode(raw_body) if raw_body else None,
            "authorization": request.headers.get("authorization"),
            "state": "started",
            "started": time.time(),
        }
        self.records.append(record)
        try:
            response = await self._respond(request, kind, raw_body)
            record["state"] = "completed"
            return response
        except asyncio.CancelledError:
            record["state"] = "cancelled"
            record["ended"] = time.time()
            raise
        except ConnectionResetError:
            record["state"] = "disconnected"
            record["ended"] = time.time()
            raise

    async def _respond(
        self, request: web.Request, kind: str, raw_body: bytes
    ) -> web.StreamResponse:
        if (
            self.require_key
            and request.headers.get("authorization") != f"Bearer {self.require_key}"
        ):
            return await _error(request, 401)
        try:
            parsed = _DECODERS[kind].decode(raw_body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return web.json_response(
                {
                    "error": {
                        "message": str(exc),
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
                status=400,
            )
        script = fake_script.parse_script(parsed.model)
        count = self.calls[parsed.model] = self.calls.get(parsed.model, 0) + 1
        if script.redirect:
            raise web.HTTPTemporaryRedirect("/elsewhere")
        if script.reset:
            _drop_connection(request)
            raise ConnectionResetError("scripted reset")
        if script.error_body:
            return web.json_response({"error": "overloaded"})
        if script.error_status is not None:
            return await _error(request, script.error_status, script)
        if count <= script.flaky:
            return await _error(request, 503, script)
        if script.stall_first:
            await asyncio.sleep(_STALL_SECONDS)
        if parsed.stream:
            return await self._stream(request, parsed, script)
        reply = (
            fake_script.chat_completion(parsed, script)
            if isinstance(parsed, ChatCompletionRequest)
            else fake_script.text_completion(parsed, script)
        )
        body = _encoder.encode(reply)
        if script.chunk_delay:
            await asyncio.sleep(script.chunk_delay)
        if script.truncate_json:
            response = web.StreamResponse(headers={"content-type": "application/json"})
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            _drop_connection(request)
            return response
        return web.Response(body=body, content_type="application/json")

    async def _stream(
        self,
        request: web.Request,
        parsed: ChatCompletionRequest | CompletionRequest,
        script: fake_script.Script,
    ) -> web.StreamResponse:
        chunks: list[Any] = (
            fake_script.chat_chunks(parsed, script)
            if isinstance(parsed, ChatCompletionRequest)
            else fake_script.text_chunks(parsed, script)
        )
        if not parsed.wants_usage_chunk:
            chunks = chunks[:-1]  # as OpenAI: the usage chunk only when asked for
        if script.empty_stream:
            chunks = []
        if script.azure_first:
            filter_results = {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0}],
            }
            first = _encoder.encode(chunks[1])
            chunks = [filter_results, msgspec.json.decode(first), *chunks[2:]]
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await response.prepare(request)
        for i, chunk in enumerate(chunks):
            if i == fake_script.MID_STREAM_CHUNKS:
                if script.error_event:
                    event = {"error": {"message": "boom", "type": "server_error", "code": 500}}
                    await response.write(b"data: " + _encoder.encode(event) + b"\n\n")
                    await response.write_eof()
                    return response
                if script.die_mid_stream:
                    _drop_connection(request)
                    return response
                if script.stall_mid_stream:
                    await asyncio.sleep(_STALL_SECONDS)
            if script.chunk_delay:
                await asyncio.sleep(script.chunk_delay)
            await response.write(b"data: " + _encoder.encode(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _error(
    request: web.Request, status: int, script: fake_script.Script | None = None
) -> web.StreamResponse:
    headers = {"retry-after": "1"} if status in (429, 503) else {}
    if script is not None and script.bare:
        headers = {}
    if script is not None and script.huge_retry_after:
        headers = {"retry-after": "1e400"}
    body = fake_script.error_body(status)
    if script is not None and script.split_error:
        response = web.StreamResponse(status=status, headers=headers)
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(body[:20])
        await asyncio.sleep(0.05)
        await response.write(body[20:])
        await response.write_eof()
        return response
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def main() -> None:
    args = upstream_parser(__doc__, 9100).parse_args()
    upstream = LoopbackUpstream(require_key=args.require_key)
    asyncio.run(serve_app(upstream.app(), args.host, args.port, "loopback upstream"))


if __name__ == "__main__":
    main()
