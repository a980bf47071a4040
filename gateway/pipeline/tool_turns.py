"""The request edits of the gateway's tool loop: the route's tools merged with the client's,
the next round's request (the assistant's calls and their results appended), and usage
summed over rounds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from gateway.errors import InvalidRequestError
from gateway.pipeline.parsed import ParsedRequest
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import RawFields, encode_fields, raw

_list = msgspec.json.Decoder(list[dict[str, Any]])
_request = msgspec.json.Decoder(ChatCompletionRequest)
_any = msgspec.json.Decoder()
USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def with_gateway_tools(parsed: ParsedRequest, offered: Sequence[dict[str, Any]]) -> ParsedRequest:
    """The request with the route's tool definitions before the client's; a client tool of
    the same name as a gateway tool is a 400 naming it."""
    request = parsed.request
    if not isinstance(request, ChatCompletionRequest):
        return parsed
    choices = request.n
    if isinstance(choices, int) and choices > 1:
        raise InvalidRequestError(
            "`n` > 1 is not supported on a route with gateway tools (each choice would run "
            "its own tools).",
            param="n",
        )
    client = _list.decode(parsed.fields["tools"]) if "tools" in parsed.fields else []
    ours = {d["function"]["name"] for d in offered}
    for tool in client:
        name = (tool.get("function") or {}).get("name")
        if name in ours:
            raise InvalidRequestError(
                f"The tool `{name}` is also one this route runs itself: rename the client's.",
                param="tools",
                code="tool_name_conflict",
            )
    fields = {**parsed.fields, "tools": raw([*offered, *client])}
    return _parsed(parsed, fields)


def next_round(
    parsed: ParsedRequest, assistant: dict[str, Any], results: Sequence[dict[str, Any]]
) -> ParsedRequest:
    """The request of the next round: the assistant's turn and the tool results appended;
    a forced tool choice (`required`, one named function) applies to the first round only,
    or the model could never answer."""
    messages = _list.decode(parsed.fields["messages"])
    messages.append(assistant)
    messages.extend(results)
    fields = {**parsed.fields, "messages": raw(messages)}
    choice = _any.decode(fields["tool_choice"]) if "tool_choice" in fields else None
    if choice == "required" or isinstance(choice, dict):
        fields["tool_choice"] = raw("auto")
    return _parsed(parsed, fields)


def assistant_turn(message: dict[str, Any], calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message a round adds to the conversation: its text and the calls the
    gateway ran."""
    return {"role": "assistant", "content": message.get("content"), "tool_calls": list(calls)}


def tool_message(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def add_usage(total: dict[str, int], usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    for name in USAGE_FIELDS:
        value = usage.get(name)
        if isinstance(value, int) and value >= 0:
            total[name] = total.get(name, 0) + value


def summed(total: dict[str, int], last: Any) -> dict[str, Any]:
    """The last round's usage object (its details kept) with every round's tokens."""
    out = dict(last) if isinstance(last, dict) else {}
    for name in USAGE_FIELDS:
        out[name] = total.get(name, 0)
    return out


def _parsed(parsed: ParsedRequest, fields: RawFields) -> ParsedRequest:
    # The fields are the client's (already validated) plus what the loop wrote.
    return ParsedRequest(parsed.endpoint, _request.decode(encode_fields(fields)), fields)
