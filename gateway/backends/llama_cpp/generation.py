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


@dataclass(slots=True)
class Outcome:
    finish_reason: str | None
    completion_tokens: int = 0
    text: list[str] = field(default_factory=list)


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
    emit: Callable[[str], None],
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
            piece = decoder.decode(llm.detokenize([token]))
            generated.append(token)
            outcome.completion_tokens += 1
            text, stopped = stops.push(piece)
            if text:
                outcome.text.append(text)
                emit(text)
            if stopped:
                outcome.finish_reason = "stop"
                return outcome
            if outcome.completion_tokens >= limit:
                break
    finally:
        tokens.close()
    tail = stops.flush() + decoder.decode(b"", final=True)
    if tail:
        outcome.text.append(tail)
        emit(tail)
    return outcome


def _bias(bias: dict[int, float]) -> Any:
    from llama_cpp import LogitsProcessorList

    ids = list(bias)
    values = [bias[i] for i in ids]

    def apply(_input_ids: Any, scores: Any) -> Any:
        scores[ids] += values
        return scores

    return LogitsProcessorList([apply])
