"""The loopback Anthropic API's script (tokens in the model name or `!token` words in the
last user text) and the replies it makes: whole messages and the stream events of one, in the
order and shape the real API sends them (`message_start`, `content_block_*` with a `ping`
between, `message_delta`, `message_stop`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gateway.testing.anthropic_checks import last_user_text

Json = dict[str, Any]
_encoder = msgspec.json.Encoder()


@dataclass
class Script:
    tools: int = 0
    refusal: bool = False
    cache: bool = False
    error_status: int | None = None
    stream_error: bool = False
    early_error: bool = False
    cut: bool = False
    delay: float = 0.0
    unknown: list[str] = field(default_factory=list)


def parse_script(model: str, text: str) -> Script:
    script = Script()
    words = [w[1:] for w in text.split() if w.startswith("!")]
    for word in [*model.split("+"), *words]:
        token = word.removeprefix("claude-")
        if token == "tool":
            script.tools = 1
        elif token.startswith("tools-") and token[6:].isdigit():
            script.tools = int(token[6:])
        elif token.startswith("error-") and token[6:].isdigit():
            script.error_status = int(token[6:])
        elif token.startswith("slow-") and token[5:].isdigit():
            script.delay = int(token[5:]) / 1000
        elif token == "overloaded":
            script.error_status = 529
        elif token in ("refusal", "cache", "cut"):
            setattr(script, token, True)
        elif token in ("stream-error", "early-error"):
            setattr(script, token.replace("-", "_"), True)
        else:
            script.unknown.append(token)
    return script


def reply_to(body: Json, script: Script) -> Json:
    text = last_user_text(body, keep_directives=False) or "ok"
    stop_reason, stop_sequence = "end_turn", None
    for sequence in body.get("stop_sequences") or []:
        at = text.find(sequence)
        if at >= 0:
            text, stop_reason, stop_sequence = text[:at], "stop_sequence", sequence
            break
    words = text.split(" ")
    if len(words) > body["max_tokens"]:
        text, stop_reason = " ".join(words[: body["max_tokens"]]), "max_tokens"
    content: list[Json] = [{"type": "text", "text": text}] if text else []
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        content = [_tool_use(choice["name"], {"answer": text})]
        stop_reason = "tool_use"
    elif script.tools and tools and stop_reason == "end_turn":
        content = [{"type": "text", "text": "Let me check."}]
        cities = ["Paris", "Tokyo", "Lima", "Oslo"]
        for i in range(script.tools):
            name = tools[min(i, len(tools) - 1)]["name"]
            content.append(_tool_use(name, {"city": cities[i % len(cities)]}))
        stop_reason = "tool_use"
    if script.refusal:
        content, stop_reason = [], "refusal"
    output = sum(len(str(b.get("text") or b.get("input"))) // 4 + 1 for b in content)
    usage: Json = {"input_tokens": _input_tokens(body), "output_tokens": output}
    usage["cache_read_input_tokens"] = 5 if script.cache else 0
    usage["cache_creation_input_tokens"] = 2 if script.cache else 0
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def _tool_use(name: str, tool_input: Json) -> Json:
    return {
        "type": "tool_use",
        "id": f"toolu_{uuid.uuid4().hex[:24]}",
        "name": name,
        "input": tool_input,
    }


def _input_tokens(body: Json) -> int:
    return len(_encoder.encode(body.get("messages"))) // 4 + len(str(body.get("system", ""))) // 4


def events_of(message: Json) -> list[Json]:
    """The stream of `message`, as the real API sends it."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    events: list[Json] = [
        {
            "type": "message_start",
            "message": {
                **message,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
        {"type": "ping"},
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            for piece in _pieces(block["text"]):
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    }
                )
        else:
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {**block, "input": {}},
                }
            )
            events.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": ""},
                }
            )
            for piece in _pieces(_encoder.encode(block["input"]).decode(), 5):
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    }
                )
        events.append({"type": "content_block_stop", "index": index})
        if index == 0:
            events.append({"type": "ping"})
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message["stop_reason"],
                "stop_sequence": message["stop_sequence"],
            },
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


def _pieces(text: str, size: int = 0) -> list[str]:
    """Word by word (keeping the spaces), or in `size`-character pieces."""
    if size:
        return [text[i : i + size] for i in range(0, len(text), size)]
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]
