"""The official `openai` SDK against a real `gateway serve` in front of a loopback upstream."""

from __future__ import annotations

import json
import uuid

import httpx
import openai
import pytest
from openai import OpenAI

from tests.e2e.conftest import UPSTREAM_KEY, upstream_records

pytestmark = pytest.mark.e2e
USER = [{"role": "user", "content": "the quick brown fox"}]


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def test_create_returns_the_reply_under_the_alias(client: OpenAI, loopback: str) -> None:
    tag = _tag()
    reply = client.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": f"hello {tag}"}]
    )
    assert reply.choices[0].message.content == f"hello {tag}"
    assert reply.model == "fast"  # the alias, not the upstream's `echo`
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    sent = [r for r in upstream_records(loopback) if f"hello {tag}" in json.dumps(r["body"])]
    assert len(sent) == 1
    body = sent[0]["body"]
    assert isinstance(body, dict) and body["model"] == "echo"
    assert sent[0]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_unknown_fields_pass_through_untouched(client: OpenAI, loopback: str) -> None:
    tag = _tag()
    extension = {"nested": [1, 2.5, {"x": None}], "tag": tag}
    client.chat.completions.create(
        model="fast",
        messages=USER,
        temperature=0.25,
        extra_body={"vendor_extension": extension, "top_k": 7},
    )
    sent = [r["body"] for r in upstream_records(loopback) if tag in json.dumps(r["body"])]
    assert len(sent) == 1
    body = sent[0]
    assert isinstance(body, dict)
    assert body["vendor_extension"] == extension
    assert body["top_k"] == 7
    assert body["temperature"] == 0.25
    assert body["messages"] == USER


def test_stream_without_usage_has_no_usage_chunk(client: OpenAI, loopback: str) -> None:
    tag = _tag()
    stream = client.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": f"one two three {tag}"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"one two three {tag}"
    assert all(c.choices for c in chunks), "a usage-only chunk leaked to a client that never asked"
    assert all(c.usage is None for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert {c.model for c in chunks} == {"fast"}
    # The gateway asked the upstream for usage anyway, to meter it.
    sent = [r["body"] for r in upstream_records(loopback) if tag in json.dumps(r["body"])]
    assert isinstance(sent[0], dict) and sent[0]["stream_options"] == {"include_usage": True}


def test_stream_with_include_usage_ends_with_one_usage_chunk(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="fast", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    usage_chunks = [c for c in chunks if not c.choices]
    assert len(usage_chunks) == 1 and chunks[-1] is usage_chunks[0]
    assert usage_chunks[0].usage is not None and usage_chunks[0].usage.completion_tokens > 0


def test_stream_helper_assembles_parallel_tool_calls(client: OpenAI) -> None:
    tools = [
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
    with client.chat.completions.stream(
        model="script/tools-2",
        messages=USER,
        tools=tools,  # type: ignore[arg-type]
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None and [c.id for c in calls] == ["call_0", "call_1"]
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "City0", "days": 1},
        {"city": "City1", "days": 2},
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert "tool_calls.function.arguments.done" in events


def test_legacy_completions_with_suffix(client: OpenAI, loopback: str) -> None:
    reply = client.completions.create(model="fast", prompt="def add(a, b):", suffix="\n# end")
    assert reply.choices[0].text == "def add(a, b):\n# end"
    chunks = list(client.completions.create(model="fast", prompt="alpha beta", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "alpha beta"


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("script/error-400", openai.BadRequestError),
        # The upstream refusing the gateway's own key is a 502 (the client's key is fine).
        ("script/error-401", openai.InternalServerError),
        ("script/error-403", openai.InternalServerError),
        ("no-such-model", openai.NotFoundError),
        ("script/error-429", openai.RateLimitError),
        ("script/error-500", openai.InternalServerError),
    ],
)
def test_error_classes(client: OpenAI, model: str, error: type[openai.APIStatusError]) -> None:
    with pytest.raises(error) as caught:
        client.chat.completions.create(model=model, messages=USER)
    body = caught.value.body
    assert isinstance(body, dict) and set(body) >= {"message", "type", "param", "code"}
    if model == "no-such-model":
        assert caught.value.code == "model_not_found"
    if error is openai.RateLimitError:
        assert caught.value.response.headers["retry-after"] == "1"


def test_fallback_serves_when_the_primary_fails(client: OpenAI) -> None:
    reply = client.chat.completions.create(model="broken-primary", messages=USER)
    assert reply.choices[0].message.content == "the quick brown fox"
    assert reply.model == "broken-primary"


def test_a_flaky_upstream_is_retried_before_the_commit_point(client: OpenAI) -> None:
    reply = client.chat.completions.create(model=f"script/flaky-1@{_tag()}", messages=USER)
    assert reply.choices[0].message.content == "the quick brown fox"
    stream = client.chat.completions.create(
        model=f"script/flaky-1@{_tag()}", messages=USER, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "the quick brown fox"


def test_truncated_json_reply_is_a_502(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="script/truncate-json", messages=USER)
    assert caught.value.status_code == 502


def test_models_list_and_retrieve(client: OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"fast", "broken-primary", "echo", "tools-2"} <= ids  # configured and discovered
    assert client.models.retrieve("fast").id == "fast"
    assert client.models.retrieve("script/anything").id == "script/anything"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_request_id_and_overhead_headers(gateway: str) -> None:
    response = httpx.post(
        f"{gateway}/v1/chat/completions",
        json={"model": "fast", "messages": USER},
        headers={"x-request-id": "trace-abc.123"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-abc.123"
    assert float(response.headers["x-gateway-overhead-ms"]) >= 0
    generated = httpx.get(f"{gateway}/v1/models").headers["x-request-id"]
    assert len(generated) == 32


def test_metrics_expose_requests_and_overhead(client: OpenAI, gateway: str) -> None:
    client.chat.completions.create(model="fast", messages=USER)
    text = httpx.get(f"{gateway}/metrics").text
    assert 'gateway_requests_total{model="fast",route="/v1/chat/completions",status="200"}' in text
    assert "gateway_overhead_seconds_bucket" in text
    assert "gateway_request_duration_seconds_bucket" in text
