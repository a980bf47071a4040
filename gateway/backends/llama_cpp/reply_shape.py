"""Generated text -> OpenAI reply shapes: messages, tool calls, stream chunk payloads."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from gateway.backends.llama_cpp.generation import TokenLogprob
from gateway.backends.llama_cpp.request_plan import Plan
from gateway.backends.llama_cpp.tool_call_stream import ForcedCallReader
from gateway.backends.llama_cpp.tool_text import CALL_OPENERS, parse_tool_calls

_encoder = msgspec.json.Encoder()


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def tool_calls_in(text: str, plan: Plan) -> list[dict[str, Any]] | None:
    """OpenAI `tool_calls` in a reply with `auto` tools, validated against the functions."""
    calls = parse_tool_calls(text, plan.auto_functions) if plan.auto_functions else None
    if not calls:
        return None
    if not plan.auto_parallel:
        calls = calls[:1]
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": c.name, "arguments": _encoder.encode(c.arguments).decode()},
        }
        for c in calls
    ]


def message(text: str, plan: Plan, finish: str | None) -> tuple[dict[str, Any], str | None]:
    if plan.forced_tools:
        reader = ForcedCallReader()
        reader.feed(text)
        if reader.calls():
            return _calls_message(reader.calls()), _forced_finish(reader, finish)
        return {"role": "assistant", "content": text}, finish
    calls = tool_calls_in(text, plan)
    if calls:
        return _calls_message(calls), "tool_calls"
    return {"role": "assistant", "content": text}, finish


def _calls_message(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": calls}


def _forced_finish(reader: ForcedCallReader, finish: str | None) -> str | None:
    """`tool_calls` when every call is whole (also when `max_tokens` cut off only a repeat
    of an earlier call); a reply cut off inside a call keeps `length`, the arguments so far
    in the call, as OpenAI's do."""
    return "tool_calls" if reader.complete else finish


class StreamShaper:
    """Decides, as text arrives, what goes to the client now: content, or tool-call deltas.

    A forced tool choice becomes tool-call deltas as it is generated: a call's id and name
    once the name is decided, then its arguments piece by piece (`take_calls`); its text is
    content only if it ends before any call has a name. With `auto` tools, text is held only
    if it opens like a call (`{`, a fence, a tag), so ordinary answers still stream token by
    token; held text is parsed at the end.
    """

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._reader = ForcedCallReader() if plan.forced_tools else None
        self._holding: bool | None = None
        if not plan.forced_tools and not plan.auto_functions:
            self._holding = False
        self._held: list[str] = []
        self._deltas: list[dict[str, Any]] = []

    def push(self, text: str) -> str:
        """The part of `text` that may go to the client now as content."""
        if self._reader is not None:
            self._held.append(text)
            self._deltas += self._reader.feed(text)
            return ""
        if self._holding is False:
            return text
        self._held.append(text)
        if self._holding is None:
            start = "".join(self._held).lstrip()
            if not start:
                return ""
            opens = any(start.startswith(o) or o.startswith(start) for o in CALL_OPENERS)
            if not opens:
                self._holding = False
                out, self._held = "".join(self._held), []
                return out
        return ""

    def take_calls(self) -> list[dict[str, Any]]:
        """Tool-call deltas (each with its `index`) ready to send, in order."""
        out, self._deltas = self._deltas, []
        return out

    def finish(self, finish: str | None) -> tuple[list[dict[str, Any]], str, str | None]:
        """(tool-call deltas still to send, text still to send, finish_reason) once
        generation is over."""
        held, self._held = "".join(self._held), []
        if self._reader is not None:
            if self._reader.calls():
                return self.take_calls(), "", _forced_finish(self._reader, finish)
            return [], held, finish  # cut off before any call had a name
        if not held:
            return [], "", finish
        calls = tool_calls_in(held, self._plan)
        if calls:
            return [{"index": i, **c} for i, c in enumerate(calls)], "", "tool_calls"
        return [], held, finish


def logprobs_field(entries: list[TokenLogprob], plan: Plan, *, chat: bool) -> dict[str, Any] | None:
    """OpenAI's `logprobs` object: chat's `content` list, or the legacy parallel lists."""
    if plan.sampling.logprobs is None:
        return None
    if chat:
        return {
            "content": [
                {
                    "token": e.token,
                    "logprob": e.logprob,
                    "bytes": list(e.raw),
                    "top_logprobs": [
                        {"token": t, "logprob": lp, "bytes": list(raw)} for t, raw, lp in e.top
                    ],
                }
                for e in entries
            ],
            "refusal": None,
        }
    offsets: list[int] = []
    position = 0
    for e in entries:
        offsets.append(position)
        position += len(e.token)
    return {
        "tokens": [e.token for e in entries],
        "token_logprobs": [e.logprob for e in entries],
        "top_logprobs": [{t: lp for t, _, lp in e.top} for e in entries],
        "text_offset": offsets,
    }
