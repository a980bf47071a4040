"""The `agent` script of the fake backends: a model that uses its tools, for tool-loop
tests and demos.

Each turn it calls the first offered tool it has not called yet in this conversation, with
arguments made from the schema (its required properties when it names some, else all:
strings get the last user message, numbers 2, booleans true); once every tool was called
it answers `Result: <each tool result>`. With `badargs` its first call of a tool that has
required parameters sends `{}`, and it repeats the call with proper arguments after a
result that reports the error.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from gateway.protocol.chat import (
    AssistantMessage,
    ChatCompletionRequest,
    ToolMessage,
    UserMessage,
)

_encoder = msgspec.json.Encoder()


def agent_turn(request: ChatCompletionRequest, badargs: bool) -> list[tuple[str, str]] | str:
    """The calls of this turn (name, JSON arguments), or the answer's text."""
    offered = [t.function for t in request.tools or () if t.function is not UNSET]
    called: list[tuple[str, str]] = []
    for message in request.messages:
        if isinstance(message, AssistantMessage) and message.tool_calls:
            called += [(c.function.name, c.function.arguments) for c in message.tool_calls]
    results = [_text(m.content) for m in request.messages if isinstance(m, ToolMessage)]
    last = request.messages[-1] if request.messages else None
    if badargs and called and isinstance(last, ToolMessage) and _reports_error(last.content):
        name, arguments = called[-1]
        function = next((f for f in offered if f.name == name), None)
        if arguments == "{}" and function is not None:
            return [(name, _arguments(function, request))]
    done = {name for name, _ in called}
    for function in offered:
        if function.name not in done:
            if badargs and _required(function):
                return [(function.name, "{}")]
            return [(function.name, _arguments(function, request))]
    return "Result: " + " | ".join(results)


def _arguments(function: Any, request: ChatCompletionRequest) -> str:
    schema = function.parameters if isinstance(function.parameters, dict) else {}
    values: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    required = schema.get("required")
    if isinstance(required, list) and required:  # what it must send, as a careful model does
        properties = {k: v for k, v in properties.items() if k in required}
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind == "string":
            values[name] = _last_user(request)
        elif kind in ("integer", "number"):
            values[name] = 2
        elif kind == "boolean":
            values[name] = True
    return _encoder.encode(values).decode()


def _required(function: Any) -> bool:
    schema = function.parameters if isinstance(function.parameters, dict) else {}
    return bool(schema.get("required"))


def _last_user(request: ChatCompletionRequest) -> str:
    for message in reversed(request.messages):
        if isinstance(message, UserMessage):
            return _text(message.content)
    return ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(getattr(p, "text", "") or "" for p in content or ())


def _reports_error(content: Any) -> bool:
    text = _text(content).lower()
    return any(word in text for word in ("invalid", "error", "required", "missing"))
