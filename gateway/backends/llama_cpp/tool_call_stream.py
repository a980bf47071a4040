"""A forced reply's text, read as it is generated, into OpenAI tool-call deltas.

The grammar (`tool_grammar`) fixes the shape: calls `{"name": "<name>", "arguments": <json>}`
one after another. Each call's first delta carries its index, id, type and name (and empty
arguments, as OpenAI's do) as soon as the name's closing quote arrives; every later piece of
text inside its arguments becomes an `arguments` delta, so a client sees the arguments grow
token by token and their concatenation is exactly the arguments' JSON text. Whitespace
between the head and the arguments, and the `}` and separator after them, belong to no call.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

# The head of a call up to the end of its name, and from there to its arguments.
_NAME = re.compile(r'\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")')
_ARGUMENTS = re.compile(r'\s*,\s*"arguments"\s*:\s*')


@dataclass(slots=True)
class _Call:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    closed: bool = False
    # Its index in the reply once shown; None while it may still repeat an earlier call.
    index: int | None = None

    @property
    def text(self) -> str:
        return "".join(self.arguments)


class ForcedCallReader:
    """Feed text in order; take the deltas each piece completes.

    Small models given room for several calls often write the same call again: a later call
    is held while its name and arguments so far repeat an earlier call's, and dropped if it
    ends as an exact repeat (a client would run it twice).
    """

    def __init__(self) -> None:
        self._calls: list[_Call] = []
        self._shown = 0
        self._state = "between"  # between | head | arguments
        self._head = ""  # the current call's text before its arguments
        self._named = False  # whether the current head's name has been read
        self._depth = 0
        self._in_string = self._escaped = False
        self._deltas: list[dict[str, Any]] = []

    @property
    def complete(self) -> bool:
        """At least one call shown, and every call shown is whole (a call still held as a
        possible repeat of an earlier one is not part of the reply)."""
        shown = [c for c in self._calls if c.index is not None]
        return bool(shown) and all(c.closed for c in shown)

    def feed(self, text: str) -> list[dict[str, Any]]:
        i = 0
        while i < len(text):
            if self._state == "arguments":
                i = self._read_arguments(text, i)
            elif self._state == "head":
                i = self._read_head(text, i)
            elif text[i] == "{":  # the next call opens
                self._state, self._head, self._named = "head", "", False
            else:
                i += 1  # the `}` that closes a call, a separator, whitespace
        out, self._deltas = self._deltas, []
        return out

    def calls(self) -> list[dict[str, Any]]:
        """Every call shown so far, whole: id, type, function name and arguments."""
        return [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.text}}
            for c in self._calls
            if c.index is not None
        ]

    def _read_head(self, text: str, i: int) -> int:
        """Head text (it has no `{` after its first): the call opens once its name is
        whole; the position in `text` where the arguments start, else the end of `text`."""
        before = len(self._head)
        self._head += text[i:]
        named = _NAME.match(self._head)
        if named is None:
            return len(text)
        if not self._named:
            self._named = True
            self._calls.append(_Call(f"call_{uuid.uuid4().hex[:24]}", json.loads(named.group(1))))
            self._update(self._calls[-1])
        opener = _ARGUMENTS.match(self._head, named.end())
        if opener is None or opener.end() == len(self._head):
            return len(text)  # the arguments have not started (more whitespace may come)
        self._state, self._depth, self._head = "arguments", 0, ""
        self._in_string = self._escaped = False
        return i + opener.end() - before

    def _read_arguments(self, text: str, i: int) -> int:
        start = i
        while i < len(text):
            char = text[i]
            i += 1
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
            if self._depth == 0 and not self._in_string:
                self._state = "between"  # the closing bracket ended the arguments
                break
        call = self._calls[-1]
        piece = text[start:i]
        if piece:
            call.arguments.append(piece)
        call.closed = self._state == "between"
        if call.index is not None:
            self._send_arguments(call, piece)
        else:
            self._update(call)
        return i

    def _update(self, call: _Call) -> None:
        """Show a held call once it no longer repeats an earlier one; drop an exact repeat."""
        so_far = call.text
        repeats = [
            c.text
            for c in self._calls
            if c.index is not None and c.name == call.name and c.text.startswith(so_far)
        ]
        if repeats and not call.closed:
            return  # held: it may still turn out to be a repeat
        if repeats:
            self._calls.remove(call)  # closed and identical to an earlier call
            return
        call.index, self._shown = self._shown, self._shown + 1
        self._deltas.append(
            {
                "index": call.index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
        )
        self._send_arguments(call, so_far)

    def _send_arguments(self, call: _Call, piece: str) -> None:
        if not piece:
            return
        last = self._deltas[-1] if self._deltas else None
        if last is not None and last["index"] == call.index and "id" not in last:
            last["function"]["arguments"] += piece  # one delta per call per fed piece
        else:
            self._deltas.append({"index": call.index, "function": {"arguments": piece}})
