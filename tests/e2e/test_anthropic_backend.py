"""`type: anthropic` end to end: a real gateway process in front of the loopback Anthropic
API, driven by the official `openai` SDK (and a raw HTTP client where the wire matters)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support import start_gateway, start_upstream

pytestmark = pytest.mark.e2e
KEY = "sk-ant-loopback"
USER = [{"role": "user", "content": "the quick brown fox jumps over the lazy dog"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CONFIG = """
defaults:
  timeouts: {{connect: 2, first_byte: 5, idle: 3}}
  retries: {{attempts: 1}}
  breaker: {{failures: 1000}}
backends:
  claude:
    type: anthropic
    base_url: {base}
    api_key_env: ANTH_KEY
    anthropic_version: "2023-06-01"
    default_max_tokens: 1000
    discover_models: true
  claude-bad-key:
    type: anthropic
    base_url: {base}
    api_key_env: ANTH_WRONG_KEY
models:
  - id: anthropic/*
    backend: claude
    upstream_model: "*"
  - id: resilient
    targets:
      - {{backend: claude, upstream_model: claude-overloaded}}
      - {{backend: claude, upstream_model: claude-error-500}}
      - {{backend: claude, upstream_model: claude-echo}}
  - id: resilient-stream
    targets:
      - {{backend: claude, upstream_model: claude-early-error}}
      - {{backend: claude, upstream_model: claude-echo}}
  - id: bad-key
    backend: claude-bad-key
    upstream_model: claude-echo
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, base = start_upstream(
        "gateway.testing.anthropic_upstream", tmp_path_factory.mktemp("anthropic"), KEY
    )
    yield base
    proc.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("anthropic-gateway")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG.format(base=upstream))
    env = {"ANTH_KEY": KEY, "ANTH_WRONG_KEY": "sk-ant-wrong"}
    proc, base = start_gateway(Path(tmp), ["--config", str(config)], env=env)
    yield base
    proc.stop()


@pytest.fixture(scope="module")
def client(gateway: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=20) as sdk:
        yield sdk


def _records(upstream: str) -> list[dict]:
    response = httpx.get(f"{upstream}/_test/requests", timeout=5)
    response.raise_for_status()
    records: list[dict] = response.json()
    return records


def _sse(gateway: str, body: dict) -> tuple[int, list[dict | str]]:
    """Status and every `data:` payload (decoded JSON, or the raw text of `[DONE]`)."""
    with httpx.stream(
        "POST", f"{gateway}/v1/chat/completions", json={**body, "stream": True}, timeout=20
    ) as response:
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        return response.status_code, [x if x == "[DONE]" else json.loads(x) for x in lines]


def test_text_reply_with_the_headers_and_fields_anthropic_needs(
    client: OpenAI, upstream: str
) -> None:
    reply = client.chat.completions.create(
        model="anthropic/claude-echo",
        messages=[{"role": "system", "content": "be brief"}, *USER],
        temperature=0.2,
        user="alice",
    )
    assert reply.choices[0].message.content == USER[0]["content"]
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "anthropic/claude-echo"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    sent = next(r for r in reversed(_records(upstream)) if r["body"]["model"] == "claude-echo")
    assert sent["headers"]["x-api-key"] == KEY
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    body = sent["body"]
    assert body["system"] == "be brief"
    assert body["max_tokens"] == 1000  # the backend's default_max_tokens
    assert (body["temperature"], body["metadata"]) == (0.2, {"user_id": "alice"})


def test_streamed_text_and_exactly_one_usage_chunk_when_asked(gateway: str) -> None:
    body = {
        "model": "anthropic/claude-cache",
        "messages": USER,
        "stream_options": {"include_usage": True},
    }
    status, events = _sse(gateway, body)
    assert status == 200 and events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == USER[0]["content"]
    usage_chunks = [c for c in chunks if c.get("usage")]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 5}
    # without include_usage: no usage at all (the gateway still meters it)
    _, plain = _sse(gateway, {"model": "anthropic/claude-cache", "messages": USER})
    assert all(not e.get("usage") and e["choices"] for e in plain if isinstance(e, dict))


def test_two_parallel_tool_calls_stream_with_stable_indices(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="anthropic/claude-tools-2",
        messages=[{"role": "user", "content": "weather in Paris and Tokyo?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finishes = []
    for chunk in stream:
        for choice in chunk.choices:
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                if call.id:
                    assert not entry["id"], "the id comes once, on the call's first delta"
                    entry["id"] = call.id
                if call.function and call.function.name:
                    entry["name"] = call.function.name
                if call.function and call.function.arguments:
                    entry["arguments"] += call.function.arguments
    assert finishes == ["tool_calls"]
    assert sorted(calls) == [0, 1]
    assert all(c["id"].startswith("toolu_") and c["name"] == "get_weather" for c in calls.values())
    cities = [json.loads(calls[i]["arguments"])["city"] for i in (0, 1)]
    assert cities == ["Paris", "Tokyo"]


def test_a_tool_loop_round_trip_reaches_anthropic_well_formed(client: OpenAI) -> None:
    first = client.chat.completions.create(
        model="anthropic/claude-tool",
        messages=USER,
        tools=[WEATHER],  # type: ignore[list-item]
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls and json.loads(message.tool_calls[0].function.arguments) == {
        "city": "Paris"
    }
    # The loopback refuses a tool_use without its tool_result, as the real API does.
    second = client.chat.completions.create(
        model="anthropic/claude-echo",
        messages=[
            *USER,
            message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny 21C"},
        ],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.choices[0].message.content == "sunny 21C"


@pytest.mark.parametrize(
    ("model", "extra", "finish"),
    [
        ("anthropic/claude-echo", {"stop": ["lazy"]}, "stop"),
        ("anthropic/claude-echo", {"max_tokens": 3}, "length"),
        ("anthropic/claude-refusal", {}, "content_filter"),
    ],
)
def test_finish_reasons_map(client: OpenAI, model: str, extra: dict, finish: str) -> None:
    reply = client.chat.completions.create(model=model, messages=USER, **extra)
    assert reply.choices[0].finish_reason == finish
    if "stop" in extra:
        assert reply.choices[0].message.content == "the quick brown fox jumps over the "
    if "max_tokens" in extra:
        assert reply.choices[0].message.content == "the quick brown"
    streamed = list(
        client.chat.completions.create(model=model, messages=USER, stream=True, **extra)
    )
    assert [c.choices[0].finish_reason for c in streamed if c.choices][-1] == finish


def test_json_schema_answers_through_a_forced_tool(client: OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    reply = client.chat.completions.create(
        model="anthropic/claude-echo",
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": schema}},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"answer": USER[0]["content"]}
    assert reply.choices[0].finish_reason == "stop"


def test_an_error_event_after_the_commit_point_is_one_in_band_error(gateway: str) -> None:
    status, events = _sse(gateway, {"model": "anthropic/claude-stream-error", "messages": USER})
    assert status == 200
    assert "[DONE]" not in events
    assert any(isinstance(e, dict) and e.get("choices") for e in events)
    errors = [e for e in events if isinstance(e, dict) and "error" in e]
    assert len(errors) == 1 and errors[0] is events[-1]
    assert errors[0]["error"]["message"] == "Overloaded"
    assert set(errors[0]["error"]) >= {"message", "type", "param", "code"}


def test_a_stream_cut_before_message_stop_is_an_in_band_error(gateway: str) -> None:
    _, events = _sse(gateway, {"model": "anthropic/claude-cut", "messages": USER})
    assert "[DONE]" not in events
    last = events[-1]
    assert isinstance(last, dict) and last["error"]["code"] == "upstream_stream_truncated"


def test_failover_before_the_commit_point(client: OpenAI, gateway: str) -> None:
    reply = client.chat.completions.with_raw_response.create(model="resilient", messages=USER)
    assert reply.headers["x-gateway-target"] == "claude/claude-echo"
    assert reply.headers["x-gateway-attempts"] == "3"  # 529, then 500, then served
    assert reply.parse().choices[0].message.content == USER[0]["content"]
    # an `error` event before any content is still before the commit point
    status, events = _sse(gateway, {"model": "resilient-stream", "messages": USER})
    assert status == 200 and events[-1] == "[DONE]"
    text = "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in events
        if isinstance(e, dict) and e.get("choices")
    )
    assert text == USER[0]["content"]


@pytest.mark.parametrize(
    ("model", "status", "kind"),
    [
        ("anthropic/claude-error-429", 429, "rate_limit_error"),
        ("anthropic/claude-overloaded", 503, "overloaded_error"),
        ("anthropic/claude-error-400", 400, "invalid_request_error"),
        ("anthropic/claude-error-404", 404, "not_found_error"),
        ("anthropic/claude-error-413", 413, "request_too_large"),
    ],
)
def test_error_statuses_keep_status_body_and_retry_after(
    gateway: str, model: str, status: int, kind: str
) -> None:
    for stream in (False, True):
        response = httpx.post(
            f"{gateway}/v1/chat/completions",
            json={"model": model, "messages": USER, "stream": stream},
            timeout=20,
        )
        assert response.status_code == status
        error = response.json()["error"]
        upstream_status = 529 if status == 503 else status
        assert error["type"] == kind and error["message"] == f"scripted {upstream_status}"
        assert set(error) == {"message", "type", "param", "code"}
        if status in (429, 503):
            assert response.headers["retry-after"] == "2"  # the upstream's own


def test_sdk_sees_rate_limits_and_the_gateways_own_credentials_failing(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="anthropic/claude-error-429", messages=USER)
    assert limited.value.response.headers["retry-after"] == "2"
    # The upstream's 401 is about the gateway's key, not the client's: a 502 naming the
    # backend, so the SDK does not report the client's own key as wrong.
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="bad-key", messages=USER)
    assert refused.value.status_code == 502
    assert refused.value.code == "upstream_auth_failed"
    assert "sk-ant-wrong" not in refused.value.response.text


def test_discovered_models_are_listed(client: OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"claude-echo", "claude-tools-2"} <= ids
    reply = client.chat.completions.create(model="claude-echo", messages=USER)
    assert reply.choices[0].message.content == USER[0]["content"]
