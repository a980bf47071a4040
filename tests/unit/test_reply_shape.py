from __future__ import annotations

from gateway.backends.llama_cpp.generation import Sampling
from gateway.backends.llama_cpp.reply_shape import StreamShaper, message
from gateway.backends.llama_cpp.request_plan import Plan
from gateway.protocol.chat import FunctionDefinition

WEATHER = FunctionDefinition(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
AUTO = Plan(tokens=[1], sampling=Sampling(max_tokens=5), auto_functions=(WEATHER,))


def test_plain_answers_stream_at_once_with_auto_tools() -> None:
    shaper = StreamShaper(AUTO)
    assert shaper.push("  ") == ""
    assert shaper.push("Hello") == "  Hello"
    assert shaper.push(" there") == " there"
    assert shaper.finish("stop") == ([], "", "stop")


def test_text_that_opens_like_a_call_is_held_and_parsed() -> None:
    shaper = StreamShaper(AUTO)
    pieces = ['{"name": ', '"get_weather", "arguments": ', '{"city": "Oslo"}}']
    assert [shaper.push(p) for p in pieces] == ["", "", ""]
    calls, text, finish = shaper.finish("stop")
    assert finish == "tool_calls" and text == ""
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}


def test_two_calls_in_a_row_stream_as_two_indexed_calls_unless_parallel_is_off() -> None:
    text = '{"name": "get_weather", "arguments": {"city": "Oslo"}}\n' * 2
    shaper = StreamShaper(AUTO)
    assert shaper.push(text) == ""
    calls, _, finish = shaper.finish("stop")
    assert finish == "tool_calls" and [c["index"] for c in calls] == [0, 1]
    assert calls[0]["id"] != calls[1]["id"]
    single = Plan(
        tokens=[1], sampling=AUTO.sampling, auto_functions=(WEATHER,), auto_parallel=False
    )
    body, finish = message(text, single, "stop")
    assert finish == "tool_calls" and len(body["tool_calls"]) == 1


def test_held_text_that_is_not_a_call_is_sent_as_text() -> None:
    shaper = StreamShaper(AUTO)
    assert shaper.push("{not json") == ""
    assert shaper.finish("length") == ([], "{not json", "length")


def test_message_without_tools_is_text() -> None:
    plan = Plan(tokens=[1], sampling=Sampling(max_tokens=5))
    assert message("hi", plan, "stop") == ({"role": "assistant", "content": "hi"}, "stop")


FORCED = Plan(tokens=[1], sampling=Sampling(max_tokens=5), forced_tools=("get_weather",))
CALL = '{"name": "get_weather", "arguments": {"city": "Oslo"}}'


def test_a_forced_call_streams_as_deltas_and_never_as_text() -> None:
    shaper = StreamShaper(FORCED)
    deltas = []
    for piece in ['{"name": "get_', 'weather", "arguments": {"ci', 'ty": "Oslo"}', "}"]:
        assert shaper.push(piece) == ""
        deltas += shaper.take_calls()
    assert deltas[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert "".join(d["function"]["arguments"] for d in deltas) == '{"city": "Oslo"}'
    assert shaper.finish("stop") == ([], "", "tool_calls")
    message_body, finish = message(CALL, FORCED, "stop")
    assert finish == "tool_calls" and message_body["content"] is None
    assert message_body["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'


def test_a_forced_call_cut_off_keeps_its_arguments_so_far_and_length() -> None:
    shaper = StreamShaper(FORCED)
    shaper.push(CALL[:-6])
    assert [d["index"] for d in shaper.take_calls()] == [0, 0]
    assert shaper.finish("length") == ([], "", "length")
    body, finish = message(CALL[:-6], FORCED, "length")
    assert finish == "length" and body["tool_calls"][0]["function"]["arguments"] == '{"city": "O'
    # Before any name: the text is all there is.
    assert message('{"na', FORCED, "length") == ({"role": "assistant", "content": '{"na'}, "length")
