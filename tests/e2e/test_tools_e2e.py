"""Gateway tools end to end: a real gateway process, a loopback upstream scripted to use
its tools (`agent`), the official `openai` SDK as the client, a stdio MCP server written
with the MCP SDK as a tool source, and the gateway's own `/mcp` endpoint called by the MCP
SDK's client; a killed MCP server comes back, a dead one hides its tools."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from mcp import Client

from gateway.keys.records import sha256_hex
from tests.support import ROOT, Served, start_gateway, start_loopback

pytestmark = pytest.mark.e2e
KEY = "sk-tools-e2e-0123456789abcdef"
ECHO_SERVER = ROOT / "tests" / "fixtures_mcp" / "echo_server.py"
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}
RUN = re.compile(r"^calculator:(ok|invalid|error|timeout):\d+ms$")


def policy(upstream: str) -> str:
    return f"""
server: {{access_log: false}}
auth: {{required: true}}
keys: [{{id: e2e, sha256: {sha256_hex(KEY)}}}]
tools:
  max_rounds: 3
  deadline_seconds: 20
  timeout_seconds: 5
  mcp_servers:
    files: {{command: [{sys.executable}, {ECHO_SERVER}]}}
    dead: {{command: [{sys.executable}, -c, "import sys; sys.exit(3)"]}}
backends:
  up: {{type: openai, base_url: "{upstream}"}}
