"""Context words around a candidate: the words that make a number a phone number (or an
order number). Read from a bounded window of characters, not tokens, so whether a span
matches depends only on text within the detector's `max_span`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[a-z]+")

# How far a context word may be from the candidate; the recognizers' longest span plus
# these stays below `MAX_SPAN`.
BEFORE = 32
AFTER = 24

# A positive word lifts a score that the shape alone leaves below the threshold (a bare
# 10-digit number after "call me on"); a negative word sinks one (the same number after
# "order"). Before the candidate the nearest such word decides ("order ... call me at" is a
# phone); after it only positive words count ("555-0100 (office)"), since a sentence
# going on about an order says nothing about the number before it.
BOOST = 0.35
PENALTY = 0.6


@dataclass(frozen=True, slots=True)
class ContextWords:
    positive: frozenset[str] = frozenset()
    negative: frozenset[str] = frozenset()

    def adjust(self, score: float, text: str, start: int, end: int) -> float:
        if not self.positive and not self.negative:
            return score
        before = _WORD.findall(text[max(0, start - BEFORE) : start].lower())
        for word in reversed(before):
            if word in self.negative:
                return score - PENALTY
            if word in self.positive:
                return min(1.0, score + BOOST)
        if not self.positive.isdisjoint(_WORD.findall(text[end : end + AFTER].lower())):
            return min(1.0, score + BOOST)
        return score


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())
