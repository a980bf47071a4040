"""A scriptable Anthropic Messages API on loopback, for end-to-end tests of `type: anthropic`.

Written from Anthropic's public API reference: `POST /v1/messages` (JSON or SSE stream),
`GET /v1/models` (paged: `limit`, `after_id`; `data`, `has_more`, `first_id`, `last_id`).
It checks what the real API checks (the `x-api-key` and `anthropic-version` headers,
`model`, `max_tokens`, `messages`, roles, non-empty text blocks, every `tool_use` answered by
a `tool_result` in the next user turn, temperature in 0..1) and answers with Anthropic's error
body, `{"type": "error", "error": {"type", "message"}}`.

The reply echoes the last user turn's text (cut at a requested stop sequence, or to
`max_tokens` words); `+`-joined tokens in the model name (or `!token` words in the last user
text) script the rest:

    tool          one `tool_use` of the request's first tool, after a short text block
    tools-2       two parallel `tool_use` calls
    refusal       stop_reason `refusal`
    cache         usage with cache reads and writes
    error-NNN     that status with Anthropic's error body (429 and 529 with retry-after)
    overloaded    529 `overloaded_error`
    stream-error  an `error` event after two text deltas
    early-error   an `error` event right after `message_start`
    cut           the stream closes before `message_stop`
    slow-MS       MS milliseconds between stream events

A forced `tool_choice` (`{"type": "tool"}`) always calls that tool. Every request is recorded
(`GET /_test/requests`, `DELETE /_test/requests`) with its body and headers.

    python -m gateway.testing.anthropic_upstream --port 9200 [--require-key K]
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
from aiohttp import web

from gateway.testing.anthropic_checks import RequestProblem, check_request, last_user_text
from gateway.testing.anthropic_script import Script, events_of, parse_script, reply_to
from gateway.testing.serving import serve_app, upstream_parser

LISTED_MODELS = ["claude-echo", "claude-tool", "claude-tools-2", "claude-refusal", "claude-cache"]
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_encoder = msgspec.json.Encoder()
Json = dict[str, Any]


def error_body(status: int, message: str) -> bytes:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return _encoder.encode({"type": "error", "error": {"type": kind, "message": message}})


def _error(status: int, message: str) -> web.Response:
    headers = {"request-id": f"req_{uuid.uuid4().hex[:24]}"}
    if status in (429, 529):
        headers["retry-after"] = "2"
    return web.Response(
        status=status,
        body=error_body(status, message),
        content_type="application/json",
        headers=headers,
    )


class AnthropicUpstream:
    def __init__(self, *, require_key: str | None = None, models_page_size: int = 1000) -> None:
        self.require_key = require_key
        self.models_page_size = models_page_size
        self.records: list[Json] = []

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/_test/requests", self.requests)
        app.router.add_delete("/_test/requests", self.clear)
        return app

    def _header_problem(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-api-key")
        if not key:
            return _error(401, "x-api-key header is required")
        if self.require_key and key != self.require_key:
            return _error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        return None

    async def models(self, request: web.Request) -> web.Response:
        problem = self._header_problem(request)
        if problem is not None:
            return problem
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            return _error(400, "limit: Input should be a valid integer")
        if not 1 <= limit <= 1000:
            return _error(400, "limit: Input should be between 1 and 1000")
        limit = min(limit, self.models_page_size)
        after = request.query.get("after_id")
        start = LISTED_MODELS.index(after) + 1 if after in LISTED_MODELS else 0
        page = LISTED_MODELS[start : start + limit]
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in page
        ]
        return web.json_response(
            {
                "data": data,
                "has_more": start + limit < len(LISTED_MODELS),
                "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None,
            }
        )

    async def requests(self, request: web.Request) -> web.Response:
        return web.Response(body=_encoder.encode(self.records), content_type="application/json")

    async def clear(self, request: web.Request) -> web.Response:
        self.records.clear()
        return web.Response(status=204)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        raw_body = await request.read()
        record: Json = {
            "path": request.path,
            "headers": {
                k: request.headers.get(k) for k in ("x-api-key", "anthropic-version", "x-trace")
            },
            "body": None,
        }
        self.records.append(record)
        problem = self._header_problem(request)
        if problem is not None:
            return problem
        try:
            body = msgspec.json.decode(raw_body)
        except msgspec.DecodeError:
            return _error(400, "There was an error parsing the body of your request")
        record["body"] = body
        try:
            check_request(body)
        except RequestProblem as exc:
            return _error(400, str(exc))
        script = parse_script(body["model"], last_user_text(body))
        if script.error_status is not None:
            return _error(script.error_status, f"scripted {script.error_status}")
        message = reply_to(body, script)
        if body.get("stream") is True:
            return await self._stream(request, message, script)
        return web.json_response(message, headers={"request-id": f"req_{uuid.uuid4().hex[:24]}"})

    async def _stream(
        self, request: web.Request, message: Json, script: Script
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await response.prepare(request)
        sent_deltas = 0
        for event in events_of(message):
            if script.delay:
                await asyncio.sleep(script.delay)
            if event["type"] == "content_block_delta":
                sent_deltas += 1
            if script.stream_error and sent_deltas == 3:
                error = {"type": "overloaded_error", "message": "Overloaded"}
                await _send(response, {"type": "error", "error": error})
                await response.write_eof()
                return response
            if script.cut and sent_deltas == 3:
                await response.write_eof()
                return response
            await _send(response, event)
            if script.early_error and event["type"] == "message_start":
                error = {"type": "overloaded_error", "message": "Overloaded"}
                await _send(response, {"type": "error", "error": error})
                await response.write_eof()
                return response
        await response.write_eof()
        return response


async def _send(response: web.StreamResponse, event: Json) -> None:
    await response.write(
        b"event: " + event["type"].encode() + b"\ndata: " + _encoder.encode(event) + b"\n\n"
    )


def main() -> None:
    parser = upstream_parser(__doc__, 9200)
    parser.add_argument("--models-page-size", type=int, default=1000)
    args = parser.parse_args()
    upstream = AnthropicUpstream(
        require_key=args.require_key, models_page_size=args.models_page_size
    )
    asyncio.run(serve_app(upstream.app(), args.host, args.port, "anthropic loopback upstream"))


if __name__ == "__main__":
    main()
