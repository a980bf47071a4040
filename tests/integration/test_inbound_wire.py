"""The Responses and Messages endpoints on the wire, below the SDKs: named SSE events in the
documented order, a failure past the commit point as the API's own closing event, and
errors (bad JSON, wrong method, oversized bodies, missing keys) in each API's shape."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gateway.keys.records import sha256_hex as sha
from tests.integration.conftest import SETTINGS, served

pytestmark = pytest.mark.anyio
KEY = "sk-wire-0123456789abcdef"


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """`(event name, data)` of each SSE event; the name must match the data's `type`."""
    found = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["type"] == name
        found.append((name, data))
    return found


async def test_responses_stream_events_in_order(http: httpx.AsyncClient) -> None:
    body = {"model": "fake/split-3", "input": "one two three", "stream": True}
    reply = await http.post("/v1/responses", json=body)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    seen = events(reply.text)
    names = [name for name, _ in seen]
    assert names[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert names[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in seen] == list(range(len(seen)))
    deltas = "".join(d["delta"] for n, d in seen if n == "response.output_text.delta")
    completed = seen[-1][1]["response"]
    assert deltas == "one two three" == completed["output"][0]["content"][0]["text"]
    assert completed["usage"]["output_tokens"] > 0
    assert "[DONE]" not in reply.text


async def test_messages_stream_events_in_order(http: httpx.AsyncClient) -> None:
    body = {
        "model": "fake/split-5",
        "max_tokens": 32,
        "stream": True,
        "messages": [{"role": "user", "content": "hello there"}],
    }
    reply = await http.post("/v1/messages", json=body)
    assert reply.status_code == 200
    seen = events(reply.text)
    names = [name for name, _ in seen]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(d["delta"]["text"] for n, d in seen if n == "content_block_delta")
    assert text == "hello there"
    delta = seen[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] > 0


async def test_a_failure_past_the_commit_point_is_the_apis_own_event(
    http: httpx.AsyncClient,
) -> None:
    responses = await http.post(
        "/v1/responses", json={"model": "fake/die-mid-stream", "input": "x", "stream": True}
    )
    last_name, last = events(responses.text)[-1]
    assert last_name == "response.failed"
    assert last["response"]["status"] == "failed"
    assert last["response"]["error"]["message"]
    messages = await http.post(
        "/v1/messages",
        json={
            "model": "fake/die-mid-stream",
            "max_tokens": 8,
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    last_name, last = events(messages.text)[-1]
    assert last_name == "error"
    assert last["error"]["type"] in ("api_error", "overloaded_error")
    assert "message_stop" not in messages.text


async def test_messages_errors_take_anthropics_shape(http: httpx.AsyncClient) -> None:
    bad_json = await http.post(
        "/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["type"] == "error"
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    wrong_method = await http.get("/v1/messages")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"
    unknown = await http.post(
        "/v1/messages",
        json={"model": "nope", "max_tokens": 4, "messages": [{"role": "user", "content": "x"}]},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"
    oversized = await http.post(
        "/v1/messages",
        content=b"x" * (64 * 1024 + 1),  # over SETTINGS server.max_body_bytes
    )
    assert oversized.status_code == 413
    assert oversized.json()["error"]["type"] == "request_too_large"
    # The Responses API keeps OpenAI's shape.
    responses = await http.post("/v1/responses", json={"model": "nope", "input": "x"})
    assert responses.status_code == 404
    assert responses.json()["error"]["code"] == "model_not_found"


async def test_keys_as_x_api_key_and_anthropic_shaped_401() -> None:
    document = {
        **SETTINGS,
        "auth": {"required": True},
        "keys": [{"id": "k", "sha256": sha(KEY)}],
    }
    body = {"model": "echo", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    async with served(document) as client:
        missing = await client.post("/v1/messages", json=body)
        assert missing.status_code == 401
        assert missing.json() == {
            "type": "error",
            "error": {
                "type": "authentication_error",
                "message": missing.json()["error"]["message"],
            },
        }
        ok = await client.post("/v1/messages", json=body, headers={"x-api-key": KEY})
        assert ok.status_code == 200
        assert ok.json()["content"] == [{"type": "text", "text": "hi"}]
        openai_shaped = await client.post("/v1/responses", json={"model": "echo", "input": "x"})
        assert openai_shaped.status_code == 401
        assert openai_shaped.json()["error"]["code"] == "invalid_api_key"


async def test_unsupported_inputs_are_clear_400s(http: httpx.AsyncClient) -> None:
    builtin = await http.post(
        "/v1/responses",
        json={"model": "echo", "input": "x", "tools": [{"type": "file_search"}]},
    )
    assert builtin.status_code == 400
    assert "file_search" in builtin.json()["error"]["message"]
    assert builtin.json()["error"]["param"] == "tools"
    server_tool = await http.post(
        "/v1/messages",
        json={
            "model": "echo",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        },
    )
    assert server_tool.status_code == 400
    assert server_tool.json()["type"] == "error"
    empty = await http.post("/v1/responses", json={"model": "echo", "input": []})
    assert empty.status_code == 400
    assert empty.json()["error"]["param"] == "input"
