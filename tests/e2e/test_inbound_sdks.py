"""The Responses and Messages APIs through the official `openai` and `anthropic` SDKs against
a real gateway process, routed to an OpenAI-style upstream (the scripted loopback server)
and to the in-process fake: text, streams, tool round trips, json_schema, chaining with
`previous_response_id`, system prompts, stop sequences, usage and typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from pydantic import BaseModel

from gateway.keys.records import sha256_hex as sha
from tests.e2e.conftest import UPSTREAM_KEY, upstream_records
from tests.support import start_gateway

pytestmark = pytest.mark.e2e
KEY = "sk-inbound-0123456789abcdef"
LIMITED = "sk-inbound-limited-0123456789"
WEATHER_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}

CONFIG = f"""
auth: {{required: true}}
keys:
  - {{id: inbound, sha256: {sha(KEY)}, tenant: team-a}}
  - {{id: other-tenant, sha256: {sha(KEY + "-b")}, tenant: team-b}}
  - {{id: limited, sha256: {sha(LIMITED)}, limits: {{rpm: 1}}}}
backends:
  loop: {{type: openai, base_url: "{{base_url}}", api_key_env: LOOP_KEY}}
  fake: {{type: fake}}
models:
  - {{id: upstream/*, backend: loop, upstream_model: "*"}}
  - {{id: fake/*, backend: fake, upstream_model: "*"}}
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, loopback: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("inbound")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG.replace("{base_url}", loopback))
    proc, url = start_gateway(Path(tmp), ["--config", str(config)], env={"LOOP_KEY": UPSTREAM_KEY})
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def oai(base: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0, timeout=20) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def claude(base: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=base, api_key=KEY, max_retries=0, timeout=20) as sdk:
        yield sdk


def last_upstream_request(loopback: str) -> dict[str, object]:
    body = upstream_records(loopback)[-1]["body"]
    assert isinstance(body, dict)
    return body


# --- the Responses API ----------------------------------------------------------------------


def test_responses_text_reply(oai: openai.OpenAI, loopback: str) -> None:
    response = oai.responses.create(
        model="upstream/echo", input="hello there", instructions="Be brief.", temperature=0.2
    )
    assert response.status == "completed"
    assert response.output_text == "hello there"
    assert response.id.startswith("resp_")
    assert response.usage is not None and response.usage.output_tokens > 0
    sent = last_upstream_request(loopback)
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there"},
    ]
    assert sent["temperature"] == 0.2


def test_responses_stream_event_sequence(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="upstream/split-7", input="a streamed answer") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert final.output_text == "a streamed answer"
    assert final.usage is not None and final.usage.total_tokens > 0


def test_responses_function_tool_round_trip(oai: openai.OpenAI) -> None:
    tools: list[dict[str, object]] = [
        {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}
    ]
    first = oai.responses.create(model="fake/agent", input="Paris", tools=tools)  # type: ignore[arg-type]
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    second = oai.responses.create(
        model="fake/agent",
        previous_response_id=first.id,
        tools=tools,  # type: ignore[arg-type]
        input=[
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21C"}
        ],
    )
    assert second.output_text == "Result: sunny, 21C"


def test_responses_streamed_function_call_arguments(oai: openai.OpenAI) -> None:
    tools: list[dict[str, object]] = [
        {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}
    ]
    with oai.responses.stream(model="upstream/tools-2", input="x", tools=tools) as stream:  # type: ignore[arg-type]
        events = list(stream)
        final = stream.get_final_response()
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(calls) == 2 and len(done) == 2
    for call in calls:
        pieces = "".join(d.delta for d in deltas if d.item_id == call.id)
        assert pieces == call.arguments
        json.loads(call.arguments)


def test_responses_json_schema_parse(oai: openai.OpenAI, loopback: str) -> None:
    class City(BaseModel):
        city: str

    parsed = oai.responses.parse(model="upstream/echo", input='{"city": "Lyon"}', text_format=City)
    assert parsed.output_parsed == City(city="Lyon")
    sent = last_upstream_request(loopback)
    fmt = sent["response_format"]
    assert isinstance(fmt, dict) and fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "City"


def test_previous_response_id_chains_and_get_reads_back(oai: openai.OpenAI, loopback: str) -> None:
    first = oai.responses.create(model="upstream/echo", input="my name is Ada")
    second = oai.responses.create(
        model="upstream/echo", input="what is my name?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    sent = last_upstream_request(loopback)
    assert sent["messages"] == [
        {"role": "user", "content": "my name is Ada"},
        {"role": "assistant", "content": "my name is Ada"},
        {"role": "user", "content": "what is my name?"},
    ]
    fetched = oai.responses.retrieve(second.id)
    assert fetched.id == second.id and fetched.output_text == second.output_text


def test_streamed_response_is_stored_before_the_stream_ends(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="upstream/echo", input="remember me") as stream:
        final = stream.get_final_response()
    assert oai.responses.retrieve(final.id).output_text == "remember me"


def test_store_false_is_not_kept_and_other_tenants_see_nothing(
    oai: openai.OpenAI, base: str
) -> None:
    unstored = oai.responses.create(model="upstream/echo", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(unstored.id)
    kept = oai.responses.create(model="upstream/echo", input="private")
    with openai.OpenAI(base_url=f"{base}/v1", api_key=KEY + "-b", max_retries=0) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(kept.id)
        with pytest.raises(openai.NotFoundError) as missing:
            other.responses.create(model="upstream/echo", input="y", previous_response_id=kept.id)
    assert missing.value.code == "previous_response_not_found"
    oai.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(kept.id)


def test_builtin_tools_are_a_clear_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        oai.responses.create(
            model="upstream/echo",
            input="search the web",
            tools=[{"type": "web_search"}],
        )
    assert "web_search" in refused.value.message
    assert refused.value.param == "tools"


# --- the Messages API -----------------------------------------------------------------------


def test_messages_text_system_and_usage(claude: anthropic.Anthropic, loopback: str) -> None:
    message = claude.messages.create(
        model="upstream/echo",
        max_tokens=64,
        system="You are terse.",
        stop_sequences=["END"],
        messages=[{"role": "user", "content": "hi from claude"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text == "hi from claude"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = last_upstream_request(loopback)
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}  # type: ignore[index]
    assert sent["stop"] == ["END"]
    assert sent["max_tokens"] == 64


def test_messages_stream(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="upstream/split-3",
        max_tokens=64,
        messages=[{"role": "user", "content": "streamed through claude"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "streamed through claude"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_messages_tool_use_round_trip(claude: anthropic.Anthropic) -> None:
    tools: list[anthropic.types.ToolParam] = [
        {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
    ]
    first = claude.messages.create(
        model="fake/agent",
        max_tokens=128,
        tools=tools,
        messages=[{"role": "user", "content": "Oslo"}],
    )
    assert first.stop_reason == "tool_use"
    use = next(block for block in first.content if block.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Oslo"}
    second = claude.messages.create(
        model="fake/agent",
        max_tokens=128,
        tools=tools,
        messages=[
            {"role": "user", "content": "Oslo"},
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "snow"}],
            },
        ],
    )
    assert second.content[0].type == "text" and second.content[0].text == "Result: snow"


def test_messages_streamed_tool_use(claude: anthropic.Anthropic) -> None:
    tools: list[anthropic.types.ToolParam] = [
        {"name": "get_weather", "input_schema": WEATHER_SCHEMA}
    ]
    with claude.messages.stream(
        model="upstream/tools-2",
        max_tokens=64,
        tools=tools,
        messages=[{"role": "user", "content": "x"}],
    ) as stream:
        final = stream.get_final_message()
    uses = [block for block in final.content if block.type == "tool_use"]
    assert len(uses) == 2
    assert all(isinstance(use.input, dict) for use in uses)
    assert final.stop_reason == "tool_use"


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    short = claude.messages.count_tokens(
        model="upstream/echo", messages=[{"role": "user", "content": "hello"}]
    )
    longer = claude.messages.count_tokens(
        model="upstream/echo",
        system="A system prompt of some length, to be counted as well.",
        messages=[{"role": "user", "content": "hello " * 50}],
    )
    assert 0 < short.input_tokens < longer.input_tokens
    assert longer.input_tokens > 50


def test_typed_errors_in_anthropic_shape(base: str) -> None:
    wrong = anthropic.Anthropic(base_url=base, api_key="sk-wrong", max_retries=0)
    with wrong, pytest.raises(anthropic.AuthenticationError) as denied:
        wrong.messages.create(
            model="upstream/echo", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert denied.value.body["type"] == "error"  # type: ignore[index]
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    ok = anthropic.Anthropic(base_url=base, api_key=KEY, max_retries=0)
    with ok, pytest.raises(anthropic.NotFoundError):
        ok.messages.create(
            model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    # The SDK itself insists on max_tokens: a raw client shows the gateway does too.
    bad = httpx.post(
        f"{base}/v1/messages",
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        json={"model": "upstream/echo", "messages": [{"role": "user", "content": "x"}]},
        timeout=10,
    )
    assert bad.status_code == 400
    assert bad.json()["type"] == "error"
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in bad.json()["error"]["message"]
    with anthropic.Anthropic(base_url=base, api_key=LIMITED, max_retries=0) as limited:
        limited.messages.create(
            model="upstream/echo", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
        with pytest.raises(anthropic.RateLimitError) as throttled:
            limited.messages.create(
                model="upstream/echo", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
    assert throttled.value.response.headers.get("retry-after")
    assert throttled.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
