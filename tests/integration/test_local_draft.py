"""Drafted tokens in the batch engine, on the real model (SmolLM2-135M): a forced tool
call's head is decoded ahead in one batch and kept only where the sampler picks it.

At temperature 0 every reply is the same with the draft, without it, and with a draft the
model never writes (all of it rejected, its cells dropped), while the forced calls' heads
are in fact taken from the draft.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

from gateway.api.decoding import decode_request
from gateway.backends.llama_cpp.generation import Sampling
from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.loader import load_llama
from gateway.backends.llama_cpp.registry import VOCAB_CONTEXT
from gateway.backends.llama_cpp.request_plan import plan_chat
from gateway.model_files import ModelFile
from gateway.settings.backend_types import LlamaCppSpec
from tests.integration.test_local_prefix_cache import gguf_path, run_wave


def _tool(name: str, description: str, properties: dict[str, str]) -> dict[str, object]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": v} for k, v in properties.items()},
                "required": list(properties),
            },
        },
    }


WEATHER = _tool("get_weather", "Current weather for a city", {"city": "string", "days": "integer"})
CALC = _tool("calculator", "Evaluate an arithmetic expression", {"expression": "string"})
SEARCH = _tool("search_docs", "Search the documentation", {"query": "string", "k": "integer"})
CASES = [
    (WEATHER, "What is the weather in Paris for 3 days?"),
    (WEATHER, "Will it rain in Oslo tomorrow?"),
    (CALC, "What is 17 times 23?"),
    (CALC, "Compute the square root of 2 plus 5."),
    (SEARCH, "How do I configure retries?"),
    (SEARCH, "Find the page about rate limits, top 3."),
]


@pytest.fixture(scope="module")
def model() -> Iterator[LoadedModel]:
    file = ModelFile("smol", gguf_path())
    spec = LlamaCppSpec(n_ctx=1024, parallel=2)
    loaded = LoadedModel.wrap(file, load_llama(file, spec, context_tokens=VOCAB_CONTEXT), spec)
    yield loaded
    loaded.close()


def _plan_sampling(model: LoadedModel, tool: dict[str, object], question: str) -> tuple:
    body = {
        "model": "smol",
        "messages": [{"role": "user", "content": question}],
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": tool["function"]["name"]}},
        "temperature": 0,
        "max_tokens": 48,
    }
    plan = plan_chat(model, decode_request("chat/completions", json.dumps(body).encode()).request)
    return plan.tokens, plan.sampling


def _reply(model: LoadedModel, tokens: list[int], sampling: Sampling) -> tuple[str, object, int]:
    (outcome,) = run_wave(model, [tokens], sampling)[0]
    return "".join(outcome.text), outcome.finish_reason, outcome.completion_tokens


def test_a_draft_changes_no_reply_and_a_forced_head_is_taken_from_it(model: LoadedModel) -> None:
    assert model.engine is not None
    counts = model.engine.counts
    for tool, question in CASES:
        tokens, sampling = _plan_sampling(model, tool, question)
        assert sampling.drafts  # a forced single function has a head to draft
        before = counts.draft_accepted_tokens
        drafted = _reply(model, tokens, sampling)
        accepted = counts.draft_accepted_tokens - before
        plain = _reply(model, tokens, dataclasses.replace(sampling, drafts=()))
        wrong = model.tokenize(" Sure, here is a poem about the sea:", add_bos=False)
        misled = _reply(model, tokens, dataclasses.replace(sampling, drafts=(tuple(wrong),)))
        assert drafted == plain == misled, question
        name = json.dumps(tool["function"]["name"])
        assert drafted[0].replace("{ ", "{").startswith('{"name": ' + name)
        # The head after its first token came out of a draft, not one decode per token.
        shortest = min(len(d) for d in sampling.drafts)
        assert accepted >= shortest - 2, (question, accepted, shortest)
