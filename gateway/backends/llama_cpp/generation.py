"""The token loop: runs in the model's worker thread, never on the event loop.

It samples one token at a time through `Llama.generate`, turns tokens into text without
splitting a UTF-8 character, holds back text that may be the start of a stop sequence, and
checks between tokens whether the client left (`cancelled`) or the wall-clock limit passed.
Token counts are exact: they are the model's own tokens, not a re-tokenisation.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(slots=True)
class Outcome:
    finish_reason: str | None
    completion_tokens: int = 0
    text: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)


class StopMatcher:
    """Emits text as soon as it cannot be the beginning of a stop sequence."""

    __slots__ = ("_pending", "_stops")

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._pending = ""

    def push(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop sequence was reached)."""
        if not self._stops:
            return text, False
        pending = self._pending + text
        cut = min((i for i in (pending.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._pending = ""
            return pending[:cut], True
        hold = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(pending)), 0, -1):
                if pending.endswith(stop[:n]):
                    hold = max(hold, n)
                    break
        self._pending = pending[len(pending) - hold :] if hold else ""
        return pending[: len(pending) - hold], False

    def flush(self) -> str:
        pending, self._pending = self._pending, ""
        return pending


def generate(  # noqa: PLR0917 - called positionally through run_in_executor
    llm: Any,
    prompt_tokens: list[int],
    sampling: Sampling,
    emit: Callable[[Piece], None],
    cancelled: threading.Event,
    deadline: float,
    end_tokens: frozenset[int],
) -> Outcome:
    """Generate until an end token, a stop sequence, `max_tokens`, a full context, the
    client leaving or the deadline; `emit` receives each piece of text as it is final."""
    llm.set_seed(DEFAULT_SEED if sampling.seed is None else sampling.seed & 0xFFFFFFFF)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    stops = StopMatcher(sampling.stop)
    outcome = Outcome(finish_reason="length")
    room = llm.n_ctx() - len(prompt_tokens)
    limit = min(sampling.max_tokens, room)
    if limit <= 0:
        return outcome
    generated: list[int] = []
    pending: list[TokenLogprob] = []
    scorer = _Scorer(llm, sampling.logprobs) if sampling.logprobs is not None else None

    def send(text: str) -> None:
        outcome.text.append(text)
        emit(Piece(text, tuple(pending)))
        outcome.logprobs.extend(pending)
        pending.clear()

    tokens = llm.generate(
        prompt_tokens,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        min_p=sampling.min_p,
        temp=sampling.temperature,
        repeat_penalty=1.0,
        frequency_penalty=sampling.frequency_penalty,
        presence_penalty=sampling.presence_penalty,
        logits_processor=_bias(sampling.logit_bias) if sampling.logit_bias else None,
        grammar=sampling.grammar,
    )
    try:
        for token in tokens:
            if cancelled.is_set():
                outcome.finish_reason = None
                return outcome
            if time.monotonic() > deadline:
                raise GenerationTimeout
            if token in end_tokens:
                outcome.finish_reason = "stop"
                break
            raw = llm.detokenize([token])
            piece = decoder.decode(raw)
            generated.append(token)
            outcome.completion_tokens += 1
            if scorer is not None:
                pending.append(scorer.score(token, raw))
            text, stopped = stops.push(piece)
            if text:
                send(text)
            if stopped:
                outcome.finish_reason = "stop"
                return outcome
            if outcome.completion_tokens >= limit:
                break
    finally:
        tokens.close()
    tail = stops.flush() + decoder.decode(b"", final=True)
    if tail or pending:
        send(tail)
    return outcome


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

    def score(self, token: int, raw: bytes) -> TokenLogprob:
        np = self._np
        logits = np.ctypeslib.as_array(self._get(self._llm._ctx.ctx, -1), shape=(self._n_vocab,))
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


def _bias(bias: dict[int, float]) -> Any:
    from llama_cpp import LogitsProcessorList

    ids = list(bias)
    values = [bias[i] for i in ids]

    def apply(_input_ids: Any, scores: Any) -> Any:
        scores[ids] += values
        return scores

    return LogitsProcessorList([apply])
