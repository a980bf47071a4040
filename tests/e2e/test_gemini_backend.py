"""`type: gemini` end to end: the official `openai` SDK -> a real gateway process -> the
loopback Gemini server (`gateway.testing.gemini_upstream`), which checks every request the
way Google's API does. One gateway and one upstream process for the whole module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.e2e.gemini_support import CONFIG, KEY, TOOLS, last_body, raw_stream, records
from tests.support import start_gateway, start_upstream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, base = start_upstream(
        "gateway.testing.gemini_upstream", tmp_path_factory.mktemp("gemini"), KEY
    )
    yield base
    proc.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("gemini-gateway")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG.format(base=upstream))
    env = {"GEM_KEY": KEY, "GEM_WRONG_KEY": "not-the-key"}
    proc, base = start_gateway(tmp, ["--config", str(config)], env=env)
    yield base
    proc.stop()


@pytest.fixture()
def client(gateway: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=20) as sdk:
        yield sdk


def test_text_reply_with_usage_and_the_request_google_saw(client: OpenAI, upstream: str) -> None:
    reply = client.chat.completions.create(
        model="gem/gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there gemini"},
        ],
        temperature=0.3,
        max_tokens=50,
        stop=["END"],
    )
    assert reply.choices[0].message.content == "hello there gemini"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "gem/gemini-2.5-flash"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 3
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 3
    record = records(upstream)[-1]
    assert record["model"] == "gemini-2.5-flash"
    assert record["method"] == "generateContent"
    assert record["key"] == KEY
    body = record["body"]
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hello there gemini"}]}]
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
    }
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
    ]


def test_streamed_text_arrives_in_pieces_under_one_id(client: OpenAI, upstream: str) -> None:
    stream = client.chat.completions.create(
        model="gem/echo",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
    )
    chunks = list(stream)
    assert records(upstream)[-1]["query"] == {"alt": "sse"}
    assert len({c.id for c in chunks}) == 1
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) == 4
    assert "".join(texts) == "one two three four"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert finishes.count("stop") == 1
    assert all(c.usage is None for c in chunks)  # not asked for: none at all


def test_exactly_one_final_usage_chunk_when_asked(gateway: str) -> None:
    lines = raw_stream(
        gateway,
        {
            "model": "gem/thinking",
            "messages": [{"role": "user", "content": "think about it"}],
            "stream_options": {"include_usage": True},
        },
    )
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    with_usage = [c for c in chunks if c.get("usage")]
    assert len(with_usage) == 1
    assert with_usage[0] is chunks[-1]
    assert chunks[-1]["choices"] == []
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 5
    assert usage["completion_tokens"] == 3 + 5  # the thoughts are output tokens too
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert text == "think about it"  # the thought summary is not the answer


def test_two_tool_calls_stream_as_deltas_with_stable_indices(client: OpenAI, upstream: str) -> None:
    stream = client.chat.completions.create(
        model="gem/tools-2",
        messages=[{"role": "user", "content": "weather in Paris and Rome?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="required",
        stream=True,
    )
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            assert delta.index not in calls  # Gemini sends each call whole: one delta each
            assert delta.function is not None
            calls[delta.index] = {
                "id": delta.id,
                "name": delta.function.name,
                "args": json.loads(delta.function.arguments or ""),
            }
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert [calls[i]["args"] for i in (0, 1)] == [{"city": "Paris"}, {"city": "Rome"}]
    assert {calls[i]["name"] for i in (0, 1)} == {"get_weather"}
    assert calls[0]["id"] != calls[1]["id"]
    body = last_body(upstream)
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "get_weather"
    assert declaration["parametersJsonSchema"] == TOOLS[0]["function"]["parameters"]  # type: ignore[index]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_tool_round_trip_sends_function_responses_google_accepts(
    client: OpenAI, upstream: str
) -> None:
    first = client.chat.completions.create(
        model="gem/tools-2",
        messages=[{"role": "user", "content": "weather in Paris and Rome?"}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None and len(message.tool_calls) == 2
    results = [
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp": 20 + i})}
        for i, call in enumerate(message.tool_calls)
    ]
    second = client.chat.completions.create(
        model="gem/echo",
        messages=[
            {"role": "user", "content": "weather in Paris and Rome?"},
            message.model_dump(exclude_none=True),  # type: ignore[list-item]
            *results,  # type: ignore[list-item]
        ],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert second.choices[0].message.content == 'results: {"get_weather": {"temp": 21}}'
    contents = last_body(upstream)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert [p["functionResponse"]["response"] for p in contents[2]["parts"]] == [
        {"temp": 20},
        {"temp": 21},
    ]


def test_thought_signatures_round_trip_through_the_tool_call_ids(
    client: OpenAI, upstream: str
) -> None:
    question = {"role": "user", "content": "script:tools-2 weather in Paris and Rome?"}
    first = client.chat.completions.create(
        model="gem/gemini-3-pro",
        messages=[question],  # type: ignore[list-item]
        tools=TOOLS,  # type: ignore[arg-type]
    )
    calls = first.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 2
    results = [{"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in calls]
    history = [question, first.choices[0].message.model_dump(exclude_none=True), *results]
    second = client.chat.completions.create(
        model="gem/gemini-3-pro",
        messages=history,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert second.choices[0].message.content is not None
    assert second.choices[0].message.content.startswith("results: ")
    model_turn = last_body(upstream)["contents"][1]
    signatures = [p.get("thoughtSignature") for p in model_turn["parts"]]
    assert signatures == ["c2lnbmVkIHRob3VnaHRzIDEyMw==", None]
    # A history of calls no Gemini signed (another model's) still passes Gemini 3's check.
    foreign = [
        question,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_from_elsewhere",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_from_elsewhere", "content": "cold"},
    ]
    third = client.chat.completions.create(
        model="gem/gemini-3-pro",
        messages=foreign,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert third.choices[0].finish_reason == "stop"


def test_safety_finish_is_content_filter(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gem/safety", messages=[{"role": "user", "content": "something bad"}]
    )
    assert reply.choices[0].finish_reason == "content_filter"
    assert reply.choices[0].message.content == ""
    stream = client.chat.completions.create(
        model="gem/safety", messages=[{"role": "user", "content": "something bad"}], stream=True
    )
    finishes = [c.choices[0].finish_reason for c in stream if c.choices]
    assert finishes[-1] == "content_filter"


def test_blocked_prompt_is_an_empty_filtered_reply_not_an_error(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gem/echo", messages=[{"role": "user", "content": "script:blocked"}]
    )
    assert reply.choices[0].finish_reason == "content_filter"
    assert reply.choices[0].message.content == ""


def test_max_tokens_is_length(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gem/max-tokens", messages=[{"role": "user", "content": "go on"}], max_tokens=5
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == "this answer was cut"


def test_error_mid_stream_is_one_in_band_error_after_the_commit_point(gateway: str) -> None:
    lines = raw_stream(
        gateway,
        {"model": "gem/error-mid-stream", "messages": [{"role": "user", "content": "a b c d"}]},
    )
    assert "data: [DONE]" not in lines
    events = [json.loads(line.removeprefix("data: ")) for line in lines]
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1]) == "a b "
    assert set(events[-1]["error"]) >= {"message", "type", "param", "code"}
    assert sum("error" in e for e in events) == 1


def test_stream_cut_without_finish_reason_is_a_truncation_error(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gem/cut-stream", messages=[{"role": "user", "content": "a b c d"}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert "closed the stream before it finished" in str(caught.value)


def test_failover_to_the_second_target_before_the_commit_point(
    client: OpenAI, upstream: str
) -> None:
    reply = client.chat.completions.create(
        model="failover", messages=[{"role": "user", "content": "still here"}]
    )
    assert reply.choices[0].message.content == "still here"
    assert [r["model"] for r in records(upstream)[-2:]] == ["error-503", "echo"]
    stream = client.chat.completions.create(
        model="failover-stream-error",
        messages=[{"role": "user", "content": "weather?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
    )
    calls = [d for c in stream if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert [d.index for d in calls] == [0, 1]


def test_a_rejected_key_fails_over_and_never_reaches_the_client(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="wrong-key-then-good", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "hi"


def test_429_keeps_status_with_retry_after_from_retry_info(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="gem/error-429", messages=[{"role": "user", "content": "hi"}]
        )
    response = caught.value.response
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "resource_exhausted"
    assert error["type"] == "rate_limit_error"


def test_upstream_400_keeps_its_status_and_message(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gem/error-400", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.response.json()["error"]["code"] == "invalid_argument"


def test_discovered_models_are_listed(client: OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"} <= ids
    assert "text-embedding-004" not in ids


def test_image_data_url_becomes_inline_data(client: OpenAI, upstream: str) -> None:
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    client.chat.completions.create(
        model="gem/echo",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
                ],
            }
        ],
    )
    parts = last_body(upstream)["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": pixel}}


def test_an_http_image_url_is_a_400_before_any_upstream_call(client: OpenAI, upstream: str) -> None:
    before = len(records(upstream))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gem/echo",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                    ],
                }
            ],
        )
    assert len(records(upstream)) == before


def test_completions_endpoint_is_refused_with_a_400(gateway: str) -> None:
    response = httpx.post(
        f"{gateway}/v1/completions", json={"model": "gem/echo", "prompt": "hi"}, timeout=10
    )
    assert response.status_code == 400
    assert "completions" in response.json()["error"]["message"]
