"""`tool_arguments: block` on streams, through the app with the official SDK: the argument
deltas stream as they come, but a choice whose calls do not match the tool's schema ends
with an error event the SDK raises, never with `finish_reason: tool_calls` (so a client
does not run the call); valid calls and `flag` finish normally."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.integration.conftest import served

pytestmark = pytest.mark.anyio


def document(action: str) -> dict[str, Any]:
    return {
        "server": {"access_log": False},
        "policies": {"p": {"tool_arguments": action}},
        "backends": {"fake": {"type": "fake"}},
        # The fake's tool call carries {"city": "City0", "days": 1}.
        "models": [{"id": "tools", "backend": "fake", "upstream_model": "tools-1", "policy": "p"}],
    }


def tools(days_type: str) -> list[dict[str, Any]]:
    parameters = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": days_type}},
        "required": ["city", "days"],
    }
    return [{"type": "function", "function": {"name": "get_weather", "parameters": parameters}}]


async def streamed(action: str, days_type: str) -> tuple[list[Any], Exception | None]:
    chunks: list[Any] = []
    async with served(document(action)) as http:
        client = openai.AsyncOpenAI(
            base_url="http://gateway/v1", api_key="x", http_client=http, max_retries=0
        )
        stream = await client.chat.completions.create(
            model="tools",
            messages=[{"role": "user", "content": "weather?"}],
            tools=tools(days_type),  # type: ignore[arg-type]
            stream=True,
        )
        try:
            async for chunk in stream:
                chunks.append(chunk)
        except openai.APIError as exc:
            return chunks, exc
    return chunks, None


def finishes(chunks: list[Any]) -> list[str]:
    return [c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason]


async def test_block_ends_an_invalid_call_with_an_error_not_a_finish() -> None:
    chunks, error = await streamed("block", days_type="string")  # 1 is not a string
    assert isinstance(error, openai.APIError)
    assert error.code == "tool_arguments_invalid"
    assert "do not match its schema" in error.message and "get_weather" in error.message
    assert finishes(chunks) == []
    arguments = "".join(
        call.function.arguments or ""
        for chunk in chunks
        for choice in chunk.choices
        for call in choice.delta.tool_calls or ()
        if call.function is not None
    )
    assert arguments  # the deltas streamed before the finish was held to the schema


async def test_valid_calls_and_flag_finish_normally() -> None:
    chunks, error = await streamed("block", days_type="integer")
    assert error is None and finishes(chunks) == ["tool_calls"]
    chunks, error = await streamed("flag", days_type="string")
    assert error is None and finishes(chunks) == ["tool_calls"]
