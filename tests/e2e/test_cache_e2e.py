"""The response cache and request coalescing end to end: real gateway processes before the
loopback upstream process, the official OpenAI SDK as the client, and a real redis-server
shared by two replicas, killed mid-test and restarted."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.e2e.conftest import UPSTREAM_KEY, upstream_records
from tests.support import RedisServer, Served, start_gateway

pytestmark = pytest.mark.e2e
N = 20
CONFIG = """
server: {access_log: false}
defaults:
  timeouts: {connect: 2, first_byte: 10, idle: 10}
  retries: {attempts: 1}
STATE
cache: {backend: BACKEND}
backends:
  up: {type: openai, base_url: "LOOPBACK_URL", api_key_env: LOOP_KEY}
models:
  # JSON: one 0.8 s wait before the reply; streams: 20 words, 50 ms before each chunk.
  - {id: slow-json, backend: up, upstream_model: slow-800, coalesce: true}
  - {id: slow-stream, backend: up, upstream_model: words-20+slow-50, coalesce: true, cache: {mode: "off"}}
  - {id: cached-slow, backend: up, upstream_model: words-20+slow-50, coalesce: true, cache: {mode: exact}}
  - {id: replay, backend: up, upstream_model: echo, cache: {mode: exact}}
  - {id: replay-tools, backend: up, upstream_model: tools-2, cache: {mode: exact}}
