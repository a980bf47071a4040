"""A real local model whose sampler fails (an injected fault): the failure is translated at
the backend boundary (a 502 naming the backend, never an opaque 500), and because no token
reached the client yet, the route's fallback answers instead, streams included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.backends.llama_cpp import LlamaCppBackend
from gateway.container import Container
from gateway.settings.defaults import DEFAULT_MODEL, DEFAULT_MODEL_ID
from gateway.settings.loader import parse_settings

pytestmark = pytest.mark.anyio
SETTINGS = {
    "server": {"access_log": False},
    "backends": {
        "local": {"type": "llama_cpp", "n_ctx": 512, "parallel": 1,
                  "models": {DEFAULT_MODEL_ID: DEFAULT_MODEL}},
        "fake": {"type": "fake"},
    },
    "models": [
        {"id": "chat", "backend": "local", "upstream_model": DEFAULT_MODEL_ID,
         "fallbacks": ["backup"]},
        {"id": "backup", "backend": "fake", "upstream_model": "echo"},
        {"id": "solo", "backend": "local", "upstream_model": DEFAULT_MODEL_ID},
    ],
}  # fmt: skip
BODY: dict[str, Any] = {"messages": [{"role": "user", "content": "say hi"}], "max_tokens": 4}


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


class _BrokenSampler:
    def sample(self, ctx: Any, index: int) -> int:
        raise ValueError("sampler exploded")

    def close(self) -> None:
        return None


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    container = Container(parse_settings(SETTINGS, "test", {}), env={})
    await container.start()
    local = container.backends["local"]
    assert isinstance(local, LlamaCppBackend)
    model = await local.models.get(DEFAULT_MODEL_ID)
    assert model.engine is not None
    model.engine._sampler = lambda *_: _BrokenSampler()  # type: ignore[method-assign]
    transport = httpx.ASGITransport(app=create_app(container.settings, container))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
    await container.aclose()


async def test_a_failing_local_model_is_a_502_naming_the_backend(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/v1/chat/completions", json={**BODY, "model": "solo"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "local_model_failed"
    assert "`local`" in error["message"] and "ValueError" in error["message"]


async def test_the_fallback_answers_when_the_local_model_fails(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json={**BODY, "model": "chat"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "say hi"


async def test_a_stream_fails_over_when_no_token_was_sent(http: httpx.AsyncClient) -> None:
    body = {**BODY, "model": "chat", "stream": True}
    response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    lines = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert '"error"' not in response.text
    assert "say" in response.text  # the fake backend's echo, not the local model


async def test_a_stream_with_no_fallback_fails_before_its_headers(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/v1/chat/completions", json={**BODY, "model": "solo", "stream": True}
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "local_model_failed"