models:
  - {{id: assistant, backend: up, upstream_model: agent, tools: [calculator, dead.*]}}
  - {{id: fixer, backend: up, upstream_model: agent+badargs, tools: [calculator]}}
  - {{id: forever, backend: up, upstream_model: tools-1, tools: [calculator]}}
  - {{id: adder, backend: up, upstream_model: agent, tools: [files.add]}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    tmp = tmp_path_factory.mktemp("tools-e2e")
    loopback, upstream = start_loopback(tmp)
    config = tmp / "gateway.yaml"
    config.write_text(policy(upstream))
    try:
        proc, base = start_gateway(tmp, ["--config", str(config)])
    except BaseException:
        loopback.stop()
        raise
    try:
        _wait_for(base, lambda s: s.get("files") == "up" and s.get("dead") == "down")
        yield Served(proc, base), upstream.removesuffix("/v1")
    finally:
        proc.stop()
        loopback.stop()


@pytest.fixture()
def client(served: tuple[Served, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=served[0].base + "/v1", api_key=KEY, max_retries=0)


def _mcp_status(base: str) -> dict[str, str]:
    ready = httpx.get(base + "/readyz", timeout=5)
    return dict(ready.json().get("mcp_servers", {})) if ready.status_code == 200 else {}


def _wait_for(base: str, condition: Any, timeout: float = 20.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        status = _mcp_status(base)
        if condition(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"MCP servers did not reach the state: {status}")


def _upstream_calls(upstream: str) -> int:
    return len(httpx.get(upstream + "/_test/requests", timeout=5).json())


def test_the_client_sees_only_the_answer_and_usage_of_both_rounds(
    client: openai.OpenAI, served: tuple[Served, str]
) -> None:
    before = _upstream_calls(served[1])
    raw = client.chat.completions.with_raw_response.create(
        model="assistant", messages=[{"role": "user", "content": "2+3*4"}]
    )
    reply = raw.parse()
    message = reply.choices[0].message
    assert message.tool_calls is None and reply.choices[0].finish_reason == "stop"
    assert message.content is not None and message.content.startswith("Result: ")
    assert "14" in message.content
    runs = raw.headers["x-gateway-tools"].split(",")
    assert len(runs) == 1 and RUN.match(runs[0]) and runs[0].startswith("calculator:ok:")
    assert _upstream_calls(served[1]) - before == 2  # two rounds, one call each
    # The scripted model counts one prompt token per word of the user turn per round, ten
    # per tool call and one per word of its answer.
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 2
    assert reply.usage.completion_tokens == 10 + len(message.content.split(" "))


def test_the_same_loop_streams_through_the_sdk_helper(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "2+3*4"}]
    live = client.chat.completions.create(model="assistant", messages=messages)
    with client.chat.completions.stream(
        model="assistant", messages=messages, stream_options={"include_usage": True}
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == live.choices[0].message.content
    assert final.choices[0].message.content == live.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and live.usage is not None
    assert final.usage.total_tokens == live.usage.total_tokens


def test_a_client_tool_after_a_gateway_tool_reaches_the_client_alone(
    client: openai.OpenAI,
) -> None:
    messages: list[Any] = [{"role": "user", "content": "2+3*4"}]
    first = client.chat.completions.create(model="assistant", messages=messages, tools=[LOOKUP])  # type: ignore[list-item]
    calls = first.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["lookup"]  # type: ignore[union-attr]
    assert first.choices[0].finish_reason == "tool_calls"
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "found: fourteen"},
    ]
    done = client.chat.completions.create(model="assistant", messages=messages, tools=[LOOKUP])  # type: ignore[list-item]
    assert done.choices[0].finish_reason == "stop"
    assert "found: fourteen" in (done.choices[0].message.content or "")


def test_invalid_arguments_are_corrected_by_the_model(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="fixer", messages=[{"role": "user", "content": "2+3*4"}]
    )
    outcomes = [r.split(":")[1] for r in raw.headers["x-gateway-tools"].split(",")]
    assert outcomes == ["invalid", "ok"]
    assert "14" in (raw.parse().choices[0].message.content or "")


def test_a_model_that_calls_tools_forever_is_stopped(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.chat.completions.create(
            model="forever", messages=[{"role": "user", "content": "2+2"}]
        )
    assert caught.value.code == "tool_loop_limit"
    assert time.monotonic() - started < 15
    with pytest.raises(openai.APIError) as streamed:
        for _ in client.chat.completions.create(
            model="forever", messages=[{"role": "user", "content": "2+2"}], stream=True
        ):
            pass
    assert "tool loop" in str(streamed.value)


def test_an_mcp_server_is_a_tool_source_through_chat(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="adder", messages=[{"role": "user", "content": "add them"}]
    )
    assert raw.parse().choices[0].message.content == "Result: 4"
    assert raw.headers["x-gateway-tools"].startswith("files.add:ok:")


async def _mcp_session(base: str) -> tuple[set[str], str, int]:
    """Through the MCP SDK's own client: list the tools, call a built-in and the stdio
    server's `pid`."""
    import httpx2  # the MCP SDK's HTTP client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=10) as http,
        Client(streamable_http_client(base + "/mcp", http_client=http)) as mcp,
    ):
        names = {t.name for t in (await mcp.list_tools()).tools}
        exact = await mcp.call_tool("calculator", {"expression": "1/3 + 1/6"})
        pid = await mcp.call_tool("files__pid", {})
        return names, exact.content[0].text, int(pid.content[0].text)  # type: ignore[union-attr]


def test_the_gateway_serves_its_tools_over_mcp_and_revives_a_killed_server(
    served: tuple[Served, str],
) -> None:
    base = served[0].base
    names, exact, pid = asyncio.run(asyncio.wait_for(_mcp_session(base), 30))
    assert {"calculator", "current_time", "files__add", "files__echo"} <= names
    assert not any(n.startswith("dead") for n in names)  # a dead server's tools are hidden
    assert "1/2" in exact
    # No key, no tools.
    assert httpx.post(base + "/mcp", json={}, timeout=5).status_code == 401
    os.kill(pid, signal.SIGKILL)
    _wait_for(base, lambda s: s.get("files") != "up", timeout=10)
    _wait_for(base, lambda s: s.get("files") == "up", timeout=30)
    _names, _exact, revived = asyncio.run(asyncio.wait_for(_mcp_session(base), 30))
    assert revived != pid


def test_the_mcp_endpoint_needs_a_key(served: tuple[Served, str]) -> None:
    reply = httpx.post(
        served[0].base + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"accept": "application/json, text/event-stream"},
        timeout=5,
    )
    assert reply.status_code == 401 and json.loads(reply.text)["error"]["code"] == "invalid_api_key"
