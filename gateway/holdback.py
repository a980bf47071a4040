"""Streamed text held back only as long as a pattern may still complete across pieces.

Text arrives in arbitrary pieces (tokens, upstream chunks). A consumer that looks for
patterns (a stop sequence, a credential, an e-mail address) must not release text that may
be the start of a match before the rest has arrived, and must hold no more than that. The
llama.cpp backend's stop sequences and output policies (redaction) share this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# How many trailing characters of the pending text to keep back.
HoldRule = Callable[[str], int]


class HeldText:
    """Releases pushed text except the tail that `hold` says may still grow into a match."""

    __slots__ = ("_hold", "_pending")

    def __init__(self, hold: HoldRule) -> None:
        self._hold = hold
        self._pending = ""

    @property
    def pending(self) -> str:
        return self._pending

    def push(self, text: str) -> str:
        """The text that is safe to release now."""
        pending = self._pending + text
        keep = min(len(pending), max(0, self._hold(pending)))
        cut = len(pending) - keep
        self._pending = pending[cut:]
        return pending[:cut]

    def flush(self) -> str:
        """Everything still held (the stream ended: nothing more can complete a match)."""
        pending, self._pending = self._pending, ""
        return pending


def partial_prefix_length(text: str, literals: Sequence[str]) -> int:
    """The length of the longest tail of `text` that is a proper prefix of a literal."""
    hold = 0
    for literal in literals:
        for n in range(min(len(literal) - 1, len(text)), hold, -1):
            if text.endswith(literal[:n]):
                hold = n
                break
    return hold


def first_match(text: str, literals: Sequence[str]) -> int:
    """Where the earliest complete literal starts in `text`, or -1."""
    found = [i for i in (text.find(s) for s in literals) if i >= 0]
    return min(found) if found else -1


class StopMatcher:
    """Emits text as soon as it cannot be the beginning of a stop sequence."""

    __slots__ = ("_held", "_stops")

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = HeldText(lambda pending: partial_prefix_length(pending, self._stops))

    def push(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop sequence was reached)."""
        if not self._stops:
            return text, False
        pending = self._held.pending + text
        cut = first_match(pending, self._stops)
        if cut >= 0:
            self._held.flush()
            return pending[:cut], True
        return self._held.push(text), False

    def flush(self) -> str:
        return self._held.flush()
