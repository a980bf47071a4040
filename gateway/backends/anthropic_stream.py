"""Anthropic's stream events -> chat.completion.chunk fields, one event at a time.

- Every chunk has the id `chatcmpl-<message id>` and the message's model.
- `role` rides on the first chunk that carries something (text, a tool call, the finish),
  not on a chunk of its own: an `error` event before any content then still comes before
  the commit point, so the executor can retry or fail over.
- A `tool_use` block is one tool call; its chat `index` counts tool calls (not content
  blocks). Its first delta carries `id`, `type`, `name` and empty arguments; each
  `input_json_delta` then adds a piece of the arguments.
- `message_stop` yields the finish chunk and then one usage chunk (`choices: []`): the
  pipeline's usage stage meters it and shows it to the client only when asked for.
- `ping`, `thinking` / `signature` deltas and event types this gateway does not know are
  skipped (Anthropic documents that new event types may appear).
- An `error` event raises `AnthropicStreamError` (an in-band error once committed).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from gateway.backends.anthropic_convert import (
    AnthropicUsage,
    chat_id,
    chat_usage,
    finish_reason,
)
from gateway.backends.upstream_errors import openai_error_body
from gateway.errors import UpstreamStatusError

Json = dict[str, Any]


class AnthropicStreamError(UpstreamStatusError):
    """The upstream sent an `error` event after its stream began."""


# An error event's type as the status it stands for (before the commit point this decides
# whether another attempt or target may serve; after it, only the event's body shows).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "rate_limit_error": 429,
    "overloaded_error": 503,
    "timeout_error": 504,
}


class _Event(msgspec.Struct):
    type: str
    index: int = 0
    message: dict[str, Any] | None = None
    content_block: dict[str, Any] | None = None
    delta: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


_event_decoder = msgspec.json.Decoder(_Event)
_usage_of = msgspec.convert


class ChunkTranslator:
    """Feed each event's JSON to `feed`; it returns the chat chunks (as plain dicts) the
    event stands for. `finished` turns true at `message_stop`."""

    def __init__(self, backend: str, model: str, json_tool: str | None = None) -> None:
        self._backend = backend
        self._json_tool = json_tool
        self._id = chat_id(f"msg_{time.time_ns():x}")
        self._model = model
        self._created = int(time.time())
        self._role_sent = False
        # content-block index -> tool-call index; the forced response-format tool's blocks
        self._tools: dict[int, int] = {}
        self._answer_blocks: set[int] = set()
        self._next_tool = 0
        self._stop_reason: str | None = None
        self._usage: Json = {}
        self.finished = False
        self.started = False

    def feed(self, data: bytes) -> list[Json]:
        """Raises `msgspec.DecodeError` / `ValidationError` on an event that is not one."""
        event = _event_decoder.decode(data)
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is None:
            return []
        chunks: list[Json] = handler(event)
        return chunks

    def _on_message_start(self, event: _Event) -> list[Json]:
        message = event.message or {}
        self.started = True
        if isinstance(message.get("id"), str):
            self._id = chat_id(message["id"])
        if isinstance(message.get("model"), str) and message["model"]:
            self._model = message["model"]
        self._merge_usage(message.get("usage"))
        return []

    def _on_content_block_start(self, event: _Event) -> list[Json]:
        block = event.content_block or {}
        kind = block.get("type")
        if kind == "tool_use" and block.get("name") == self._json_tool:
            self._answer_blocks.add(event.index)
            return []
        if kind == "tool_use":
            tool_index = self._next_tool
            self._next_tool += 1
            self._tools[event.index] = tool_index
            call = {
                "index": tool_index,
                "id": block.get("id", ""),
                "type": "function",
                "function": {"name": block.get("name", ""), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        return []

    def _on_content_block_delta(self, event: _Event) -> list[Json]:
        delta = event.delta or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "input_json_delta" and delta.get("partial_json"):
            piece = delta["partial_json"]
            if event.index in self._answer_blocks:
                # the forced response-format tool: its input is the answer's text
                return [self._chunk({"content": piece})]
            if event.index in self._tools:
                call = {"index": self._tools[event.index], "function": {"arguments": piece}}
                return [self._chunk({"tool_calls": [call]})]
        return []  # a server tool's input, a thinking or signature delta: no chat equivalent

    def _on_message_delta(self, event: _Event) -> list[Json]:
        delta = event.delta or {}
        if isinstance(delta.get("stop_reason"), str):
            self._stop_reason = delta["stop_reason"]
        self._merge_usage(event.usage)
        return []

    def _on_message_stop(self, event: _Event) -> list[Json]:
        self.finished = True
        finish = self._chunk({}, finish_reason(self._stop_reason, self._json_tool))
        usage = self._envelope([])
        usage["usage"] = chat_usage(_usage_of(self._usage, AnthropicUsage))
        return [finish, usage]

    def _on_error(self, event: _Event) -> list[Json]:
        error = event.error or {}
        kind = str(error.get("type") or "api_error")
        status = _ERROR_STATUS.get(kind, 502)
        body, message = openai_error_body(
            status,
            msgspec.json.encode({"error": error}),
            self._backend,
            f"upstream `{self._backend}` reported an error mid-stream",
        )
        raise AnthropicStreamError(status, body, f"upstream `{self._backend}`: {message}")

    def _merge_usage(self, usage: Any) -> None:
        """`message_delta` usage is cumulative: its fields replace those of `message_start`."""
        if isinstance(usage, dict):
            for key, value in usage.items():
                if isinstance(value, int) and key in _USAGE_FIELDS:
                    self._usage[key] = value

    def _chunk(self, delta: Json, finish: str | None = None) -> Json:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            if "content" not in delta and "tool_calls" not in delta:
                delta["content"] = ""
            self._role_sent = True
        return self._envelope(
            [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        )

    def _envelope(self, choices: list[Json]) -> Json:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }


_USAGE_FIELDS = frozenset(
    {"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}
)
