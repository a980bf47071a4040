"""One sequence's llama.cpp sampler chain, built from a request's sampling parameters."""

from __future__ import annotations

from typing import Any

from gateway.backends.llama_cpp.generation import DEFAULT_SEED, Sampling
from gateway.backends.llama_cpp.grammar_first import GrammarFirstSampler


def build(llm: Any, sampling: Sampling, choice: int = 0) -> Any:
    """The chain for choice `choice` of a request: with a seed, choice i samples with
    `seed + i`, so `n` choices differ from each other yet each replays exactly."""
    chain = _chain(llm, sampling, choice)
    if sampling.grammar is None:
        return chain
    # The grammar judges the sampled token, not the whole vocabulary, at every step.
    return GrammarFirstSampler(chain, llm, sampling.grammar)


def _chain(llm: Any, sampling: Sampling, choice: int) -> Any:
    from llama_cpp import _internals

    internals: Any = _internals  # untyped ctypes wrappers
    sampler: Any = internals.LlamaSampler()
    if sampling.logit_bias:
        sampler.add_logit_bias(llm.n_vocab(), sampling.logit_bias)
    if sampling.frequency_penalty or sampling.presence_penalty:
        sampler.add_penalties(
            llm.n_vocab(), 64, 1.0, sampling.frequency_penalty, sampling.presence_penalty
        )
    if sampling.temperature <= 0:
        sampler.add_greedy()
        return sampler
    sampler.add_top_k(sampling.top_k)
    sampler.add_top_p(sampling.top_p, 1)
    sampler.add_min_p(sampling.min_p, 1)
    sampler.add_temp(sampling.temperature)
    # Without a seed llama.cpp draws a random one per chain (so choices differ anyway).
    seed = DEFAULT_SEED if sampling.seed is None else (sampling.seed + choice) & 0xFFFFFFFF
    sampler.add_dist(seed)
    return sampler
