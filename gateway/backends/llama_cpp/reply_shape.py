"""Generated text -> OpenAI reply shapes: messages, tool calls, stream chunk payloads."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from gateway.backends.llama_cpp.generation import TokenLogprob
from gateway.backends.llama_cpp.request_plan import Plan
from gateway.backends.llama_cpp.tool_text import CALL_OPENERS, parse_tool_calls

_encoder = msgspec.json.Encoder()


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def tool_calls_in(text: str, plan: Plan) -> list[dict[str, Any]] | None:
    """OpenAI `tool_calls` for the text, validated against the offered functions."""
    if plan.forced_tools:
        try:
            parsed = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return None  # cut off at max_tokens: the grammar had no chance to close it
        if not isinstance(parsed, dict) or parsed.get("name") not in plan.forced_tools:
            return None
        found = [(parsed["name"], parsed.get("arguments", {}))]
    elif plan.auto_functions:
        calls = parse_tool_calls(text, plan.auto_functions)
        if calls is None:
            return None
        found = [(c.name, c.arguments) for c in calls]
    else:
        return None
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": name, "arguments": _encoder.encode(arguments).decode()},
        }
        for name, arguments in found
    ]


def message(text: str, plan: Plan, finish: str | None) -> tuple[dict[str, Any], str | None]:
    calls = tool_calls_in(text, plan)
    if calls:
        return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
    return {"role": "assistant", "content": text}, finish


class StreamShaper:
    """Decides, as text arrives, whether it can be streamed as content or must be held.

    A forced tool choice is always held (it becomes tool-call deltas once parsed). With
    `auto` tools, text is held only if it opens like a call (`{`, a fence, a tag), so
    ordinary answers still stream token by token.
    """

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._holding: bool | None = True if plan.forced_tools else None
        if not plan.forced_tools and not plan.auto_functions:
            self._holding = False
        self._held: list[str] = []

    def push(self, text: str) -> str:
        """The part of `text` that may go to the client now."""
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

    def finish(self, finish: str | None) -> tuple[list[dict[str, Any]], str, str | None]:
        """(tool calls, text still to send, finish_reason) once generation is over."""
        held, self._held = "".join(self._held), []
        if not held:
            return [], "", finish
        calls = tool_calls_in(held, self._plan)
        if calls:
            return calls, "", "tool_calls"
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
