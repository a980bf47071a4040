"""Anthropic Messages <-> chat: request mapping, replies and streams checked by the anthropic
SDK's own models, errors, and a property: what both APIs express survives the trip."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import GatewayError, InvalidRequestError
from gateway.protocol.anthropic_messages import CountTokensRequest, MessagesRequest
from gateway.translate import (
    MessagesStream,
    anthropic_error,
    chat_to_message,
    count_tokens_to_chat,
    messages_to_chat,
    ping,
)

anthropic = pytest.importorskip("anthropic")
from anthropic.types import Message, RawMessageStreamEvent  # noqa: E402
from anthropic.types.shared import ErrorResponse  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402


def req(**fields: Any) -> MessagesRequest:
    return msgspec.convert({"model": "m", "max_tokens": 100, **fields}, MessagesRequest)


def test_request_fields_map_to_chat() -> None:
    chat = messages_to_chat(
        req(
            system=[{"type": "text", "text": "be brief"}],
            messages=[{"role": "user", "content": "hi"}],
            stop_sequences=["END"],
            temperature=0.5,
            top_p=0.8,
            top_k=40,
            metadata={"user_id": "u1"},
            tools=[{"name": "w", "description": "d", "input_schema": {"type": "object"}}],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            stream=True,
        )
    )
    assert chat["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert chat["stop"] == ["END"] and chat["max_tokens"] == 100 and chat["user"] == "u1"
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["tools"][0]["function"] == {
        "name": "w",
        "description": "d",
        "parameters": {"type": "object"},
    }
    assert chat["top_k"] == 40 and chat["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "w"}, {"type": "function", "function": {"name": "w"}}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    chat = messages_to_chat(req(messages=[{"role": "user", "content": "x"}], tool_choice=choice))
    assert chat["tool_choice"] == expected


def test_tool_round_trip_and_images() -> None:
    chat = messages_to_chat(
        req(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "AA"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "calling"},
                        {"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "P"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "boom"}],
                            "is_error": True,
                        },
                        {"type": "text", "text": "and?"},
                    ],
                },
            ]
        )
    )
    user, assistant, tool, follow = chat["messages"]
    assert user["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AA"},
    }
    assert assistant["content"] == "calling"
    assert assistant["tool_calls"][0]["function"] == {"name": "w", "arguments": '{"city":"P"}'}
    assert tool == {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"}
    assert follow == {"role": "user", "content": "and?"}


def test_server_tools_are_refused() -> None:
    request = req(
        messages=[{"role": "user", "content": "x"}],
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
    )
    assert request.server_tool_types == ["web_search_20250305"]
    with pytest.raises(InvalidRequestError):
        messages_to_chat(request)


def test_count_tokens_input() -> None:
    request = msgspec.convert(
        {"model": "m", "system": "s", "messages": [{"role": "user", "content": "x"}]},
        CountTokensRequest,
    )
    assert count_tokens_to_chat(request)["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "x"},
    ]


def reply(finish: str, **message: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 3,
            "total_tokens": 13,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }


def test_reply_validates_against_the_sdk() -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"a":1}'}},
        {"id": "c2", "type": "function", "function": {"name": "w", "arguments": "not json"}},
    ]
    body = chat_to_message(
        reply("tool_calls", content="hi", tool_calls=calls),
        message_id="msg_1",
        request=req(messages=[{"role": "user", "content": "x"}]),
    )
    parsed = Message.model_validate(body)
    assert parsed.stop_reason == "tool_use"
    assert body["content"][1]["input"] == {"a": 1}
    assert body["content"][2]["input"] == {"_raw_arguments": "not json"}
    assert body["usage"] == {"input_tokens": 6, "output_tokens": 3, "cache_read_input_tokens": 4}
    # the raw arguments come back unchanged on the next turn
    again = messages_to_chat(req(messages=[{"role": "assistant", "content": body["content"]}]))
    assert again["messages"][0]["tool_calls"][1]["function"]["arguments"] == "not json"


@pytest.mark.parametrize(
    ("finish", "extra", "expected"),
    [
        ("stop", {}, ("end_turn", None)),
        ("stop", {"stop_reason": "END"}, ("stop_sequence", "END")),
        ("length", {}, ("max_tokens", None)),
        ("content_filter", {}, ("refusal", None)),
    ],
)
def test_stop_reason(finish: str, extra: dict[str, Any], expected: tuple[str, str | None]) -> None:
    body = reply(finish, content="x")
    body["choices"][0].update(extra)
    out = chat_to_message(
        body,
        message_id="msg_1",
        request=req(messages=[{"role": "user", "content": "x"}], stop_sequences=["END"]),
    )
    assert (out["stop_reason"], out["stop_sequence"]) == expected


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {"model": "m", "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def tool_delta(
    index: int, args: str, id_: str | None = None, name: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {
        "index": index,
        "function": {"arguments": args, **({"name": name} if name else {})},
    }
    if id_:
        call["id"] = id_
    return chunk({"tool_calls": [call]})


def test_stream_events_validate_and_concatenate() -> None:
    stream = MessagesStream(
        message_id="msg_1", request=req(messages=[{"role": "user", "content": "x"}])
    )
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        tool_delta(0, '{"ci', "c1", "w"),
        tool_delta(0, 'ty":"P"}'),
        tool_delta(1, "", "c2", "t"),
        tool_delta(1, '{"x":'),
        tool_delta(1, "2}"),
        chunk(finish="tool_calls"),
        {
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10},
        },
    ]
    events = [e for c in chunks for e in stream.feed(c)] + stream.finish()
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    for event in events:
        adapter.validate_python(event)
    types = [e["type"] for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    starts = [
        (e["index"], e["content_block"]["type"])
        for e in events
        if e["type"] == "content_block_start"
    ]
    assert starts == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    stops = [e["index"] for e in events if e["type"] == "content_block_stop"]
    assert stops == [0, 1, 2]

    def joined(index: int, key: str) -> str:
        return "".join(
            e["delta"][key]
            for e in events
            if e["type"] == "content_block_delta" and e["index"] == index
        )

    assert joined(0, "text") == "Hello"
    assert joined(1, "partial_json") == '{"city":"P"}' and joined(2, "partial_json") == '{"x":2}'
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["output_tokens"] == 7


def test_stream_length_and_error() -> None:
    stream = MessagesStream(
        message_id="msg_1", request=req(messages=[{"role": "user", "content": "x"}])
    )
    events = (
        stream.feed(chunk({"content": "a"})) + stream.feed(chunk(finish="length")) + stream.finish()
    )
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"
    broken = MessagesStream(
        message_id="msg_2", request=req(messages=[{"role": "user", "content": "x"}])
    )
    failed = broken.feed(chunk({"content": "a"})) + broken.finish(GatewayError("boom"))
    ErrorResponse.model_validate(failed[-1])
    assert failed[-1]["error"]["type"] == "api_error"
    assert ping() == {"type": "ping"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "overloaded_error"),
        (529, "overloaded_error"),
    ],
)
def test_anthropic_error(status: int, kind: str) -> None:
    code, body = anthropic_error(status, "m")
    assert code == status and body == {"type": "error", "error": {"type": kind, "message": "m"}}


# --- property: a chat request both APIs can express survives chat -> messages -> chat ------

texts = st.text(min_size=1, max_size=20)
names = st.from_regex(r"[a-z]{1,8}", fullmatch=True)


@st.composite
def chat_requests(draw: st.DrawFn) -> dict[str, Any]:
    tool_names = draw(st.lists(names, max_size=3, unique=True))
    messages: list[dict[str, Any]] = []
    for turn in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(texts)})
        if tool_names and draw(st.booleans()):
            call_id = f"call_{turn}"
            messages.append(
                {
                    "role": "assistant",
                    "content": draw(st.none() | texts),
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": draw(st.sampled_from(tool_names)),
                                "arguments": '{"q":1}',
                            },
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": call_id, "content": draw(texts)})
            messages.append({"role": "assistant", "content": draw(texts)})
    chat: dict[str, Any] = {
        "model": "m",
        "messages": messages,
        "max_tokens": draw(st.integers(1, 4096)),
    }
    if draw(st.booleans()):
        chat["messages"] = [{"role": "system", "content": draw(texts)}, *messages]
    if tool_names:
        chat["tools"] = [
            {
                "type": "function",
                "function": {"name": n, "description": "d", "parameters": {"type": "object"}},
            }
            for n in tool_names
        ]
        chat["tool_choice"] = draw(
            st.sampled_from(
                [
                    "auto",
                    "required",
                    "none",
                    {"type": "function", "function": {"name": tool_names[0]}},
                ]
            )
        )
    if draw(st.booleans()):
        chat["stop"] = draw(st.lists(texts, min_size=1, max_size=3))
    for key in ("temperature", "top_p"):
        if draw(st.booleans()):
            chat[key] = draw(st.floats(0, 1))
    return chat


def to_anthropic(chat: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": chat["model"],
        "max_tokens": chat["max_tokens"],
        "messages": [],
    }
    for m in chat["messages"]:
        if m["role"] == "system":
            body["system"] = m["content"]
        elif m["role"] == "tool":
            body["messages"].append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": m["tool_call_id"],
                            "content": m["content"],
                        }
                    ],
                }
            )
        elif m.get("tool_calls"):
            blocks = [{"type": "text", "text": m["content"]}] if m["content"] else []
            blocks += [
                {
                    "type": "tool_use",
                    "id": c["id"],
                    "name": c["function"]["name"],
                    "input": msgspec.json.decode(c["function"]["arguments"]),
                }
                for c in m["tool_calls"]
            ]
            body["messages"].append({"role": "assistant", "content": blocks})
        else:
            body["messages"].append({"role": m["role"], "content": m["content"]})
    if "tools" in chat:
        body["tools"] = [
            {
                "name": t["function"]["name"],
                "description": "d",
                "input_schema": t["function"]["parameters"],
            }
            for t in chat["tools"]
        ]
        choice = chat["tool_choice"]
        body["tool_choice"] = (
            {"type": "tool", "name": choice["function"]["name"]}
            if isinstance(choice, dict)
            else {"type": {"required": "any"}.get(choice, choice)}
        )
    if "stop" in chat:
        body["stop_sequences"] = chat["stop"]
    for key in ("temperature", "top_p"):
        if key in chat:
            body[key] = chat[key]
    return body


@settings(max_examples=150, deadline=None)
@given(chat_requests())
def test_chat_to_messages_to_chat_keeps_shared_fields(chat: dict[str, Any]) -> None:
    back = messages_to_chat(msgspec.convert(to_anthropic(chat), MessagesRequest))
    assert back == chat
