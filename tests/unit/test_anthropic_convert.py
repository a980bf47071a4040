"""Chat <-> Anthropic Messages for the `type: anthropic` backend: the request out, the reply
and the stream back, the loopback API's fidelity (checked by the anthropic SDK's own models)
and a property: whatever both APIs express survives chat -> Anthropic -> chat."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.backends.anthropic_convert import (
    AnthropicReply,
    anthropic_to_chat,
    chat_to_anthropic,
    finish_reason,
)
from gateway.backends.anthropic_native import AnthropicBackend
from gateway.backends.anthropic_stream import AnthropicStreamError, ChunkTranslator
from gateway.backends.http_pool import HTTPPool
from gateway.errors import InvalidRequestError
from gateway.protocol.anthropic_messages import MessagesRequest
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import raw
from gateway.settings.anthropic_types import AnthropicBackendSpec
from gateway.settings.upstream_types import Timeouts
from gateway.testing.anthropic_checks import RequestProblem, check_request
from gateway.testing.anthropic_script import Script, events_of, reply_to
from gateway.testing.anthropic_upstream import LISTED_MODELS, AnthropicUpstream
from gateway.translate.messages import messages_to_chat

anthropic = pytest.importorskip("anthropic")
from anthropic.types import Message, RawMessageStreamEvent  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

Json = dict[str, Any]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def chat(**fields: Any) -> ChatCompletionRequest:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return msgspec.convert({"model": "m", **fields}, ChatCompletionRequest)


def body_of(**fields: Any) -> Json:
    extra = fields.pop("_fields", None)
    out = chat_to_anthropic(chat(**fields), "claude-x", default_max_tokens=321, fields=extra)
    check_request(out.body)  # every body the backend sends passes the API's own checks
    return out.body


# --- the request --------------------------------------------------------------------------


def test_system_and_developer_messages_become_system_in_order() -> None:
    body = body_of(
        messages=[
            {"role": "system", "content": "one"},
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": [{"type": "text", "text": "two"}]},
        ]
    )
    assert body["system"] == [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body_of(messages=[{"role": "system", "content": "s"}, USER_HI])["system"] == "s"


USER_HI = {"role": "user", "content": "hi"}


def test_tool_turns_become_tool_use_and_one_merged_tool_result_turn() -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
    ]
    body = body_of(
        messages=[
            USER_HI,
            {"role": "assistant", "content": "let me see", "tool_calls": calls},
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "two"}]},
            {"role": "user", "content": "and?"},
        ]
    )
    assistant, results = body["messages"][1:]
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "let me see"},
            {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
            {"type": "tool_use", "id": "c2", "name": "g", "input": {"_raw_arguments": "not json"}},
        ],
    }
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "one"},
            {"type": "tool_result", "tool_use_id": "c2", "content": "two"},
            {"type": "text", "text": "and?"},
        ],
    }


def test_images_become_base64_or_url_sources() -> None:
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    blocks = body_of(messages=[{"role": "user", "content": parts}])["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert blocks[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}, "[0]"),
        ({"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}, ""),
        ({"type": "image_url", "image_url": {"url": "data:image/png,plain"}}, ""),
    ],
)
def test_parts_anthropic_cannot_take_are_a_400(part: Json, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        body_of(messages=[{"role": "user", "content": [part]}])
    assert caught.value.param == f"messages{param and '[0].content' + param}"


def test_tools_and_tool_choice_map() -> None:
    body = body_of(tools=[WEATHER])
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "weather by city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert "tool_choice" not in body
    expected = {"auto": "auto", "none": "none", "required": "any"}
    for choice, kind in expected.items():
        assert body_of(tools=[WEATHER], tool_choice=choice)["tool_choice"] == {"type": kind}
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert body_of(tools=[WEATHER], tool_choice=named)["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
    }
    no_parallel = body_of(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    assert no_parallel["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body_of(tools=[WEATHER], parallel_tool_calls=False)["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    # `none` takes no parallel flag; a parameterless function gets an empty object schema
    assert body_of(tools=[WEATHER], tool_choice="none", parallel_tool_calls=False)[
        "tool_choice"
    ] == {"type": "none"}
    bare = body_of(tools=[{"type": "function", "function": {"name": "now"}}])["tools"][0]
    assert bare == {"name": "now", "input_schema": {"type": "object", "properties": {}}}


def test_sampling_limits_and_user_map() -> None:
    body = body_of(
        stop="END",
        temperature=0.3,
        top_p=0.9,
        max_tokens=70,
        max_completion_tokens=50,
        user="u-1",
        seed=7,
        presence_penalty=1.0,
        _fields={"top_k": raw(5)},
    )
    assert body["stop_sequences"] == ["END"]
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.3, 0.9, 5)
    assert body["max_tokens"] == 50  # the smaller of the two limits
    assert body["metadata"] == {"user_id": "u-1"}
    assert not {"seed", "presence_penalty", "user", "stop"} & set(body)
    assert body_of()["max_tokens"] == 321  # the backend's default_max_tokens
    assert body_of(stop=["a", "b"])["stop_sequences"] == ["a", "b"]
    assert body_of(stream=True)["stream"] is True


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        (
            {
                "tools": [WEATHER],
                "response_format": {"type": "json_schema", "json_schema": {"name": "a"}},
            },
            "response_format",
        ),
    ],
)
def test_what_anthropic_cannot_honour_is_a_400(fields: Json, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        body_of(**fields)
    assert caught.value.param == param


def test_json_schema_becomes_a_forced_tool_and_its_input_the_answer() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    rf = {"type": "json_schema", "json_schema": {"name": "count", "schema": schema}}
    out = chat_to_anthropic(chat(response_format=rf), "c", default_max_tokens=9)
    assert out.json_tool == "count"
    assert out.body["tools"][0]["input_schema"] == schema
    assert out.body["tool_choice"] == {"type": "tool", "name": "count"}
    reply = _reply([{"type": "tool_use", "id": "t", "name": "count", "input": {"n": 3}}])
    reply["stop_reason"] = "tool_use"
    got = anthropic_to_chat(msgspec.convert(reply, AnthropicReply), out.json_tool)
    assert got["choices"][0]["message"] == {"role": "assistant", "content": '{"n":3}'}
    assert got["choices"][0]["finish_reason"] == "stop"
    json_object = chat_to_anthropic(
        chat(response_format={"type": "json_object"}), "c", default_max_tokens=9
    )
    assert json_object.body["tools"][0]["input_schema"] == {"type": "object"}


# --- the reply ----------------------------------------------------------------------------


def _reply(content: list[Json], **usage: int) -> Json:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 4, **usage},
    }


def test_reply_text_tool_calls_and_usage() -> None:
    reply = _reply(
        [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Hello "},
            {"type": "text", "text": "there"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}},
        ],
        cache_read_input_tokens=100,
        cache_creation_input_tokens=20,
    )
    reply["stop_reason"] = "tool_use"
    Message.model_validate(reply)  # the fixture is a real Messages reply
    got = anthropic_to_chat(msgspec.convert(reply, AnthropicReply))
    assert got["id"] == "chatcmpl-msg_1"
    assert got["object"] == "chat.completion"
    choice = got["choices"][0]
    assert choice["message"]["content"] == "Hello there"
    assert choice["message"]["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a":[1,2]}'}}
    ]
    assert choice["finish_reason"] == "tool_calls"
    assert got["usage"] == {
        "prompt_tokens": 130,
        "completion_tokens": 4,
        "total_tokens": 134,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    empty = anthropic_to_chat(msgspec.convert(_reply([]), AnthropicReply))
    assert empty["choices"][0]["message"] == {"role": "assistant", "content": None}


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop: str | None, finish: str) -> None:
    assert finish_reason(stop) == finish


# --- the stream ---------------------------------------------------------------------------


def _feed(translator: ChunkTranslator, events: list[Json]) -> list[Json]:
    return [c for e in events for c in translator.feed(msgspec.json.encode(e))]


def _events(**script: Any) -> list[Json]:
    body = {
        "model": "claude-x",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "the weather in two cities please"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
    }
    events = events_of(reply_to(body, Script(**script)))
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    for event in events:
        if event["type"] != "ping":  # the SDK skips pings before its models see them
            adapter.validate_python(event)  # the loopback streams what the real API streams
    return events


def test_stream_two_parallel_tool_calls_keep_stable_indices() -> None:
    events = _events(tools=2)
    chunks = _feed(ChunkTranslator("b", "m"), events)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-msg_")
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant" and all("role" not in d for d in deltas[1:])
    text = "".join(d.get("content") or "" for d in deltas)
    assert text == "Let me check."
    calls: dict[int, Json] = {}
    for delta in deltas:
        for call in delta.get("tool_calls", []):
            entry = calls.setdefault(call["index"], {"arguments": ""})
            if "id" in call:
                assert "id" not in entry, "only the first delta of a call carries its id"
                entry.update(id=call["id"], name=call["function"]["name"])
            entry["arguments"] += call["function"]["arguments"]
    assert sorted(calls) == [0, 1]
    uses = [e["content_block"] for e in events if e["type"] == "content_block_start"][1:]
    for index, use in enumerate(uses):
        assert calls[index]["id"] == use["id"]
        assert msgspec.json.decode(calls[index]["arguments"]) == {"city": ["Paris", "Tokyo"][index]}
    finish, usage = chunks[-2:]
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 1


def test_stream_usage_merges_message_start_and_message_delta() -> None:
    events = _events(cache=True)
    chunks = _feed(ChunkTranslator("b", "m"), events)
    start = events[0]["message"]["usage"]
    final = next(e for e in events if e["type"] == "message_delta")["usage"]
    prompt = start["input_tokens"] + 5 + 2
    assert chunks[-1]["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": final["output_tokens"],
        "total_tokens": prompt + final["output_tokens"],
        "prompt_tokens_details": {"cached_tokens": 5},
    }


def test_stream_without_content_still_sends_role_then_finish() -> None:
    chunks = _feed(ChunkTranslator("b", "m"), _events(refusal=True))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["choices"][0]["finish_reason"] == "content_filter"


def test_stream_skips_pings_and_unknown_events_and_raises_on_error() -> None:
    translator = ChunkTranslator("up", "m")
    quiet = [{"type": "ping"}, {"type": "brand_new_event", "x": 1}]
    assert _feed(translator, [*_events()[:1], *quiet]) == []
    assert translator.started and not translator.finished
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(AnthropicStreamError) as caught:
        _feed(translator, [error])
    assert caught.value.status_code == 503
    assert msgspec.json.decode(caught.value.body())["error"]["message"] == "Overloaded"


def test_stream_drops_blocks_chat_cannot_carry() -> None:
    server_use = {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}}
    events = [
        {"type": "content_block_start", "index": 0, "content_block": server_use},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "input_json_delta", "partial_json": '{"q": "x"}'}},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "thinking_delta", "thinking": "hmm"}},
    ]  # fmt: skip
    assert _feed(ChunkTranslator("b", "m"), events) == []


def test_stream_forced_tool_streams_as_text() -> None:
    start = {"type": "tool_use", "id": "t", "name": "answer", "input": {}}
    events = [
        {"type": "content_block_start", "index": 0, "content_block": start},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"n":'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "3}"},
        },
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {}},
        {"type": "message_stop"},
    ]
    chunks = _feed(ChunkTranslator("b", "m", json_tool="answer"), events)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == '{"n":3}'
    assert not any("tool_calls" in d for d in deltas)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


# --- the loopback API and model listing ---------------------------------------------------


def test_loopback_checks_refuse_what_the_api_refuses() -> None:
    base = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    check_request(base)
    bad = [
        {k: v for k, v in base.items() if k != "max_tokens"},
        {**base, "messages": [{"role": "system", "content": "x"}]},
        {**base, "temperature": 1.5},
        {
            **base,
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}],
                },
                {"role": "user", "content": "no result"},
            ],
        },
    ]
    for body in bad:
        with pytest.raises(RequestProblem):
            check_request(body)


def test_list_models_follows_pages() -> None:
    async def run() -> list[str]:
        upstream = AnthropicUpstream(require_key="k", models_page_size=2)
        async with TestServer(upstream.app()) as server:
            spec = AnthropicBackendSpec(base_url=str(server.make_url("")).rstrip("/"))
            backend = AnthropicBackend("a", spec, Timeouts(), HTTPPool(), api_key="k")
            return await backend.list_models()

    assert asyncio.run(run()) == LISTED_MODELS


# --- the property: chat -> Anthropic -> chat keeps what both express ------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1).filter(
    str.strip
)
_args = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> Json:
    messages: list[Json] = []
    calls = 0
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            messages.append(
                {"role": draw(st.sampled_from(["system", "developer"])), "content": draw(_text)}
            )
        messages.append({"role": "user", "content": draw(_text)})
        n = draw(st.integers(0, 3))
        ids = [f"call_{calls + i}" for i in range(n)]
        calls += n
        assistant: Json = {"role": "assistant", "content": draw(st.none() | _text)}
        if n:
            assistant["tool_calls"] = [
                {
                    "id": i,
                    "type": "function",
                    "function": {
                        "name": draw(st.sampled_from(["f", "g"])),
                        "arguments": msgspec.json.encode(draw(_args)).decode(),
                    },
                }
                for i in ids
            ]
        elif assistant["content"] is None:
            continue
        messages.append(assistant)
        messages.extend({"role": "tool", "tool_call_id": i, "content": draw(_text)} for i in ids)
    messages.append({"role": "user", "content": draw(_text)})
    request: Json = {"model": "m", "messages": messages}
    optional = {
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 10_000),
        "stop": st.lists(_text, min_size=1, max_size=3),
        "user": _text,
        "tools": st.just([WEATHER]),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            request[key] = draw(strategy)
    return request


def _flat(messages: list[Json]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """System texts, and every other turn's pieces in order, with arguments decoded."""
    system, items = [], []
    for m in messages:
        if m["role"] in ("system", "developer"):
            system.append(m["content"])
        elif m["role"] == "tool":
            items.append(("tool", m["tool_call_id"], m["content"]))
        else:
            content = m.get("content")
            texts = (
                [content]
                if isinstance(content, str)
                else [p["text"] for p in content or [] if p.get("type") == "text"]
            )
            items.extend((m["role"], t) for t in texts if t)
            for c in m.get("tool_calls") or []:
                f = c["function"]
                items.append(("call", c["id"], f["name"], msgspec.json.decode(f["arguments"])))
    return system, items


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_chat_to_anthropic_keeps_what_both_express(request: Json) -> None:
    out = chat_to_anthropic(
        msgspec.convert(request, ChatCompletionRequest), "m", default_max_tokens=99
    )
    check_request(out.body)
    back = messages_to_chat(msgspec.convert(out.body, MessagesRequest))
    system, items = _flat(request["messages"])
    back_system, back_items = _flat(back["messages"])
    assert "\n".join(back_system) == "\n".join(system)
    assert back_items == items
    for key in ("temperature", "top_p", "max_tokens", "stop", "user"):
        assert back.get(key) == request.get(key, 99 if key == "max_tokens" else None)
    assert [t["function"]["name"] for t in back.get("tools", [])] == [
        t["function"]["name"] for t in request.get("tools", [])
    ]
