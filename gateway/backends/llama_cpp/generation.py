"""What one sequence's tokens become: text, stop sequences, logprobs, exact counts.

Used by the batch engine's thread for every sequence: tokens turn into text without
splitting a UTF-8 character, text that may be the start of a stop sequence is held back, and
counts are the model's own tokens, not a re-tokenisation.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.holdback import StopMatcher

DEFAULT_SEED = 0xFFFFFFFF  # llama.cpp: a random seed per run


class GenerationTimeout(Exception):
    """The generation ran past the backend's wall-clock limit."""


@dataclass(frozen=True, slots=True)
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 40
    min_p: float = 0.05
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logit_bias: dict[int, float] = field(default_factory=dict)
    grammar: Any = None
    # None: no logprobs; otherwise how many alternatives to report per token (0-20).
    logprobs: int | None = None
    # Token sequences the reply probably starts with (a forced tool call's head, in the
    # spacing styles models use): guesses the engine decodes ahead in one batch and keeps
    # only as far as the sampler picks the same tokens, so they save decode steps and never
    # change what is sampled.
    drafts: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token's log probability under the model, with the top alternatives."""

    token: str
    raw: bytes
    logprob: float
    top: tuple[tuple[str, bytes, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Piece:
    """Text that is final, and the logprobs of the tokens that produced it."""

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    index: int = 0  # which choice (`n` > 1) the text belongs to


@dataclass(slots=True)
class Outcome:
    finish_reason: str | None
    completion_tokens: int = 0
    text: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)


class SequenceText:
    """One sequence's output as it is sampled, token by token."""

    def __init__(self, llm: Any, sampling: Sampling, *, index: int = 0) -> None:
        self._llm = llm
        self._index = index
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._stops = StopMatcher(sampling.stop)
        self._scorer = _Scorer(llm, sampling.logprobs) if sampling.logprobs is not None else None
        self._pending: list[TokenLogprob] = []
        self._outcome = Outcome(finish_reason=None)
        self._stopped = False

    @property
    def tokens(self) -> int:
        return self._outcome.completion_tokens

    def push(self, token: int, ctx: Any, index: int, emit: Callable[[Piece], None]) -> bool:
        """Take one sampled token; True when it completed a stop sequence."""
        raw = self._llm.detokenize([token])
        self._outcome.completion_tokens += 1
        if self._scorer is not None:
            self._pending.append(self._scorer.score(token, raw, ctx, index))
        text, stopped = self._stops.push(self._decoder.decode(raw))
        if text:
            self._send(text, emit)
        if stopped:
            # What came after the cut is not part of the reply: no text, no logprobs.
            self._pending = []
            self._decoder.reset()
            self._stopped = True
        return stopped

    def done(self, finish_reason: str | None) -> Outcome:
        self._outcome.finish_reason = finish_reason
        return self._outcome

    def flush(self, emit: Callable[[Piece], None]) -> None:
        """Send what was held back (a partial stop sequence that never completed)."""
        if self._stopped:
            return
        tail = self._stops.flush() + self._decoder.decode(b"", final=True)
        if tail or self._pending:
            self._send(tail, emit)

    def _send(self, text: str, emit: Callable[[Piece], None]) -> None:
        self._outcome.text.append(text)
        self._outcome.logprobs.extend(self._pending)
        emit(Piece(text, tuple(self._pending), self._index))
        self._pending = []


class _Scorer:
    """Log probabilities from the logits the token was just sampled from (the model's own
    distribution, before temperature and truncation)."""

    def __init__(self, llm: Any, top: int) -> None:
        import llama_cpp
        import numpy as np

        self._np = np
        self._llm = llm
        self._top = top
        self._get = llama_cpp.llama_get_logits_ith
        self._n_vocab = llm.n_vocab()

    def score(self, token: int, raw: bytes, ctx: Any, index: int) -> TokenLogprob:
        np = self._np
        logits = np.ctypeslib.as_array(self._get(ctx, index), shape=(self._n_vocab,))
        peak = float(logits.max())
        log_total = peak + float(np.log(np.exp(logits - peak).sum()))
        top: tuple[tuple[str, bytes, float], ...] = ()
        if self._top:
            best = np.argpartition(logits, -self._top)[-self._top :]
            best = best[np.argsort(-logits[best])]
            top = tuple(self._entry(int(i), float(logits[i]) - log_total) for i in best)
        text = raw.decode("utf-8", "replace")
        return TokenLogprob(text, raw, float(logits[token]) - log_total, top)

    def _entry(self, token: int, logprob: float) -> tuple[str, bytes, float]:
        raw = self._llm.detokenize([token])
        return raw.decode("utf-8", "replace"), raw, logprob
