"""`n` choices and prompt-prefix reuse on the real local model, through the official SDK.

A request for `n` choices reads its prompt once and samples each choice with its own seed
(`seed + i`), so a seeded request replays: its JSON and stream carry the same texts. Prefix
reuse shows in /metrics: a repeated prompt is found in the KV cache, not decoded again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from tests.e2e.test_local_model import MODEL, PARALLEL, policy
from tests.support import start_gateway

pytestmark = pytest.mark.e2e
ASK = [{"role": "user", "content": "Name an animal."}]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("choices")
    config = tmp / "policy.yaml"
    config.write_text(policy(tmp_path_factory.mktemp("models")))
    proc, base = start_gateway(tmp, ["--config", str(config)])
    yield base
    proc.stop()


@pytest.fixture()
def sdk(local: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{local}/v1", api_key="x", max_retries=0, timeout=120) as client:
        yield client


def test_two_choices_in_json_and_in_an_interleaved_stream(sdk: OpenAI) -> None:
    settings = {"max_tokens": 8, "temperature": 1.0, "seed": 11}
    reply = sdk.chat.completions.create(model=MODEL, messages=ASK, n=2, **settings)  # type: ignore[arg-type]
    assert [c.index for c in reply.choices] == [0, 1]
    texts = [c.message.content for c in reply.choices]
    assert all(texts) and all(c.finish_reason in ("stop", "length") for c in reply.choices)
    one = sdk.chat.completions.create(model=MODEL, messages=ASK, **settings)  # type: ignore[arg-type]
    assert one.choices[0].message.content == texts[0]  # choice 0 samples with `seed`
    assert reply.usage is not None and one.usage is not None
    assert reply.usage.prompt_tokens == one.usage.prompt_tokens  # the prompt, counted once
    chunks = list(
        sdk.chat.completions.create(
            model=MODEL,
            messages=ASK,  # type: ignore[arg-type]
            n=2,
            stream=True,
            stream_options={"include_usage": True},
            **settings,  # type: ignore[arg-type]
        )
    )
    streamed = ["", ""]
    finished: dict[int, str | None] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
            if choice.finish_reason is not None:
                finished[choice.index] = choice.finish_reason
    assert streamed == texts  # seeded: the stream replays the JSON reply, choice by choice
    assert sorted(finished) == [0, 1]
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens == reply.usage.prompt_tokens
    assert usage.completion_tokens == reply.usage.completion_tokens  # both choices, summed


def test_two_legacy_completions_and_more_choices_than_slots(sdk: OpenAI) -> None:
    reply = sdk.completions.create(
        model=MODEL, prompt="Once upon a time", n=2, max_tokens=5, temperature=0.9, seed=3
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.usage is not None and 2 <= reply.usage.completion_tokens <= 10  # summed
    assert all(c.text and c.finish_reason in ("stop", "length") for c in reply.choices)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model=MODEL, messages=ASK, n=PARALLEL + 1)  # type: ignore[arg-type]
    assert caught.value.param == "n"


def _counter(text: str, name: str) -> float:
    found = re.search(rf'^{name}_total{{model="{MODEL}"}} ([0-9.e+]+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_repeated_prompt_is_read_from_the_kv_cache(local: str, sdk: OpenAI) -> None:
    messages = [
        {"role": "system", "content": "You answer in one word, always."},
        {"role": "user", "content": "What colour is the sky on a clear day?"},
    ]
    first = sdk.chat.completions.create(model=MODEL, messages=messages, max_tokens=3)  # type: ignore[arg-type]
    assert first.usage is not None
    before = httpx.get(f"{local}/metrics").text
    sdk.chat.completions.create(model=MODEL, messages=messages, max_tokens=3)  # type: ignore[arg-type]
    after = httpx.get(f"{local}/metrics").text
    hits = _counter(after, "gateway_local_prefix_hit_tokens")
    hits -= _counter(before, "gateway_local_prefix_hit_tokens")
    read = _counter(after, "gateway_local_prefill_tokens")
    read -= _counter(before, "gateway_local_prefill_tokens")
    assert hits == first.usage.prompt_tokens - 1  # all but the last token, decoded again
    assert read == 1
