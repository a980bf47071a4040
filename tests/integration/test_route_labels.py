"""Request metrics are labelled by route template, /v1/embeddings included (in-process ASGI)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

pytestmark = pytest.mark.anyio
JSON = {"content-type": "application/json"}


async def _labels(http: httpx.AsyncClient) -> set[tuple[str, str]]:
    text = (await http.get("/metrics")).text
    return set(re.findall(r'gateway_requests_total\{.*?route="([^"]*)",status="(\d+)"\}', text))


async def test_each_endpoint_has_its_own_route_label(http: httpx.AsyncClient) -> None:
    # The fake backend serves no embeddings: a 400 from the handler, still on its route.
    reply = await http.post("/v1/embeddings", json={"model": "echo", "input": "hi"})
    assert reply.status_code == 400
    chat = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    assert (await http.post("/v1/chat/completions", json=chat)).status_code == 200
    assert (await http.get("/v1/models/echo")).status_code == 200
    assert (await http.get("/nowhere")).status_code == 404
    labels = await _labels(http)
    assert ("/v1/embeddings", "400") in labels
    assert ("/v1/chat/completions", "200") in labels
    assert ("/v1/models/{model_id}", "200") in labels
    # Only the unrouted request falls into the catch-all label.
    assert [status for route, status in labels if route == "other"] == ["404"]


async def _oversized() -> AsyncIterator[bytes]:
    for _ in range(3):
        yield b"x" * 32 * 1024


async def test_refusals_before_and_after_routing_look_and_count_the_same(
    http: httpx.AsyncClient,
) -> None:
    # A declared length over the limit is refused by the middleware, before routing; a chunked
    # body by the handler's reader. Same rendering, same route label. (The limit is 64 KiB.)
    declared = await http.post("/v1/embeddings", content=b"x" * 100_000, headers=JSON)
    chunked = await http.post("/v1/embeddings", content=_oversized(), headers=JSON)
    for reply in (declared, chunked):
        assert reply.status_code == 413
        assert reply.headers["content-type"] == "application/json"
        assert reply.headers["connection"] == "close"
        assert reply.headers["x-should-retry"] == "false"
        assert reply.headers["content-length"] == str(len(reply.content))
    assert declared.json() == chunked.json()
    assert declared.json()["error"]["code"] == "request_too_large"
    assert ("/v1/embeddings", "413") in await _labels(http)
