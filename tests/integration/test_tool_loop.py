"""The gateway's tool loop in the real pipeline over the scripted `agent` model (the fake
backend): gateway tools run and fed back, client tools returned untouched, validation
errors corrected, usage summed, the round limit and the deadline enforced, streams alike.
The tools here are a small in-test set behind the loop's `GatewayTools` seam; the registry's
own tools are tested end to end elsewhere."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from gateway.backends.fake import FakeBackend
from gateway.context import RequestContext
from gateway.errors import GatewayError
from gateway.pipeline.executor import Executor
from gateway.pipeline.parsed import ParsedRequest
from gateway.pipeline.pipeline import Pipeline
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import decode_fields
from gateway.resilience.target_policy import TargetPolicy
from gateway.settings.backend_types import FakeBackendSpec
from gateway.settings.schema import Retries
from gateway.settings.tool_types import Tools
from routers import CatalogEntry, ModelCatalog, StaticRouter

pytestmark = pytest.mark.anyio
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "a + b",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


@dataclass
class Outcome:
    content: str
    outcome: str
    seconds: float


class AddTool:
    """`add` as the loop sees a registry's tool: validation errors come back as content."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.delay = delay

    def definitions(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return [ADD] if "add" in names else []

    def label(self, name: str) -> str:
        return name

    async def call(self, name: str, arguments: str, ctx: RequestContext, seconds: float) -> Outcome:
        self.calls.append(arguments)
        await asyncio.sleep(self.delay)
        args = msgspec.json.decode(arguments)
        if not {"a", "b"} <= set(args):
            return Outcome("invalid arguments: `a` and `b` are required", "invalid", 0.001)
        return Outcome(str(args["a"] + args["b"]), "ok", 0.002)


def pipeline(model: str, tools: AddTool, **settings: Any) -> Pipeline:
    catalog = ModelCatalog([CatalogEntry("assistant", "fake", model)])
    executor = Executor(
        {"fake": FakeBackend("fake", FakeBackendSpec())}, lambda _t: TargetPolicy(Retries())
    )
    return Pipeline(
        StaticRouter(catalog),
        executor,
        tools=tools,
        tool_settings=Tools(**settings),
        route_tools={"assistant": ["add"]},
    )


def request(
    stream: bool = False, client_tools: list[Any] | None = None, **extra: Any
) -> ParsedRequest:
    body: dict[str, Any] = {
        "model": "assistant",
        "messages": [{"role": "user", "content": "what is 2 + 2"}],
        "stream": stream,
        **extra,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if client_tools:
        body["tools"] = client_tools
    raw = msgspec.json.encode(body)
    return ParsedRequest(
        "chat/completions", msgspec.json.decode(raw, type=ChatCompletionRequest), decode_fields(raw)
    )


async def collect(
    pipe: Pipeline, parsed: ParsedRequest, ctx: RequestContext
) -> list[dict[str, Any]]:
    stream = await pipe.stream(parsed, ctx)
    out = []
    try:
        async for chunk in stream:
            out.append(msgspec.json.decode(chunk.encode()))
    finally:
        await stream.aclose()
    return out


async def test_a_gateway_tool_runs_and_only_the_answer_reaches_the_client() -> None:
    tools = AddTool()
    ctx = RequestContext("r", "/v1/chat/completions")
    reply = await pipeline("agent", tools).complete(request(), ctx)
    body = msgspec.json.decode(reply.encode())
    message = body["choices"][0]["message"]
    assert message["content"] == "Result: 4" and not message.get("tool_calls")
    assert tools.calls == ['{"a":2,"b":2}']
    assert ctx.tool_runs == ["add:ok:2ms"]
    # Both rounds' tokens: the fake counts prompt words and 10 per call, 2 for "Result: 4".
    usage = body["usage"]
    assert usage["completion_tokens"] == 10 + 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] > 5


async def test_invalid_arguments_go_back_to_the_model_which_corrects_them() -> None:
    tools = AddTool()
    ctx = RequestContext("r", "/v1/chat/completions")
    reply = await pipeline("agent+badargs", tools).complete(request(), ctx)
    body = msgspec.json.decode(reply.encode())
    assert body["choices"][0]["message"]["content"].endswith("| 4")
    assert tools.calls == ["{}", '{"a":2,"b":2}']
    assert [r.split(":")[1] for r in ctx.tool_runs or []] == ["invalid", "ok"]


async def test_a_client_tool_call_is_returned_untouched_after_the_gateway_round() -> None:
    tools = AddTool()
    pipe = pipeline("agent", tools)
    ctx = RequestContext("r", "/v1/chat/completions")
    reply = await pipe.complete(request(client_tools=[LOOKUP]), ctx)
    body = msgspec.json.decode(reply.encode())
    choice = body["choices"][0]
    calls = choice["message"]["tool_calls"]
    # Round 1 called the gateway's `add`, round 2 the client's `lookup`: the client gets
    # exactly its own call, nothing of the gateway's.
    assert [c["function"]["name"] for c in calls] == ["lookup"]
    assert choice["finish_reason"] == "tool_calls"
    assert tools.calls == ['{"a":2,"b":2}'] and ctx.tool_runs == ["add:ok:2ms"]
    # The client answers its call; the conversation finishes with an answer.
    follow = request(client_tools=[LOOKUP])
    history = [
        {"role": "user", "content": "what is 2 + 2"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "found: four"},
    ]
    raw = msgspec.json.encode(
        {**msgspec.json.decode(msgspec.json.encode(follow.fields)), "messages": history}
    )
    parsed = ParsedRequest(
        "chat/completions", msgspec.json.decode(raw, type=ChatCompletionRequest), decode_fields(raw)
    )
    final = msgspec.json.decode((await pipe.complete(parsed, RequestContext("r2", "/v1"))).encode())
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "found: four" in final["choices"][0]["message"]["content"]


async def test_a_client_tool_named_like_a_gateway_tool_is_a_400() -> None:
    clash = {**ADD, "function": {**ADD["function"], "description": "mine"}}
    with pytest.raises(GatewayError) as caught:
        await pipeline("agent", AddTool()).complete(
            request(client_tools=[clash]), RequestContext("r", "/v1")
        )
    assert caught.value.status_code == 400 and caught.value.error_code == "tool_name_conflict"
    assert "`add`" in caught.value.message


async def test_the_round_limit_stops_a_model_that_calls_tools_forever() -> None:
    tools = AddTool()
    with pytest.raises(GatewayError) as caught:
        await pipeline("tools-1", tools, max_rounds=3).complete(
            request(), RequestContext("r", "/v1")
        )
    assert caught.value.error_code == "tool_loop_limit" and caught.value.status_code == 422
    assert len(tools.calls) == 3  # three rounds ran, the fourth call was refused


async def test_the_deadline_stops_the_loop_in_time() -> None:
    tools = AddTool(delay=0.2)
    started = time.monotonic()
    with pytest.raises(GatewayError) as caught:
        await pipeline("tools-1", tools, deadline_seconds=0.5, timeout_seconds=5).complete(
            request(), RequestContext("r", "/v1")
        )
    assert caught.value.error_code == "tool_loop_limit"
    assert time.monotonic() - started < 1.5


async def test_a_stream_runs_the_tool_rounds_then_streams_the_answer() -> None:
    tools = AddTool()
    ctx = RequestContext("r", "/v1/chat/completions")
    chunks = await collect(pipeline("agent", tools), request(stream=True), ctx)
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )
    assert text == "Result: 4"
    assert all(not c["choices"][0]["delta"].get("tool_calls") for c in chunks if c.get("choices"))
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
    assert finishes[-1] == "stop"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and usage["completion_tokens"] == 10 + 2
    assert ctx.tool_runs == ["add:ok:2ms"]


async def test_a_stream_returns_a_client_call_as_a_stream() -> None:
    tools = AddTool()
    ctx = RequestContext("r", "/v1/chat/completions")
    chunks = await collect(
        pipeline("agent", tools), request(stream=True, client_tools=[LOOKUP]), ctx
    )
    names = [
        call["function"].get("name")
        for c in chunks
        if c.get("choices")
        for call in c["choices"][0]["delta"].get("tool_calls") or ()
    ]
    assert [n for n in names if n] == ["lookup"]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")][
        -1
    ] == "tool_calls"
