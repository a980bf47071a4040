"""The complexity score on its labelled sets, plus bounds and monotonic sanity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from routers.complexity import complexity_score, complexity_signals

DATA = Path(__file__).resolve().parents[1] / "data"
THRESHOLD = 0.5


def decode(body: dict[str, Any]) -> ChatCompletionRequest | CompletionRequest:
    raw = json.dumps(body).encode()
    if "messages" in body:
        return msgspec.json.decode(raw, type=ChatCompletionRequest)
    return msgspec.json.decode(raw, type=CompletionRequest)


def load(name: str) -> list[tuple[ChatCompletionRequest | CompletionRequest, str]]:
    rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()]
    return [(decode(row["request"]), row["label"]) for row in rows]


def user(text: str, **extra: Any) -> ChatCompletionRequest | CompletionRequest:
    return decode({"model": "m", "messages": [{"role": "user", "content": text}], **extra})


def agreement(rows: list[tuple[ChatCompletionRequest | CompletionRequest, str]]) -> float:
    hits = sum(
        ("complex" if complexity_score(r) >= THRESHOLD else "simple") == label for r, label in rows
    )
    return hits / len(rows)


def test_the_labelled_set_is_big_enough_and_balanced() -> None:
    rows = load("complexity.jsonl")
    labels = [label for _, label in rows]
    assert len(rows) >= 40
    assert 0.4 <= labels.count("complex") / len(labels) <= 0.6


def test_agreement_on_the_set_the_weights_were_set_on() -> None:
    assert agreement(load("complexity.jsonl")) >= 0.9


def test_agreement_on_the_held_out_set() -> None:
    # Written before the last round of tuning and not tuned on (measured 17/20). What it gets
    # wrong: long pastes with a trivial ask, hard asks without task words or formulae.
    rows = load("complexity_heldout.jsonl")
    assert agreement(rows) >= 0.8
    simple = [(r, label) for r, label in rows if label == "simple"]
    assert agreement(simple) >= 0.8


def test_scores_are_bounded_for_every_labelled_request() -> None:
    for request, _ in load("complexity.jsonl") + load("complexity_heldout.jsonl"):
        assert 0.0 <= complexity_score(request) <= 1.0


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [{"role": "user", "content": ""}]},
        {"model": "m", "messages": [{"role": "user", "content": " \n "}]},
        {"model": "m", "messages": [{"role": "user", "content": "x" * 2_000_000}]},
        {"model": "m", "messages": [{"role": "user", "content": "∫∑√" * 10_000}]},
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        {"model": "m", "messages": [{"role": "system", "content": "only a system prompt"}]},
        {"model": "m", "messages": [{"role": "assistant", "content": None}]},
        {"model": "m", "prompt": None},
        {"model": "m", "prompt": [1, 2, 3]},
        {"model": "m", "prompt": [[1, 2], [3]]},
        {"model": "m", "prompt": ["a", "b"]},
    ],
)
def test_odd_requests_never_raise(body: dict[str, Any]) -> None:
    assert 0.0 <= complexity_score(decode(body)) <= 1.0


def test_each_signal_raises_the_score() -> None:
    base = complexity_score(user("what should I name my cat"))
    assert base < 0.1
    assert complexity_score(user("x" * 8000)) > base
    assert complexity_score(user("```python\nprint(1)\n```")) >= THRESHOLD
    assert complexity_score(user(r"evaluate \int_0^1 x^2 dx and \frac{1}{2}")) >= THRESHOLD
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert complexity_score(user("what should I name my cat", tools=[tool])) >= THRESHOLD
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "and then?"} for i in range(9)
    ]
    assert complexity_score(decode({"model": "m", "messages": history})) > base


def test_more_text_never_lowers_the_length_signal() -> None:
    lengths = [complexity_signals(user("word " * n)).length for n in (1, 10, 100, 1000, 10_000)]
    assert lengths == sorted(lengths)
    assert lengths[0] == 0.0
    assert lengths[-1] == 1.0


def test_completion_requests_are_scored_from_the_prompt() -> None:
    simple = decode({"model": "m", "prompt": "Once upon a time"})
    code = decode({"model": "m", "prompt": "def f(x):\n    return x * 2\n\nclass A:\n    pass\n"})
    assert complexity_score(simple) < THRESHOLD <= complexity_score(code)


def test_deterministic() -> None:
    for request, _ in load("complexity.jsonl"):
        assert complexity_score(request) == complexity_score(request)
