"""Gemini `GenerateContentResponse`s as chat completions and chat completion chunks.

- text parts -> `content` (thought summaries are left out); `functionCall` parts ->
  `tool_calls` with ids that are Gemini's own when it sends them, else `call_<token>_<n>`,
  unique to the reply and the same in every chunk (a `thoughtSignature` rides along in the
  id: see `gemini_convert`); arguments as a JSON string;
- `finishReason`: STOP -> `stop` (`tool_calls` when the candidate called functions),
  MAX_TOKENS -> `length`, the content filters (SAFETY, RECITATION, BLOCKLIST,
  PROHIBITED_CONTENT, SPII, IMAGE_SAFETY) -> `content_filter`, anything else -> `stop`;
- a prompt blocked by `promptFeedback.blockReason` (no candidates) -> one empty choice with
  `finish_reason: content_filter`, a reply rather than an error;
- `usageMetadata` -> `usage`: completion tokens include the thinking tokens (Gemini bills
  them as output, and OpenAI's `completion_tokens` includes `reasoning_tokens` likewise).

In a stream Gemini sends each function call whole, so each becomes one tool-call delta with
its own `index`, id, name and all its arguments. A stream's usage goes out once, at the end,
as a chunk with `choices: []`: the pipeline's usage stage meters it and shows it to the
client only when asked (`stream_options.include_usage`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from gateway.backends.gemini_convert import with_signature
from gateway.backends.upstream_errors import malformed

Json = dict[str, Any]
_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


def finish_reason(reason: str, called_functions: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if called_functions else "stop"


def usage_of(metadata: Any) -> Json | None:
    if not isinstance(metadata, dict):
        return None
    prompt = _count(metadata, "promptTokenCount")
    thoughts = _count(metadata, "thoughtsTokenCount")
    completion = _count(metadata, "candidatesTokenCount") + thoughts
    usage: Json = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _count(metadata, "totalTokenCount") or prompt + completion,
    }
    if "cachedContentTokenCount" in metadata:
        usage["prompt_tokens_details"] = {
            "cached_tokens": _count(metadata, "cachedContentTokenCount")
        }
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def _count(metadata: Json, key: str) -> int:
    value = metadata.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class _Ids:
    """Tool-call ids for one reply: Gemini's own, else unique to the reply and stable."""

    def __init__(self) -> None:
        self._token = os.urandom(4).hex()
        self._issued = 0

    def next(self, given: Any) -> str:
        self._issued += 1
        if isinstance(given, str) and given:
            return given
        return f"call_{self._token}_{self._issued - 1}"


def _parts(candidate: Json) -> list[Json]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _text(parts: list[Json]) -> str:
    return "".join(
        part["text"]
        for part in parts
        if isinstance(part.get("text"), str) and not part.get("thought")
    )


def _calls(parts: list[Json], ids: _Ids) -> list[Json]:
    calls = []
    for part in parts:
        call = part.get("functionCall")
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            continue
        args = call.get("args")
        calls.append(
            {
                "id": with_signature(ids.next(call.get("id")), part.get("thoughtSignature")),
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": json.dumps(args if isinstance(args, dict) else {}),
                },
            }
        )
    return calls


def _index(candidate: Json, position: int) -> int:
    index = candidate.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else position


def _candidates(response: Json) -> list[Json]:
    candidates = response.get("candidates")
    if not isinstance(candidates, list):
        return []
    return [c for c in candidates if isinstance(c, dict)]


def blocked_prompt(response: Json) -> bool:
    feedback = response.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def chat_completion(response: Json, model: str, backend: str) -> Json:
    """A whole `generateContent` reply as a `chat.completion` object."""
    ids = _Ids()
    choices = []
    for position, candidate in enumerate(_candidates(response)):
        parts = _parts(candidate)
        calls = _calls(parts, ids)
        message: Json = {"role": "assistant", "content": _text(parts) or None}
        if calls:
            message["tool_calls"] = calls
        elif message["content"] is None:
            message["content"] = ""
        reason = candidate.get("finishReason")
        choices.append(
            {
                "index": _index(candidate, position),
                "message": message,
                "finish_reason": finish_reason(
                    reason if isinstance(reason, str) else "", bool(calls)
                ),
                "logprobs": None,
            }
        )
    if not choices:
        if not blocked_prompt(response):
            raise malformed(backend, "a reply with neither candidates nor a block reason")
        choices = [_filtered_choice()]
    reply: Json = {
        "id": _reply_id(response),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
    usage = usage_of(response.get("usageMetadata"))
    if usage is not None:
        reply["usage"] = usage
    return reply


def _filtered_choice() -> Json:
    return {
        "index": 0,
        "message": {"role": "assistant", "content": ""},
        "finish_reason": "content_filter",
        "logprobs": None,
    }


def _reply_id(response: Json) -> str:
    given = response.get("responseId")
    suffix = given if isinstance(given, str) and given else os.urandom(12).hex()
    return f"chatcmpl-{suffix}"


class StreamTranslator:
    """`streamGenerateContent` events in, `chat.completion.chunk` objects out."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._id: str | None = None
        self._created = int(time.time())
        self._ids = _Ids()
        self._started: set[int] = set()
        self._tool_calls: dict[int, int] = {}  # candidate index -> tool calls so far
        self._finished: set[int] = set()
        self._blocked = False
        self._usage: Json | None = None

    @property
    def complete(self) -> bool:
        """Whether every candidate that started has finished (or the prompt was blocked)."""
        return self._blocked or (bool(self._finished) and self._started <= self._finished)

    def feed(self, response: Json) -> list[Json]:
        if self._id is None:
            self._id = _reply_id(response)
        usage = usage_of(response.get("usageMetadata"))
        if usage is not None:
            self._usage = usage  # cumulative: the last one counts
        chunks: list[Json] = []
        candidates = _candidates(response)
        if not candidates and blocked_prompt(response) and not self._started:
            self._blocked = True
            delta = {"role": "assistant", "content": ""}
            chunks.append(self._chunk(0, delta))
            chunks.append(self._chunk(0, {}, "content_filter"))
        for position, candidate in enumerate(candidates):
            chunks.extend(self._candidate(_index(candidate, position), candidate))
        return chunks

    def _candidate(self, index: int, candidate: Json) -> list[Json]:
        if index in self._finished:
            return []
        parts = _parts(candidate)
        delta: Json = {}
        if index not in self._started:
            self._started.add(index)
            delta["role"] = "assistant"
        text = _text(parts)
        if text or "role" in delta:
            delta["content"] = text
        calls = _calls(parts, self._ids)
        if calls:
            first = self._tool_calls.get(index, 0)
            delta["tool_calls"] = [{"index": first + i, **call} for i, call in enumerate(calls)]
            self._tool_calls[index] = first + len(calls)
        chunks = [self._chunk(index, delta)] if delta else []
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason:
            self._finished.add(index)
            called = self._tool_calls.get(index, 0) > 0
            chunks.append(self._chunk(index, {}, finish_reason(reason, called)))
        return chunks

    def usage_chunk(self) -> Json | None:
        if self._usage is None:
            return None
        return {**self._head(), "choices": [], "usage": self._usage}

    def _chunk(self, index: int, delta: Json, finish: str | None = None) -> Json:
        choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**self._head(), "choices": [choice]}

    def _head(self) -> Json:
        return {
            "id": self._id or _reply_id({}),
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }
