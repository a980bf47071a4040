"""The exact response cache through the app, in process: `x-gateway-cache`, JSON <-> stream
cross hits with valid SSE, the client's cache directives, the sampling rule, tenants kept
apart, clearing by tenant and route, hits metered at no cost, content policies on hits, and
no cache header on embeddings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.cache.key import cache_key
from gateway.cache.store import entry_key
from gateway.container import Container
from gateway.keys.records import sha256_hex as sha
from gateway.protocol.raw import decode_fields
from gateway.settings.loader import parse_settings
from gateway.testing.loopback_upstream import LoopbackUpstream
from tests.support import free_port

pytestmark = pytest.mark.anyio
ADMIN_ENV = "TEST_RESPONSE_CACHE_ADMIN"
ADMIN = "sk-cache-admin-0123456789"
KEY_A = "sk-cache-tenant-a-0123456789"
KEY_B = "sk-cache-tenant-b-0123456789"
AS_A = {"x-api-key": KEY_A}
AS_B = {"x-api-key": KEY_B}
AS_ADMIN = {"authorization": f"Bearer {ADMIN}"}
EXACT = {"mode": "exact"}
EMAIL = "jane.doe@example.com"


def document(upstream: str, truncating: str) -> dict[str, Any]:
    return {
        "server": {"access_log": False},
        "auth": {"required": True, "admin_key_env": ADMIN_ENV},
        "keys": [
            {"id": "a", "sha256": sha(KEY_A), "tenant": "alpha"},
            {"id": "b", "sha256": sha(KEY_B), "tenant": "beta"},
        ],
        "prices": {"chat": {"input": 1000.0, "output": 1000.0}},
        "policies": {"private": {"pii": {"output": "redact"}, "secrets": {"input": "off"}}},
        "backends": {
            "fake": {"type": "fake"},
            "up": {"type": "openai", "base_url": upstream},
            "cut": {"type": "openai", "base_url": truncating},
        },
        "models": [
            {"id": "chat", "backend": "fake", "upstream_model": "echo", "cache": EXACT},
            {"id": "chat-2", "backend": "fake", "upstream_model": "echo", "cache": EXACT},
            {"id": "tools", "backend": "fake", "upstream_model": "tools-2", "cache": EXACT},
            {"id": "sampled", "backend": "fake", "upstream_model": "echo", "cache": {"mode": "exact", "cache_sampled": True}},
            {"id": "guarded", "backend": "fake", "upstream_model": "echo", "cache": EXACT, "policy": "private"},
            {"id": "uncached", "backend": "fake", "upstream_model": "echo"},
            {"id": "truncated", "backend": "cut", "upstream_model": "cut", "cache": EXACT},
            {"id": "embed", "backend": "up", "upstream_model": "embed", "cache": EXACT},
        ],
    }  # fmt: skip


async def truncating_upstream(request: web.Request) -> web.StreamResponse:
    """Answers cut short by max_tokens: `finish_reason: length`, as JSON or as a stream."""
    body = await request.json()
    truncating_upstream.calls += 1  # type: ignore[attr-defined]
    base = {"id": "chatcmpl-cut", "created": 1, "model": body["model"]}
    if not body.get("stream"):
        return web.json_response(
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Once upon a"}, "logprobs": None, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
            }
        )  # fmt: skip
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for content, finish in (("Once", None), (" upon", None), (None, "length")):
        delta = {} if content is None else {"content": content}
        chunk = {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        await response.write(b"data: " + msgspec.json.encode(chunk) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


@contextlib.asynccontextmanager
async def upstreams() -> AsyncIterator[tuple[str, str]]:
    loopback = web.AppRunner(LoopbackUpstream().app())
    cut_app = web.Application()
    cut_app.router.add_post("/v1/chat/completions", truncating_upstream)
    cut = web.AppRunner(cut_app)
    bases = []
    for runner in (loopback, cut):
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        bases.append(f"http://127.0.0.1:{port}/v1")
    try:
        yield bases[0], bases[1]
    finally:
        await loopback.cleanup()
        await cut.cleanup()


class App:
    def __init__(self, http: httpx.AsyncClient, container: Container) -> None:
        self.http = http
        self.container = container

    async def chat(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        reply = await self.http.post(
            "/v1/chat/completions", json=body, headers={**AS_A, **(headers or {})}
        )
        # Stores happen off the request path: let them land before the next request.
        assert self.container.response_cache is not None
        await self.container.response_cache.drain()
        return reply


@pytest.fixture()
async def app(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[App]:
    monkeypatch.setenv(ADMIN_ENV, ADMIN)  # the app reads the admin key when it is built
    truncating_upstream.calls = 0  # type: ignore[attr-defined]
    async with upstreams() as (upstream, truncating):
        built = Container(parse_settings(document(upstream, truncating), "test", {}), env={})
        await built.start()
        transport = httpx.ASGITransport(app=create_app(built.settings, built))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
                yield App(http, built)
        finally:
            await built.aclose()


def chat(
    text: str = "What is the capital of France?", model: str = "chat", **extra: Any
) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "temperature": 0, **extra}  # fmt: skip


def sse(reply: httpx.Response) -> list[dict[str, Any]]:
    """The stream's chunks, checked as a client would: `data:` events, one `[DONE]` last."""
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]
    assert events and events[-1] == "[DONE]" and events.count("[DONE]") == 1
    chunks = [msgspec.json.decode(e) for e in events[:-1]]
    assert chunks and {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert all(isinstance(c["created"], int) and c["created"] > 0 for c in chunks)
    return chunks


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        (choice["delta"].get("content") or "") for c in chunks for choice in c["choices"]
    )


def usage_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in chunks if c.get("usage")]


def finish_reasons(chunks: list[dict[str, Any]]) -> list[str]:
    return [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch.get("finish_reason")]


def status(reply: httpx.Response) -> str:
    assert reply.status_code == 200, reply.text
    return reply.headers["x-gateway-cache"]


async def test_a_miss_then_a_hit_with_the_same_answer_and_fresh_ids(app: App) -> None:
    first = await app.chat(chat())
    second = await app.chat(chat())
    assert (status(first), status(second)) == ("miss", "hit")
    a, b = first.json(), second.json()
    assert a["choices"] == b["choices"]
    assert b["choices"][0]["message"]["content"] == "What is the capital of France?"
    assert b["usage"] == a["usage"]  # the original token counts
    assert a["id"] != b["id"] and b["model"] == "chat"
    # Reordered keys and an integral float hit the same entry.
    reordered = {"temperature": 0.0, "messages": [{"content": "What is the capital of France?", "role": "user"}], "model": "chat"}  # fmt: skip
    assert status(await app.chat(reordered)) == "hit"
    assert status(await app.chat(chat("Something else"))) == "miss"


async def test_a_route_without_cache_says_bypass(app: App) -> None:
    for _ in range(2):
        assert status(await app.chat(chat(model="uncached"))) == "bypass"


async def test_a_stream_request_hits_an_entry_written_by_a_json_request(app: App) -> None:
    miss = await app.chat(chat())
    assert status(miss) == "miss"
    text = miss.json()["choices"][0]["message"]["content"]
    plain = await app.chat(chat(stream=True))
    assert status(plain) == "hit"
    chunks = sse(plain)
    assert streamed_text(chunks) == text
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert usage_chunks(chunks) == []  # not asked for
    assert chunks[0]["id"] != miss.json()["id"]
    with_usage = await app.chat(chat(stream=True, stream_options={"include_usage": True}))
    assert status(with_usage) == "hit"
    chunks = sse(with_usage)
    assert streamed_text(chunks) == text
    (last,) = usage_chunks(chunks)
    assert last is chunks[-1] and last["choices"] == []
    assert last["usage"] == miss.json()["usage"]


async def test_a_json_request_hits_an_entry_written_by_a_stream(app: App) -> None:
    live = await app.chat(chat(stream=True, stream_options={"include_usage": True}))
    assert status(live) == "miss"
    live_chunks = sse(live)
    (live_usage,) = usage_chunks(live_chunks)
    hit = await app.chat(chat())
    assert status(hit) == "hit"
    body = hit.json()
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["content"] == streamed_text(live_chunks)
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop" and "logprobs" in choice
    assert body["usage"] == live_usage["usage"]
    # And a stream that did not ask for usage replays without it.
    replay = await app.chat(chat(stream=True))
    assert status(replay) == "hit"
    replayed = sse(replay)
    assert streamed_text(replayed) == streamed_text(live_chunks)
    assert usage_chunks(replayed) == []
    assert replayed[0]["id"] != live_chunks[0]["id"]


async def test_tool_calls_cross_between_json_and_stream(app: App) -> None:
    live = await app.chat(chat(model="tools", stream=True))
    assert status(live) == "miss"
    hit = await app.chat(chat(model="tools"))
    assert status(hit) == "hit"
    calls = hit.json()["choices"][0]["message"]["tool_calls"]
    assert hit.json()["choices"][0]["finish_reason"] == "tool_calls"
    assert [msgspec.json.decode(c["function"]["arguments"]) for c in calls] == [
        {"city": "City0", "days": 1},
        {"city": "City1", "days": 2},
    ]
    replay = sse(await app.chat(chat(model="tools", stream=True)))
    arguments: dict[int, str] = {}
    for c in replay:
        for ch in c["choices"]:
            for call in ch["delta"].get("tool_calls") or ():
                arguments[call["index"]] = arguments.get(call["index"], "") + (
                    call.get("function", {}).get("arguments") or ""
                )
    assert arguments == {i: c["function"]["arguments"] for i, c in enumerate(calls)}
    assert finish_reasons(replay) == ["tool_calls"]


async def test_no_cache_skips_the_lookup_but_stores(app: App) -> None:
    assert status(await app.chat(chat())) == "miss"
    assert status(await app.chat(chat())) == "hit"
    skip = await app.chat(chat(), {"cache-control": "no-cache"})
    assert status(skip) == "bypass"
    # A fresh store after no-cache: a request never seen before is stored too.
    fresh = chat("Never asked before")
    assert status(await app.chat(fresh, {"cache-control": "no-cache"})) == "bypass"
    assert status(await app.chat(fresh)) == "hit"


async def test_no_store_neither_looks_up_nor_stores(app: App) -> None:
    body = chat("Keep this out of the cache")
    assert status(await app.chat(body, {"cache-control": "private, no-store"})) == "bypass"
    assert status(await app.chat(body)) == "miss"  # nothing was stored
    assert status(await app.chat(body)) == "hit"
    assert status(await app.chat(body, {"Cache-Control": "NO-STORE"})) == "bypass"


async def test_a_ttl_header_shortens_the_entry(app: App) -> None:
    body = chat("Short-lived")
    assert status(await app.chat(body, {"x-gateway-cache-ttl": "0.3"})) == "miss"
    assert status(await app.chat(body)) == "hit"
    await asyncio.sleep(0.5)
    assert status(await app.chat(body)) == "miss"


@pytest.mark.parametrize("ttl", ["abc", "0", "-1", "nan", "inf", "1e12", ""])
async def test_an_invalid_ttl_header_is_an_openai_shaped_400(app: App, ttl: str) -> None:
    reply = await app.chat(chat(), {"x-gateway-cache-ttl": ttl})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "x-gateway-cache-ttl" and error["code"] == "invalid_header"
    assert "x-gateway-cache-ttl" in error["message"]


async def test_sampled_requests_bypass_unless_the_route_caches_them(app: App) -> None:
    omitted = {k: v for k, v in chat().items() if k != "temperature"}
    for body in (omitted, chat(temperature=0.7)):
        assert status(await app.chat(body)) == "bypass"
        assert status(await app.chat(body)) == "bypass"  # and nothing was stored
        assert status(await app.chat({**body, "stream": True})) == "bypass"
        sampled = {**body, "model": "sampled"}
        assert status(await app.chat(sampled)) == "miss"
        assert status(await app.chat(sampled)) == "hit"


async def test_logprobs_requests_bypass(app: App) -> None:
    body = chat(logprobs=True)
    assert status(await app.chat(body)) == "bypass"
    assert status(await app.chat(body)) == "bypass"


async def test_a_truncated_answer_is_served_but_never_stored(app: App) -> None:
    for stream in (False, True):
        body = chat("Tell me a story", model="truncated", max_tokens=3, stream=stream)
        for _ in range(2):
            reply = await app.chat(body)
            assert status(reply) == "miss"
            if stream:
                assert finish_reasons(sse(reply)) == ["length"]
            else:
                assert reply.json()["choices"][0]["finish_reason"] == "length"
    assert truncating_upstream.calls == 4  # type: ignore[attr-defined]


