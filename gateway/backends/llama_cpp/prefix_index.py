"""Which KV-cache sequence already holds the longest start of a new prompt.

The batch engine keeps the KV of finished sequences in their slots (each slot is one
llama.cpp sequence id) and records here the tokens each slot's cells hold. A new prompt asks
for the longest common token prefix with any recorded sequence; the engine copies those
cells (`llama_memory_seq_cp`) or trims the slot in place and prefills only the rest.

There are at most `parallel` (<= 64) recorded sequences, so a scan is enough: each
comparison is a binary search over list slices, which Python compares in C, so a 4k-token
prompt costs microseconds rather than a token-by-token loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    high = min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    low = 0  # invariant: a[:low] == b[:low] and a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True, slots=True)
class Match:
    seq_id: int
    length: int  # prompt tokens whose KV the sequence already holds
    held: int  # tokens the sequence holds in all


class PrefixIndex:
    """The tokens held by each kept (finished, idle) sequence, least recently used first."""

    def __init__(self) -> None:
        self._held: dict[int, list[int]] = {}  # insertion order is recency order

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, seq_id: object) -> bool:
        return seq_id in self._held

    @property
    def tokens(self) -> int:
        """Cells the kept sequences hold (counted per sequence: shared cells count twice)."""
        return sum(len(t) for t in self._held.values())

    def keep(self, seq_id: int, tokens: list[int]) -> None:
        """Record what `seq_id` holds, as its most recently used entry."""
        self._held.pop(seq_id, None)
        if tokens:
            self._held[seq_id] = tokens

    def take(self, seq_id: int) -> list[int]:
        """Forget `seq_id` (its slot is being reused or emptied); what it held."""
        return self._held.pop(seq_id, [])

    def least_recent(self, exclude: Iterable[int] = ()) -> int | None:
        skip = set(exclude)
        return next((s for s in self._held if s not in skip), None)

    def longest(self, prompt: list[int]) -> Match | None:
        """The kept sequence sharing the longest prefix with `prompt` (the most recently
        used one on a tie), or None when none shares a token."""
        best: Match | None = None
        for seq_id, held in self._held.items():
            length = common_prefix(prompt, held)
            if length and (best is None or length >= best.length):
                best = Match(seq_id, length, len(held))
        return best
