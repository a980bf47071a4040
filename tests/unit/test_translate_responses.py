"""Responses API <-> chat: request mapping, reply shape (checked by the openai SDK's models)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.errors import GatewayError, InvalidRequestError
from gateway.protocol.responses import ResponsesRequest
from gateway.translate import ResponsesStream, chat_to_response, responses_to_chat


def req(**fields: Any) -> ResponsesRequest:
    return msgspec.convert({"model": "m", **fields}, ResponsesRequest)


def test_request_fields_map_to_chat() -> None:
    chat = responses_to_chat(
        req(
            instructions="be brief",
            input="hi",
            max_output_tokens=50,
            temperature=0.3,
            top_p=0.9,
            user="u",
            stream=True,
            tool_choice={"type": "function", "name": "f"},
            tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            text={"format": {"type": "json_schema", "name": "s", "schema": {}, "strict": True}},
            store=True,
            unknown_field=1,
        )
    )
    assert chat["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert chat["max_tokens"] == 50 and chat["temperature"] == 0.3 and chat["top_p"] == 0.9
    assert chat["user"] == "u" and chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "s", "schema": {}, "strict": True},
    }
    assert "store" not in chat


def test_tool_round_trip_merges_parallel_calls_and_prepends_history() -> None:
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "ok"}]
    chat = responses_to_chat(
        req(
            input=[
                {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
                {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sun"},
                {"type": "function_call_output", "call_id": "c2", "output": "rain"},
            ]
        ),
        history,
    )
    msgs = chat["messages"]
    assert msgs[:2] == history
    assert msgs[2] == {"role": "user", "content": [{"type": "text", "text": "weather?"}]}
    assert [c["id"] for c in msgs[3]["tool_calls"]] == ["c1", "c2"]
    assert msgs[4:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "sun"},
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
    ]


def test_builtin_tools_are_detected_and_refused() -> None:
    request = req(input="x", tools=[{"type": "web_search"}])
    assert request.builtin_tool_types == ["web_search"]
    with pytest.raises(InvalidRequestError):
        responses_to_chat(request)


def test_input_image_becomes_image_url_part() -> None:
    part = {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"}
    chat = responses_to_chat(req(input=[{"role": "user", "content": [part]}]))
    assert chat["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}}
    ]


def reply(finish: str = "stop", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }


def test_reply_with_text_and_tool_calls_validates_against_the_sdk() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]
    body = chat_to_response(
        reply("tool_calls", content="hello", tool_calls=calls),
        response_id="resp_1",
        created=1,
        request=req(input="x"),
    )
    parsed = Response.model_validate(body)
    assert parsed.output_text == "hello" and parsed.status == "completed"
    assert body["output"][1]["call_id"] == "c1" and body["output"][1]["arguments"] == '{"a":1}'
    assert body["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert body["usage"]["total_tokens"] == 15


def test_length_is_incomplete() -> None:
    body = chat_to_response(
        reply("length", content="cut"), response_id="resp_1", created=1, request=req(input="x")
    )
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    Response.model_validate(body)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "model": "m",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


def tool_delta(
    index: int, args: str, *, id_: str | None = None, name: str | None = None
) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": args}
    if name:
        function["name"] = name
    call: dict[str, Any] = {"index": index, "function": function}
    if id_:
        call["id"] = id_
    return chunk({"tool_calls": [call]})


CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    tool_delta(0, '{"ci', id_="call_a", name="w"),
    tool_delta(0, 'ty":"P"}'),
    tool_delta(1, "", id_="call_b", name="t"),
    tool_delta(1, '{"x":'),
    tool_delta(1, "2}"),
    chunk(finish="tool_calls"),
    {
        "id": "c",
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10},
    },
]


def run_stream(
    chunks: list[dict[str, Any]], error: GatewayError | None = None
) -> list[dict[str, Any]]:
    stream = ResponsesStream(response_id="resp_9", created=1, request=req(input="x", stream=True))
    events: list[dict[str, Any]] = []
    for c in chunks:
        events.extend(stream.feed(c))
    events.extend(stream.finish(error))
    return events


def test_stream_order_indices_and_deltas() -> None:
    events = run_stream(CHUNKS)
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    for event in events:
        adapter.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert text == done["text"] == "Hello"
    for index, expected in ((1, '{"city":"P"}'), (2, '{"x":2}')):
        deltas = [
            e
            for e in events
            if e["type"] == "response.function_call_arguments.delta" and e["output_index"] == index
        ]
        final = next(
            e
            for e in events
            if e["type"] == "response.function_call_arguments.done" and e["output_index"] == index
        )
        assert "".join(d["delta"] for d in deltas) == final["arguments"] == expected
    # each item is added, then closed, before the next one is added
    markers = [
        (e["type"], e["output_index"])
        for e in events
        if e["type"].startswith("response.output_item")
    ]
    assert markers == [
        ("response.output_item.added", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.output_item.done", 1),
        ("response.output_item.added", 2),
        ("response.output_item.done", 2),
    ]
    final_response = Response.model_validate(events[-1]["response"])
    assert final_response.output_text == "Hello"
    assert final_response.usage is not None and final_response.usage.output_tokens == 7
    assert [o.type for o in final_response.output] == ["message", "function_call", "function_call"]


def test_stream_cut_off_is_incomplete() -> None:
    events = run_stream([chunk({"content": "abc"}), chunk(finish="length")])
    assert events[-1]["type"] == "response.incomplete"
    Response.model_validate(events[-1]["response"])


def test_stream_failure_ends_with_response_failed() -> None:
    events = run_stream([chunk({"content": "abc"})], GatewayError("boom"))
    assert events[-1]["type"] == "response.failed"
    parsed = Response.model_validate(events[-1]["response"])
    assert parsed.error is not None and parsed.error.message == "boom"
