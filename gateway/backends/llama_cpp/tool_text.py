"""Tool calls that small models write as text, found and checked against the offered tools.

With `tool_choice: auto` llama.cpp gives no structured call: models write JSON in the reply,
in many shapes (plain, in a code fence, inside `<tool_call>` tags, with doubled braces, as a
list, with `parameters` instead of `arguments`, arguments as a JSON string). A call counts
only if its name is one of the offered functions and its arguments are an object that has
every required property with the declared JSON type; anything else stays plain text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.protocol.chat import FunctionDefinition

_FENCE = re.compile(r"```(?:json|tool_call|JSON)?\s*(.*?)```", re.DOTALL)
_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
# Only the wrapper may be left open: arguments cut off mid-object are not a call.
_MAX_UNCLOSED = 1
_DECODER = json.JSONDecoder()
# Text that may open a tool call: worth holding back while streaming.
CALL_OPENERS = ("{", "[", "`", "<tool_call>")


@dataclass(frozen=True, slots=True)
class TextToolCall:
    name: str
    arguments: dict[str, Any]


def parse_tool_calls(
    text: str, functions: Sequence[FunctionDefinition]
) -> list[TextToolCall] | None:
    """The calls in `text`, or None when it is not (entirely) a valid call."""
    if not functions:
        return None
    by_name = {f.name: f for f in functions}
    for candidate in _candidates(text):
        payload = _load(candidate)
        if payload is None:
            continue
        items = payload if isinstance(payload, list) else [payload]
        calls = [_call(item, by_name) for item in items]
        if calls and all(c is not None for c in calls):
            return [c for c in calls if c is not None]
    return None


def _candidates(text: str) -> list[str]:
    """What may hold the calls, most calls first: several tags, fences or bare objects in
    a row are parallel calls together (a list of them), then each alone."""
    stripped = text.strip()
    tags = [m.group(1) for m in _TAG.finditer(stripped)]
    fences = [m.group(1) for m in _FENCE.finditer(stripped)]
    found = [f"[{', '.join(group)}]" for group in (tags, fences) if len(group) > 1]
    objects = _objects_in_a_row(stripped)
    if len(objects) > 1:
        found.append(f"[{', '.join(objects)}]")
    found += tags + fences
    found.append(stripped)
    first, last = stripped.find("{"), stripped.rfind("}")
    if 0 <= first < last:
        found.append(stripped[first : last + 1])
    if 0 <= first < last and "[" not in stripped[:first]:  # a list's calls count together
        # The first complete object alone: models add a stray `}` or a remark after it.
        try:
            _, end = _DECODER.raw_decode(stripped, first)
        except ValueError:
            pass
        else:
            found.append(stripped[first:end])
    return found


def _objects_in_a_row(text: str) -> list[str]:
    """The JSON objects from the first `{` on, while only whitespace, commas or a line of
    remark-free separators lie between them: `{call}\n{call}` is two calls."""
    objects: list[str] = []
    at = text.find("{")
    while 0 <= at < len(text) and text[at] == "{":
        try:
            _, end = _DECODER.raw_decode(text, at)
        except ValueError:
            break
        objects.append(text[at:end])
        at = end
        while at < len(text) and text[at] in " \t\r\n,;":
            at += 1
    return objects


def _load(candidate: str) -> Any:
    candidate = candidate.strip()
    undoubled = candidate.replace("{{", "{").replace("}}", "}")
    for attempt in (candidate, undoubled, _closed(candidate)):
        if attempt is None:
            continue
        try:
            return json.loads(attempt)
        except ValueError:
            continue
    return None


def _closed(candidate: str) -> str | None:
    """`candidate` with the bracket a model left open at its end closed (small models
    often stop one `}` short after a call's complete arguments); None when none is
    missing, it ends inside a string, or more than `_MAX_UNCLOSED` are."""
    expected: list[str] = []
    in_string = escaped = False
    for char in candidate:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            expected.append("}" if char == "{" else "]")
        elif char in "}]" and (not expected or expected.pop() != char):
            return None
    if in_string or not expected or len(expected) > _MAX_UNCLOSED:
        return None
    return candidate + "".join(reversed(expected))


def _call(item: Any, by_name: dict[str, FunctionDefinition]) -> TextToolCall | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # OpenAI-shaped: {"type": "function", ...}
        item = item["function"]
    name = item.get("name") or item.get("tool") or item.get("tool_name")
    if not isinstance(name, str) or name not in by_name:
        return None
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict) or not _valid(arguments, by_name[name].parameters):
        return None
    return TextToolCall(name, arguments)


def _valid(arguments: dict[str, Any], schema: object) -> bool:
    """Required properties present and of their declared type (top level)."""
    if not isinstance(schema, dict):
        return True
    required = schema.get("required")
    if isinstance(required, list) and any(k not in arguments for k in required):
        return False
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return True
    for key, value in arguments.items():
        spec = properties.get(key)
        kind = spec.get("type") if isinstance(spec, dict) else None
        kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
        allowed = tuple(t for k in kinds for t in _TYPES.get(k, ()))
        if not allowed:
            continue
        if isinstance(value, bool) and bool not in allowed:
            return False  # JSON true is not an integer
        if not isinstance(value, allowed):
            return False
    return True
