"""One weighted pattern over the folded text, and the families signals belong to.

A signal's weight says how much it alone moves the score (see `detector` for the scale:
about 3 takes a text over the default threshold by itself). `untrusted` is the weight in
tool results and retrieved documents, where text that gives the assistant orders has no
business being at all, while a user may well ask for "a summary with the dates in it".

Families let the detector reward independent evidence: an override *and* a fake system
turn is more telling than two phrasings of the same override. A family of `None` marks a
damping signal (discussion of attacks, code) that never counts as evidence.

Anchors make a signal cheap when it cannot fire: a pattern runs only if the text holds,
for each of its anchor groups, one of the group's words or strings. A word anchor of
exactly five letters is a stem ("ignor" covers "ignore", "ignorez", "ignoriere"); shorter
and longer ones are whole words ("systeme" must not fire on every "system"). String
anchors (punctuation such as `<|`, and scripts written without spaces) are substrings.
The word check is one set intersection against `Words`, built once per text.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from policies.injection.leads import HEAD

UNTRUSTED_CHANNELS = frozenset({"tool", "document"})
PREFIX = 5
# A pattern anchored on strings only (`<|`, `system:`) and given a `reach` reads that far
# either side of each of the first MAX_HITS occurrences, not the whole text.
MAX_HITS = 16
_LETTERS = re.compile(r"[^\W\d_]+")
# Latin, Greek, Cyrillic letters: words are space-separated, prefixes mean something.
_WORDY = re.compile(r"[a-z\u00c0-\u024f\u0370-\u04ff]+")


_HEAD_OF = operator.itemgetter(slice(None, HEAD))
_PREFIX_OF = operator.itemgetter(slice(None, PREFIX))
# In ASCII the letters are [A-Za-z]: a byte translation and a split find the same words as
# `_LETTERS`, several times faster than the regex. Bytes of UTF-8 sequences are kept.
_ASCII_SPACES = bytes(c if c >= 128 or chr(c).isalpha() else 32 for c in range(256))


@dataclass(frozen=True, slots=True)
class Words:
    """A folded text with the sets its anchors and leads are tested against."""

    text: str
    words: frozenset[str]
    ascii: bool
    # The first HEAD letters of every word: what a short stem ("add", "show") is looked up by.
    heads: frozenset[str] = frozenset()
    # The characters of a non-ASCII text (empty for ASCII): which substring leads can occur.
    chars: frozenset[str] = frozenset()
    # Offsets of the strings looked for so far, shared by the signals of one scan.
    found: dict[tuple[str, bool], list[int]] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, text: str) -> Words:
        ascii_ = text.isascii()
        # ASCII non-letters become spaces in one byte translation (UTF-8 keeps every
        # other character intact), so most words come out of `split` whole; only a word
        # still holding a non-letter (a digit, a curly quote, CJK punctuation) needs the regex.
        spaced = text.encode("utf-8", "surrogatepass").translate(_ASCII_SPACES)
        pieces = spaced.decode("utf-8", "surrogatepass").split()
        if ascii_:
            tokens = set(pieces)
        else:
            tokens = set(filter(str.isalpha, pieces))
            for piece in itertools.filterfalse(str.isalpha, pieces):
                tokens.update(_LETTERS.findall(piece))
        # `map` with a slice getter: C-speed; a word no longer than the cut is its own prefix.
        heads = frozenset(map(_HEAD_OF, tokens))
        words = frozenset(itertools.chain(tokens, map(_PREFIX_OF, tokens)))
        return cls(text, words, ascii_, heads, frozenset() if ascii_ else frozenset(text))

    def offsets(self, string: str, word_start: bool) -> list[int]:
        """Where `string` occurs (only where a word starts, if `word_start`)."""
        key = (string, word_start)
        got = self.found.get(key)
        if got is None:
            got = []
            text = self.text
            at = text.find(string)
            while at >= 0:
                # `\b` before a word character: the one before it is not one.
                if not word_start or at == 0 or not (text[at - 1].isalnum() or text[at - 1] == "_"):
                    got.append(at)
                at = text.find(string, at + 1)
            self.found[key] = got
        return got


@dataclass(frozen=True, slots=True)
class AnchorGroup:
    words: frozenset[str]
    strings: tuple[str, ...]
    # Anchor strings outside ASCII cannot occur in an ASCII text: not even looked for.
    ascii_strings: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str) -> AnchorGroup:
        words: set[str] = set()
        strings: list[str] = []
        for anchor in spec.split():
            (words.add(anchor) if _WORDY.fullmatch(anchor) else strings.append(anchor))
        return cls(frozenset(words), tuple(strings), tuple(a for a in strings if a.isascii()))

    def windows(self, text: Words, reach: int) -> list[tuple[int, int]]:
        """Spans around the occurrences of these strings, merged: a string-anchored pattern
        only needs to look near its anchor (the first `MAX_HITS` of each)."""
        spans: list[tuple[int, int]] = []
        for anchor in self.ascii_strings if text.ascii else self.strings:
            at = text.text.find(anchor)
            for _ in range(MAX_HITS):
                if at < 0:
                    break
                spans.append((max(0, at - reach), at + len(anchor) + reach))
                at = text.text.find(anchor, at + len(anchor) + reach)
            else:
                if at >= 0:  # more occurrences than windows: look everywhere
                    return [(0, len(text.text))]
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def hit(self, text: Words) -> bool:
        if not self.words.isdisjoint(text.words):
            return True
        return any(s in text.text for s in (self.ascii_strings if text.ascii else self.strings))


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    family: str | None
    pattern: re.Pattern[str]
    weight: float
    untrusted: float | None = None
    # How far from its string anchor a match can start or end (0: anywhere in the text).
    reach: int = 0
    anchors: tuple[AnchorGroup, ...] = ()

    @property
    def windowed(self) -> bool:
        return bool(self.reach) and len(self.anchors) == 1 and not self.anchors[0].words

    def fires(self, text: Words) -> bool:
        if not all(group.hit(text) for group in self.anchors):
            return False
        return self.matches(text)

    def matches(self, text: Words) -> bool:
        """The pattern alone, as `fires` reads it once the anchors hit."""
        if self.windowed and len(text.text) > 4 * self.reach:
            return any(
                self.pattern.search(text.text, start, end) is not None
                for start, end in self.anchors[0].windows(text, self.reach)
            )
        return self.pattern.search(text.text) is not None

    def weight_in(self, channel: str) -> float:
        if self.untrusted is not None and channel in UNTRUSTED_CHANNELS:
            return self.untrusted
        return self.weight


def signal(
    name: str,
    family: str | None,
    pattern: str,
    weight: float,
    untrusted: float | None = None,
    *,
    reach: int = 0,
) -> Signal:
    return Signal(name, family, re.compile(pattern, re.MULTILINE), weight, untrusted, reach)


def alternatives(*words: str) -> str:
    """A non-capturing alternation, for building patterns out of word lists."""
    return "(?:" + "|".join(words) + ")"


def anchored(signals: tuple[Signal, ...], anchors: Mapping[str, str]) -> tuple[Signal, ...]:
    """`signals` with their anchors from `anchors`: space-separated alternatives, groups
    that must all hit separated by ` | `. A table beside the patterns keeps each pattern
    readable on its own; a signal not in the table always runs."""
    return tuple(
        dataclasses.replace(
            s, anchors=tuple(AnchorGroup.parse(g) for g in anchors[s.name].split(" | "))
        )
        if s.name in anchors
        else s
        for s in signals
    )
