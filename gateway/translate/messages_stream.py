"""Chat completion chunks -> Anthropic Messages stream events; errors in Anthropic's shape.

Order: `message_start`; per block `content_block_start`, `content_block_delta`...,
`content_block_stop` (text first, then one `tool_use` block per tool call, each closed
before the next opens: the arguments of a parallel call an upstream interleaves with the
open one's are held back and sent whole once it closes); `message_delta` (stop_reason,
usage) and `message_stop`. The
`message_delta` waits for `finish()`, because the usage chunk follows the finish reason.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError
from gateway.protocol.anthropic_messages import MessagesRequest
from gateway.translate.messages import message_usage, stop_reason

Json = dict[str, Any]


def ping() -> Json:
    return {"type": "ping"}


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str) -> tuple[int, Json]:
    """`(status, body)` in Anthropic's error shape; other 4xx are invalid requests."""
    default = "invalid_request_error" if 400 <= status < 500 else "api_error"
    kind = _ERROR_TYPES.get(status, default)
    return status, {"type": "error", "error": {"type": kind, "message": message}}


class MessagesStream:
    """Feed chat chunks (dicts) in order; each call returns the events to send now."""

    def __init__(self, *, message_id: str, request: MessagesRequest) -> None:
        self._id = message_id
        self._request = request
        self._started = False
        self._index = -1  # the open block's index, -1 when none is open
        self._open_kind: str | None = None
        # Chat tool-call index -> argument pieces held back (for a call still waiting).
        self._calls: dict[int, list[str]] = {}
        self._waiting: list[tuple[Json, list[str]]] = []
        self._streaming: int | None = None  # the call whose block is open
        self._choice: Json = {}
        self._usage: Json | None = None
        self._model = request.model

    def start(self, input_tokens: int = 0) -> list[Json]:
        """`message_start`; `input_tokens` is an estimate (the final count is in message_delta)."""
        if self._started:
            return []
        self._started = True
        message: Json = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 0},
        }
        return [{"type": "message_start", "message": message}]

    def feed(self, chunk: Json) -> list[Json]:
        if not self._started and isinstance(chunk.get("model"), str):
            self._model = chunk["model"]
        events = self.start()
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if text:
                if self._open_kind != "text":
                    events.extend(self._close_all())
                    events.extend(self._open({"type": "text", "text": ""}, "text"))
                delta_body = {"type": "text_delta", "text": text}
                events.append(self._delta(delta_body))
            for call in delta.get("tool_calls") or []:
                events.extend(self._call(call))
            if choice.get("finish_reason"):
                self._choice = choice
        return events

    def _call(self, call: Json) -> list[Json]:
        events: list[Json] = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        if index not in self._calls:
            block: Json = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{index}",
                "name": function.get("name") or "",
                "input": {},
            }
            self._calls[index] = []
            if self._open_kind == "tool":
                # Blocks never interleave: a parallel call waits until the open one closes.
                self._waiting.append((block, self._calls[index]))
            else:
                events.extend(self._open(block, "tool"))
                self._streaming = index
        arguments = function.get("arguments")
        if arguments:
            if index == self._streaming:
                events.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
            else:
                self._calls[index].append(arguments)
        return events

    def _close_all(self) -> list[Json]:
        """Close the open block, then send each waiting call as a whole block in turn."""
        events = self._close()
        for block, pieces in self._waiting:
            events.extend(self._open(block, "tool"))
            if pieces:
                partial = {"type": "input_json_delta", "partial_json": "".join(pieces)}
                events.append(self._delta(partial))
            events.extend(self._close())
        self._waiting.clear()
        self._streaming = None
        return events

    def _open(self, block: Json, kind: str) -> list[Json]:
        events = self._close()
        self._index += 1
        self._open_kind = kind
        events.append({"type": "content_block_start", "index": self._index, "content_block": block})
        return events

    def _delta(self, delta: Json) -> Json:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}

    def _close(self) -> list[Json]:
        if self._open_kind is None:
            return []
        self._open_kind = None
        return [{"type": "content_block_stop", "index": self._index}]

    def finish(self, error: GatewayError | None = None) -> list[Json]:
        """The closing events, or one `error` event when the chat stream broke mid-way."""
        events = self.start()
        if error is not None:
            _, body = anthropic_error(error.status_code, error.message)
            return [*events, {"type": "error", "error": body["error"]}]
        events.extend(self._close_all())
        reason, sequence = stop_reason(self._choice, self._request)
        usage = message_usage(self._usage)
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": sequence},
                "usage": usage,
            }
        )
        events.append({"type": "message_stop"})
        return events
