"""`/v1/embeddings` through the official SDK: the local ONNX embedder and an upstream."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from openai import OpenAI

from tests.e2e.conftest import UPSTREAM_KEY, upstream_records
from tests.support import start_gateway

pytestmark = pytest.mark.e2e
LOCAL = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def embed_gateway(tmp_path_factory: pytest.TempPathFactory, loopback: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("embeddings")
    config = tmp / "policy.yaml"
    config.write_text(
        "backends:\n"
        "  emb: {type: onnx_embedder}\n"
        "  chat: {type: fake}\n"
        f"  loop: {{type: openai, base_url: {loopback}, api_key_env: LOOP_KEY}}\n"
        "models:\n"
        "  - {id: remote-embed, backend: loop, upstream_model: embed-1}\n"
        "  - {id: echo, backend: chat}\n"
    )
    proc, base = start_gateway(tmp, ["--config", str(config)], env={"LOOP_KEY": UPSTREAM_KEY})
    yield base
    proc.stop()


@pytest.fixture()
def sdk(embed_gateway: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{embed_gateway}/v1", api_key="x", max_retries=0) as client:
        yield client


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_float_and_base64_agree(sdk: OpenAI, embed_gateway: str) -> None:
    text = "The cat sits on the mat."
    floats = sdk.embeddings.create(model=LOCAL, input=text, encoding_format="float")
    vector = floats.data[0].embedding
    assert len(vector) == 384 and abs(np.linalg.norm(vector) - 1) < 1e-4
    # The SDK decodes base64 itself when it asked for it; check the wire form directly too.
    import httpx

    raw = httpx.post(
        f"{embed_gateway}/v1/embeddings",
        json={"model": LOCAL, "input": text, "encoding_format": "base64"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, vector, atol=1e-6)
    assert floats.usage.prompt_tokens > 0 and floats.model == LOCAL


def test_dimensions_shortens_to_unit_vectors_in_float_and_base64(
    sdk: OpenAI, embed_gateway: str
) -> None:
    text = "The cat sits on the mat."
    full = sdk.embeddings.create(model=LOCAL, input=text).data[0].embedding
    short = sdk.embeddings.create(model=LOCAL, input=[text, "A dog."], dimensions=8)
    vectors = [d.embedding for d in short.data]
    assert [len(v) for v in vectors] == [8, 8]
    assert all(abs(np.linalg.norm(v) - 1) < 1e-6 for v in vectors)
    # The first components of the full vector, re-normalised.
    prefix = np.asarray(full[:8])
    assert np.allclose(vectors[0], prefix / np.linalg.norm(prefix), atol=1e-6)
    import httpx

    raw = httpx.post(
        f"{embed_gateway}/v1/embeddings",
        json={"model": LOCAL, "input": text, "encoding_format": "base64", "dimensions": 8},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert decoded.shape == (8,) and np.allclose(decoded, vectors[0], atol=1e-6)
    assert (
        len(sdk.embeddings.create(model=LOCAL, input=text, dimensions=384).data[0].embedding) == 384
    )


def test_a_paraphrase_scores_higher_than_an_unrelated_sentence(sdk: OpenAI) -> None:
    reply = sdk.embeddings.create(
        model=LOCAL,
        input=[
            "The cat sits on the mat.",
            "A cat is sitting on a rug.",
            "Quarterly revenue grew by ten percent.",
        ],
    )
    base, paraphrase, unrelated = (d.embedding for d in reply.data)
    assert [d.index for d in reply.data] == [0, 1, 2]
    assert _cos(base, paraphrase) > _cos(base, unrelated) + 0.3


def test_token_arrays_and_batches(sdk: OpenAI) -> None:
    # Token arrays are cl100k_base ids, as OpenAI clients send them: "The quick brown fox",
    # and "Hello" / " world". They embed like their text, counted in the model's own tokens.
    one = sdk.embeddings.create(model=LOCAL, input=[791, 4062, 14198, 39935])
    many = sdk.embeddings.create(model=LOCAL, input=[[9906], [1917]])
    text = sdk.embeddings.create(model=LOCAL, input="The quick brown fox")
    assert len(one.data) == 1 and len(many.data) == 2
    assert one.data[0].embedding == pytest.approx(text.data[0].embedding, abs=1e-5)
    assert one.usage.prompt_tokens == text.usage.prompt_tokens


def test_embedding_bad_input(sdk: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model=LOCAL, input="x", dimensions=385)
    assert caught.value.param == "dimensions"
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model=LOCAL, input=["a", ""])
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model=LOCAL, input=[99_999_999])
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model="echo", input="a chat model")
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model=LOCAL, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="nope", input="x")


def test_upstream_embeddings_pass_through_under_the_alias(sdk: OpenAI, loopback: str) -> None:
    reply = sdk.embeddings.create(model="remote-embed", input=["banana", "kiwi"])
    assert reply.model == "remote-embed"
    assert [d.embedding for d in reply.data] == [[6.0, 3.0, 1.0], [4.0, 2.0, 1.0]]
    sent = [r for r in upstream_records(loopback) if r["path"] == "/v1/embeddings"]
    assert json.dumps(sent[-1]["body"]["model"]) == '"embed-1"'  # type: ignore[index]


def test_the_embedded_default_serves_embeddings(tmp_path: Path) -> None:
    proc, base = start_gateway(tmp_path, [], env={"GATEWAY_UPSTREAM_URL": ""})
    try:
        with OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as client:
            assert LOCAL in {m.id for m in client.models.list()}
            assert len(client.embeddings.create(model=LOCAL, input="hi").data[0].embedding) == 384
    finally:
        proc.stop()