"""
WORDS = " ".join(f"w{i}" for i in range(20))
# A request served while Redis is away must not wait on it: far above its 0.25 s bound.
PATIENCE = 3.0


def write_config(tmp: Path, loopback: str, backend: str, state: str = "") -> Path:
    path = tmp / f"cache-{backend}.yaml"
    text = CONFIG.replace("LOOPBACK_URL", loopback).replace("BACKEND", backend)
    path.write_text(text.replace("STATE", state))
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, loopback: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("cache-e2e")
    config = write_config(tmp, loopback, "memory")
    proc, base = start_gateway(tmp, ["--config", str(config)], env={"LOOP_KEY": UPSTREAM_KEY})
    yield base
    proc.stop()


class Headers:
    """The response headers each SDK call saw (an httpx event hook: public SDK API)."""

    def __init__(self) -> None:
        self.seen: list[httpx.Headers] = []

    def record(self, response: httpx.Response) -> None:
        self.seen.append(response.headers)

    async def arecord(self, response: httpx.Response) -> None:
        self.seen.append(response.headers)

    def cache(self) -> list[str]:
        return [h.get("x-gateway-cache", "") for h in self.seen]


def sdk(base: str, headers: Headers) -> OpenAI:
    http = httpx.Client(event_hooks={"response": [headers.record]}, timeout=20)
    return OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, http_client=http)


def async_sdk(base: str, headers: Headers) -> AsyncOpenAI:
    http = httpx.AsyncClient(event_hooks={"response": [headers.arecord]}, timeout=30)
    return AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, http_client=http)


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:10]}"


def messages(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def calls_for(loopback: str, text: str) -> list[dict[str, Any]]:
    return [
        r
        for r in upstream_records(loopback)
        if isinstance(r.get("body"), dict) and r["body"].get("messages") == messages(text)  # type: ignore[union-attr]
    ]


# --- coalescing ----------------------------------------------------------------------------


def test_twenty_identical_json_requests_make_one_upstream_call(gateway: str, loopback: str) -> None:
    text = unique("coalesce json")
    headers = Headers()

    async def run() -> list[Any]:
        async with async_sdk(gateway, headers) as client:
            return await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="slow-json", messages=messages(text), temperature=0
                    )
                    for _ in range(N)
                )
            )

    replies = asyncio.run(run())
    assert [r.choices[0].message.content for r in replies] == [text] * N
    assert {r.choices[0].finish_reason for r in replies} == {"stop"}
    assert all(r.usage is not None and r.usage.completion_tokens > 0 for r in replies)
    assert len(calls_for(loopback, text)) == 1
    assert headers.cache() == ["bypass"] * N  # no cache on this route: coalescing only


async def stream_text(
    client: AsyncOpenAI, model: str, text: str, stop_after: int | None = None
) -> tuple[str, str | None, int]:
    stream = await client.chat.completions.create(
        model=model,
        messages=messages(text),
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    content, finish, chunks = "", None, 0
    try:
        async for chunk in stream:
            chunks += 1
            for choice in chunk.choices:
                content += choice.delta.content or ""
                finish = choice.finish_reason or finish
            if stop_after is not None and chunks >= stop_after:
                break
    finally:
        await stream.close()
    return content, finish, chunks


def test_twenty_identical_streams_make_one_upstream_call(gateway: str, loopback: str) -> None:
    text = unique("coalesce stream")

    async def run() -> list[tuple[str, str | None, int]]:
        async with async_sdk(gateway, Headers()) as client:
            return await asyncio.gather(
                *(stream_text(client, "slow-stream", text) for _ in range(N))
            )

    results = asyncio.run(run())
    assert [(content, finish) for content, finish, _ in results] == [(WORDS, "stop")] * N
    # Every chunk reached every stream: the role chunk, 20 words, the finish and the usage.
    assert {chunks for _, _, chunks in results} == {23}
    calls = calls_for(loopback, text)
    assert len(calls) == 1 and calls[0]["state"] == "completed"


def test_one_stream_leaving_early_does_not_disturb_the_other_nineteen(
    gateway: str, loopback: str
) -> None:
    text = unique("coalesce leave")

    async def run() -> list[tuple[str, str | None, int]]:
        async with async_sdk(gateway, Headers()) as client:
            staying = [
                asyncio.create_task(stream_text(client, "slow-stream", text)) for _ in range(N - 1)
            ]
            await asyncio.sleep(0.05)
            leaving = await stream_text(client, "slow-stream", text, stop_after=3)
            assert leaving[2] == 3 and leaving[1] is None  # it really left mid-stream
            return await asyncio.gather(*staying)

    started = time.monotonic()
    results = asyncio.run(run())
    assert [(content, finish) for content, finish, _ in results] == [(WORDS, "stop")] * (N - 1)
    assert time.monotonic() - started < 10
    calls = calls_for(loopback, text)
    assert len(calls) == 1 and calls[0]["state"] == "completed"


def test_coalesced_streams_on_a_cached_route_store_once_and_then_hit(
    gateway: str, loopback: str
) -> None:
    text = unique("coalesce cached")
    headers = Headers()

    async def run(count: int) -> list[tuple[str, str | None, int]]:
        async with async_sdk(gateway, headers) as client:
            return await asyncio.gather(
                *(stream_text(client, "cached-slow", text) for _ in range(count))
            )

    assert [r[:2] for r in asyncio.run(run(N))] == [(WORDS, "stop")] * N
    assert headers.cache() == ["miss"] * N
    assert len(calls_for(loopback, text)) == 1
    time.sleep(0.2)  # the store lands off the request path
    assert [r[:2] for r in asyncio.run(run(3))] == [(WORDS, "stop")] * 3
    assert headers.cache()[N:] == ["hit"] * 3
    assert len(calls_for(loopback, text)) == 1


# --- stream replay through the SDK's helpers ------------------------------------------------


def helper_stream(client: OpenAI, model: str, text: str) -> dict[str, Any]:
    """Everything the SDK's `stream()` helper reports, for comparing a live stream with a
    replay: the final completion, the events' text and tool arguments, their chunk ids."""
    deltas, done, arguments, ids = "", None, {}, set()
    with client.chat.completions.stream(
        model=model,
        messages=messages(text),
        temperature=0,
        stream_options={"include_usage": True},
    ) as stream:
        for event in stream:
            if event.type == "chunk":
                ids.add(event.chunk.id)
            elif event.type == "content.delta":
                deltas += event.delta
            elif event.type == "content.done":
                done = event.content
            elif event.type == "tool_calls.function.arguments.delta":
                # The deltas, not the `.done` events: on a live stream whose parallel calls
                # interleave, the SDK sends `.done` for a call as the next one opens.
                arguments[event.index] = arguments.get(event.index, "") + event.arguments_delta
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert len(ids) == 1 and final.id in ids  # one id per stream, on every chunk
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or ()]
    return {
        "content": choice.message.content,
        "deltas": deltas,
        "done": done,
        "finish_reason": choice.finish_reason,
        "usage": final.usage.model_dump() if final.usage else None,
        "tool_calls": calls,
        "arguments": arguments,
        "id": final.id,
        "created": final.created,
    }