async def test_tenants_are_isolated(app: App) -> None:
    body = chat("Tenant-scoped question")
    assert status(await app.chat(body, AS_A)) == "miss"
    assert status(await app.chat(body, AS_A)) == "hit"
    assert status(await app.chat(body, AS_B)) == "miss"
    assert status(await app.chat(body, AS_B)) == "hit"


async def test_clearing_by_tenant_and_by_route_clears_only_those(app: App) -> None:
    body = chat("Clear me")
    requests = [(AS_A, "chat"), (AS_A, "chat-2"), (AS_B, "chat"), (AS_B, "chat-2")]
    for headers, model in requests:
        assert status(await app.chat({**body, "model": model}, headers)) == "miss"

    async def statuses() -> list[str]:
        return [status(await app.chat({**body, "model": m}, h)) for h, m in requests]

    assert await statuses() == ["hit"] * 4
    refused = await app.http.delete("/admin/cache?tenant=alpha", headers=AS_A)
    assert refused.status_code == 401
    assert await statuses() == ["hit"] * 4

    cleared = await app.http.delete("/admin/cache?tenant=alpha", headers=AS_ADMIN)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {"object": "cache.cleared", "tenant": "alpha", "route": None, "deleted": 2}  # fmt: skip
    # alpha's two entries are gone (these requests store them again), beta's stay.
    assert await statuses() == ["miss", "miss", "hit", "hit"]

    cleared = await app.http.delete("/admin/cache?route=chat-2", headers=AS_ADMIN)
    assert cleared.json()["deleted"] == 2 and cleared.json()["route"] == "chat-2"
    assert await statuses() == ["hit", "miss", "hit", "miss"]

    cleared = await app.http.delete("/admin/cache?tenant=beta&route=chat", headers=AS_ADMIN)
    assert cleared.json()["deleted"] == 1
    assert await statuses() == ["hit", "hit", "miss", "hit"]

    everything = await app.http.delete("/admin/cache", headers=AS_ADMIN)
    assert everything.json()["deleted"] == 4
    assert await statuses() == ["miss"] * 4


async def test_a_hit_is_metered_as_cached_at_no_cost(app: App) -> None:
    body = chat("Metered question")

    async def usage() -> dict[str, Any]:
        reply = await app.http.get("/v1/usage", headers=AS_A)
        assert reply.status_code == 200, reply.text
        rows = [r for r in reply.json()["data"] if r["model"] == "chat"]
        assert len(rows) == 1
        return rows[0]  # type: ignore[no-any-return]

    assert status(await app.chat(body)) == "miss"
    after_miss = await usage()
    assert (after_miss["requests"], after_miss["cached_requests"]) == (1, 0)
    assert after_miss["cost_usd"] > 0
    assert status(await app.chat(body)) == "hit"
    assert status(await app.chat({**body, "stream": True})) == "hit"
    after_hits = await usage()
    assert (after_hits["requests"], after_hits["cached_requests"]) == (3, 1 + 1)
    assert after_hits["cost_usd"] == pytest.approx(after_miss["cost_usd"])  # hits cost 0


async def test_a_content_policy_still_applies_on_a_hit(app: App) -> None:
    text = f"Please write to {EMAIL} today"
    body = chat(text, model="guarded")
    miss = await app.chat(body)
    hit = await app.chat(body)
    assert (status(miss), status(hit)) == ("miss", "hit")
    for reply in (miss, hit):
        content = reply.json()["choices"][0]["message"]["content"]
        assert EMAIL not in content and "<EMAIL" in content, content
    streamed = await app.chat({**body, "stream": True})
    assert status(streamed) == "hit"
    assert EMAIL not in streamed.text and "<EMAIL" in streamed_text(sse(streamed))
    # What the cache holds is the upstream's own answer, before redaction.
    cache = app.container.response_cache
    assert cache is not None
    digest = cache_key("alpha", "guarded", "guarded", decode_fields(msgspec.json.encode(body)))
    stored = await cache._store.get(entry_key("alpha", "guarded", digest))
    assert stored is not None and EMAIL.encode() in stored


async def test_embeddings_carry_no_cache_header(app: App) -> None:
    for _ in range(2):
        reply = await app.http.post(
            "/v1/embeddings", json={"model": "embed", "input": "hello"}, headers=AS_A
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["data"][0]["embedding"] == [5.0, 2.0, 1.0]
        assert "x-gateway-cache" not in reply.headers
