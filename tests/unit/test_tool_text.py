"""The `auto` tool-call parser on the text shapes small models really produce."""

from __future__ import annotations

import pytest

from gateway.backends.llama_cpp.tool_text import TextToolCall, parse_tool_calls
from gateway.protocol.chat import FunctionDefinition

WEATHER = FunctionDefinition(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
TIME = FunctionDefinition(name="get_time", parameters={"type": "object", "properties": {}})
PARIS = TextToolCall("get_weather", {"city": "Paris", "days": 2})


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}',
        '  ```json\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n```',
        '```\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n```',
        '{{"name": "get_weather", "arguments": {{"city": "Paris", "days": 2}}}}',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>',
        '{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}',
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\", \\"days\\": 2}"}',
        '{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}',
        'Sure! {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}',
        # Stopped one brace short after complete arguments (Qwen2.5-Coder-0.5B does).
        '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}',
        # ... or one too many, or a remark after the call.
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n}\n```',
        '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}} I will wait.',
    ],
)
def test_shapes_that_are_calls(text: str) -> None:
    assert parse_tool_calls(text, [WEATHER, TIME]) == [PARIS]


def test_a_list_is_parallel_calls() -> None:
    text = '[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}, {"name": "get_time", "arguments": {}}]'
    assert parse_tool_calls(text, [WEATHER, TIME]) == [PARIS, TextToolCall("get_time", {})]


TWO = [PARIS, TextToolCall("get_time", {})]
CALL_P = '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}'
CALL_T = '{"name": "get_time", "arguments": {}}'


@pytest.mark.parametrize(
    "text",
    [
        f"{CALL_P}\n{CALL_T}",
        f"{CALL_P}, {CALL_T}",
        f"<tool_call>\n{CALL_P}\n</tool_call>\n<tool_call>\n{CALL_T}\n</tool_call>",
        f"```json\n{CALL_P}\n```\n```json\n{CALL_T}\n```",
        f"Calling both: {CALL_P}\n{CALL_T}",
    ],
)
def test_calls_written_one_after_another_are_parallel_calls(text: str) -> None:
    assert parse_tool_calls(text, [WEATHER, TIME]) == TWO


def test_an_invalid_second_call_leaves_the_first() -> None:
    text = f'{CALL_P}\n{{"name": "nope", "arguments": {{}}}}'
    assert parse_tool_calls(text, [WEATHER, TIME]) == [PARIS]


@pytest.mark.parametrize(
    "text",
    [
        "The weather in Paris is sunny.",
        '{"name": "get_wether", "arguments": {"city": "Paris"}}',  # wrong tool name
        '{"name": "get_weather", "arguments": {"city": "Paris"',  # arguments cut off
        '{"name": "get_weather", "arguments": {"city": "Par',  # ends inside a string
        '{"name": "get_weather", "arguments": {"days": 2}}',  # missing required
        '{"name": "get_weather", "arguments": {"city": 7}}',  # wrong type
        '{"name": "get_weather", "arguments": {"city": "Paris", "days": true}}',  # bool != int
        '[{"name": "get_weather", "arguments": {"city": "P"}}, {"name": "nope", "arguments": {}}]',
        '{"city": "Paris"}',
    ],
)
def test_shapes_that_stay_text(text: str) -> None:
    assert parse_tool_calls(text, [WEATHER, TIME]) is None


def test_no_tools_means_no_calls() -> None:
    assert parse_tool_calls('{"name": "get_weather", "arguments": {"city": "x"}}', []) is None
