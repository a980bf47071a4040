"""openai-python against the session's real gateway, filling what `test_sdk.py` (sync
create, streams, the sync stream helper with tool calls, errors) and `test_inbound_sdks.py`
(the sync Responses API) leave out: structured output through `chat.completions.parse`, a
non-streamed tool round trip, and the async client for all of it."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel

from tests.e2e.conftest import async_client, upstream_records

pytestmark = pytest.mark.e2e


class Weather(BaseModel):
    city: str
    days: int


class GetWeather(BaseModel):
    """Look the weather up."""

    city: str


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _sent_with(loopback: str, tag: str) -> list[dict[str, Any]]:
    bodies = [r["body"] for r in upstream_records(loopback) if tag in json.dumps(r["body"])]
    return [b for b in bodies if isinstance(b, dict)]


def test_parse_returns_the_pydantic_object_and_sends_a_strict_schema(
    client: OpenAI, loopback: str
) -> None:
    tag = _tag()
    # `echo` repeats the user message: the JSON below is the model's "answer".
    completion = client.chat.completions.parse(
        model="script/echo",
        messages=[{"role": "user", "content": json.dumps({"city": tag, "days": 3})}],
        response_format=Weather,
    )
    message = completion.choices[0].message
    assert message.parsed == Weather(city=tag, days=3)
    assert message.refusal is None
    (sent,) = _sent_with(loopback, tag)
    fmt = sent["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Weather" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["city", "days"]


def test_parse_with_a_pydantic_tool_and_the_tool_round_trip(client: OpenAI) -> None:
    tag = _tag()
    tools = [openai.pydantic_function_tool(GetWeather)]
    messages: list[Any] = [{"role": "user", "content": f"Oslo {tag}"}]
    first = client.chat.completions.parse(model="script/agent", messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].function.name == "GetWeather"
    assert calls[0].function.parsed_arguments == GetWeather(city=f"Oslo {tag}")
    messages += [
        choice.message.model_dump(exclude_none=True, exclude={"parsed"}),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "rain, 9C"},
    ]
    second = client.chat.completions.create(model="script/agent", messages=messages, tools=tools)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Result: rain, 9C"


def test_async_create_stream_and_errors(gateway: str) -> None:
    async def run() -> None:
        async with async_client(gateway) as aclient:
            tag = _tag()
            many = await asyncio.gather(
                *(
                    aclient.chat.completions.create(
                        model="fast", messages=[{"role": "user", "content": f"{i} {tag}"}]
                    )
                    for i in range(5)
                )
            )
            assert [r.choices[0].message.content for r in many] == [f"{i} {tag}" for i in range(5)]
            stream = await aclient.chat.completions.create(
                model="script/split-3",
                messages=[{"role": "user", "content": f"async pieces {tag}"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text == f"async pieces {tag}"
            assert chunks[-1].usage is not None and not chunks[-1].choices
            with pytest.raises(openai.RateLimitError):
                await aclient.chat.completions.create(
                    model="script/error-429", messages=[{"role": "user", "content": "x"}]
                )
            with pytest.raises(openai.NotFoundError):
                await aclient.chat.completions.create(
                    model="no-such-model", messages=[{"role": "user", "content": "x"}]
                )

    asyncio.run(run())


def test_async_stream_helper_tools_and_parse(gateway: str) -> None:
    tools: list[Any] = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                },
            },
        }
    ]

    async def run() -> None:
        async with async_client(gateway) as aclient:
            async with aclient.chat.completions.stream(
                model="script/tools-2",
                messages=[{"role": "user", "content": "weather"}],
                tools=tools,
            ) as stream:
                kinds = [event.type async for event in stream]
                final = await stream.get_final_completion()
            calls = final.choices[0].message.tool_calls
            assert calls is not None and len(calls) == 2
            assert json.loads(calls[1].function.arguments) == {"city": "City1", "days": 2}
            assert kinds.count("tool_calls.function.arguments.done") == 2
            tag = _tag()
            parsed = await aclient.chat.completions.parse(
                model="script/echo",
                messages=[{"role": "user", "content": json.dumps({"city": tag, "days": 1})}],
                response_format=Weather,
            )
            assert parsed.choices[0].message.parsed == Weather(city=tag, days=1)

    asyncio.run(run())


def test_async_responses_create_and_stream(gateway: str) -> None:
    async def run() -> None:
        async with async_client(gateway) as aclient:
            response = await aclient.responses.create(
                model="script/echo", input="hello async", instructions="Be brief."
            )
            assert response.status == "completed" and response.output_text == "hello async"
            async with aclient.responses.stream(
                model="script/split-5", input="streamed async answer"
            ) as stream:
                kinds = [event.type async for event in stream]
                final = await stream.get_final_response()
            assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
            assert "response.output_text.delta" in kinds
            assert final.output_text == "streamed async answer"
            parsed = await aclient.responses.parse(
                model="script/echo", input='{"city": "Rome", "days": 4}', text_format=Weather
            )
            assert parsed.output_parsed == Weather(city="Rome", days=4)

    asyncio.run(run())