def test_a_replayed_stream_passes_the_sdk_helpers_checks_like_the_live_one(
    gateway: str, loopback: str
) -> None:
    text = unique("Replay me through the helper, with quite a few words so it has pieces:")
    headers = Headers()
    with sdk(gateway, headers) as client:
        live = helper_stream(client, "replay", text)
        time.sleep(0.2)
        replayed = helper_stream(client, "replay", text)
        # And the SDK's plain JSON call hits the entry the stream wrote.
        json_reply = client.chat.completions.create(
            model="replay", messages=messages(text), temperature=0
        )
    assert headers.cache() == ["miss", "hit", "hit"]
    assert live["content"] == live["deltas"] == live["done"] == text
    assert live["finish_reason"] == "stop" and live["usage"]["completion_tokens"] > 0
    for field in ("content", "deltas", "done", "finish_reason", "usage", "tool_calls"):
        assert replayed[field] == live[field], field
    assert replayed["id"] != live["id"] and replayed["created"] >= live["created"]
    assert json_reply.choices[0].message.content == text
    assert json_reply.choices[0].finish_reason == "stop"
    assert json_reply.usage is not None and json_reply.usage.model_dump() == live["usage"]
    assert len(calls_for(loopback, text)) == 1


def test_a_replayed_tool_call_stream_matches_the_live_one(gateway: str, loopback: str) -> None:
    text = unique("weather please")
    headers = Headers()
    with sdk(gateway, headers) as client:
        live = helper_stream(client, "replay-tools", text)
        time.sleep(0.2)
        replayed = helper_stream(client, "replay-tools", text)
    assert headers.cache() == ["miss", "hit"]
    assert live["finish_reason"] == "tool_calls" and len(live["tool_calls"]) == 2
    assert live["arguments"] == {0: '{"city":"City0","days":1}', 1: '{"city":"City1","days":2}'}
    for field in ("content", "finish_reason", "usage", "tool_calls", "arguments"):
        assert replayed[field] == live[field], field
    assert len(calls_for(loopback, text)) == 1


# --- Redis shared by two replicas, killed and restarted ------------------------------------


def post(base: str, text: str) -> httpx.Response:
    started = time.monotonic()
    reply = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "replay", "messages": messages(text), "temperature": 0},
        timeout=PATIENCE + 5,
    )
    assert time.monotonic() - started < PATIENCE, "the request hung on Redis"
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == text
    return reply


def cache_of(base: str, text: str) -> str:
    return post(base, text).headers["x-gateway-cache"]


def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_redis_shared_by_two_replicas_killed_and_restarted(tmp_path: Path, loopback: str) -> None:
    redis = RedisServer()
    redis.start()
    config = write_config(
        tmp_path, loopback, "redis", "state: {redis_url_env: TEST_REDIS_URL, timeout_seconds: 0.25}"
    )
    env = {"LOOP_KEY": UPSTREAM_KEY, "TEST_REDIS_URL": redis.url}
    replicas: list[Served] = []
    try:
        for _ in range(2):
            replicas.append(Served(*start_gateway(tmp_path, ["--config", str(config)], env=env)))
        a, b = (r.base for r in replicas)

        text = unique("shared across replicas")
        assert cache_of(a, text) == "miss"
        until(lambda: cache_of(b, text) == "hit", 3, "replica B never hit A's entry")
        assert cache_of(a, text) == "hit"
        assert len(calls_for(loopback, text)) == 1

        redis.stop()
        for i in range(6):  # a known entry and new ones, on both replicas
            for base in (a, b):
                assert cache_of(base, text if i % 2 else unique("outage")) == "bypass"
        metrics = httpx.get(f"{a}/metrics", timeout=5).text
        assert any(
            line.startswith("gateway_cache_errors_total") and not line.endswith(" 0.0")
            for line in metrics.splitlines()
        ), "no cache error counted"

        redis.start()  # the same port; empty
        again = unique("after restart")
        until(lambda: cache_of(a, again) == "miss", 12, "caching never resumed on A")
        until(lambda: cache_of(b, again) == "hit", 12, "caching never resumed on B")
        assert cache_of(a, again) == "hit"
    finally:
        for served in replicas:
            served.proc.stop()
        redis.stop()
