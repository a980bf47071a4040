"""How random a candidate value looks: Shannon entropy, character classes, sequences."""

from __future__ import annotations

import math
from collections import Counter

_RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz")
_RUN = 6
_SEQUENCES = frozenset(
    run[at : at + _RUN]
    for alphabet in _RUNS
    for run in (alphabet, alphabet[::-1])
    for at in range(len(run) - _RUN + 1)
)


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`'s own character distribution."""
    if not value:
        return 0.0
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in Counter(value).values())


def char_classes(value: str) -> int:
    """How many of lower, upper, digit and other characters `value` mixes."""
    lower = upper = digit = other = False
    for ch in value:
        if ch.islower():
            lower = True
        elif ch.isupper():
            upper = True
        elif ch.isdigit():
            digit = True
        else:
            other = True
    return lower + upper + digit + other


def has_sequence(value: str) -> bool:
    """Whether `value` holds six consecutive ascending or descending digits or letters
    (`123456`, `abcdef`, `987654`): typed by people, never drawn by a token generator."""
    lowered = value.lower()
    return any(lowered[at : at + _RUN] in _SEQUENCES for at in range(len(lowered) - _RUN + 1))
