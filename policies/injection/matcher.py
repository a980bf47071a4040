"""A set of signals matched together against one text, each tried only where it can start.

Why: `Signal.fires` searches the whole text, and a regex search tries every offset (about
20 us a kilobyte per pattern, a hundred patterns). Here the anchors of all signals are
bits, set by one intersection of the text's words with every anchor word; a signal whose
anchors hit is then tried with `pattern.match` only at the offsets of its leads (see
`leads`): the words its matches start with, looked up in the text's word sets first and
located with `str.find` only when present, and the strings that can start a match anywhere
(one trie-shaped scan when they are many). `search` finds a match iff `match` succeeds at
some offset, and every match starts at a lead, so the answer is the one `fires` gives
(windowed signals keep their windows). A signal with no leads, or whose substring leads
are single characters too many to look for, is searched as before.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Iterator

from policies.injection.leads import Plan, leads_of, plan
from policies.injection.signal import PREFIX, Signal, Words

# More substring leads than this and one search is cheaper than the look-ups.
MAX_FREE = 12
# Characters by how seldom prose holds them, rarest first.
_RARE = "|~^`<>[]{}\\@#*_=+;!?\"/:()%$&'-"


# An anchor group's strings, each with its rarest character, and the set of those
# characters (None if some string has none): a text lacking all of them lacks the group.
_Strings = tuple[frozenset[str] | None, tuple[tuple[str, str], ...]]


def _rarest(string: str) -> str:
    ranked = [c for c in _RARE if c in string]
    return ranked[0] if ranked else ""


def _strings(strings: tuple[str, ...]) -> _Strings:
    pairs = tuple((s, _rarest(s)) for s in strings)
    rares = frozenset(r for _, r in pairs) if all(r for _, r in pairs) else None
    return rares, pairs


class SignalSet:
    def __init__(self, signals: Iterable[Signal]) -> None:
        self.signals = tuple(signals)
        plans: list[Plan | None] = []
        for sig in self.signals:
            leads = leads_of(sig.pattern)
            plans.append(None if leads is None else plan(leads, PREFIX))
        self._plans = tuple(plans)
        # Look-ups inverted once: each key of `Words.words` / `Words.heads` names the
        # signals it starts and the word to locate for them.
        by_word: dict[str, list[tuple[int, str]]] = {}
        by_head: dict[str, list[tuple[int, str]]] = {}
        always: list[tuple[int, str]] = []
        for index, p in enumerate(plans):
            for kind, key, word in p.words if p is not None else ():
                if kind == "word":
                    by_word.setdefault(key, []).append((index, word))
                elif kind == "head":
                    by_head.setdefault(key, []).append((index, word))
                else:
                    always.append((index, word))
        self._by_word = {k: tuple(v) for k, v in by_word.items()}
        self._by_head = {k: tuple(v) for k, v in by_head.items()}
        self._word_keys = frozenset(by_word)
        self._head_keys = frozenset(by_head)
        self._always = tuple(always)
        # Anchors as bits: one set intersection per text says which word-anchor groups hit;
        # a group's strings are looked for only when its words missed.
        word_bits: dict[str, int] = {}
        self._required: list[int] = []
        # Per signal, the groups that have strings to fall back on (in any text, in ASCII).
        self._stringy: list[tuple[int, int]] = []
        self._groups: list[tuple[tuple[int, _Strings, _Strings], ...]] = []
        # Identical groups (two signals anchored on the same verbs) share a bit: found or
        # missed once per text.
        bits: dict[tuple[frozenset[str], tuple[str, ...]], int] = {}
        for sig in self.signals:
            required, groups, stringy, stringy_ascii = 0, [], 0, 0
            for group in sig.anchors:
                bit = bits.setdefault((group.words, group.strings), 1 << len(bits))
                for word in group.words:
                    word_bits[word] = word_bits.get(word, 0) | bit
                groups.append((bit, _strings(group.ascii_strings), _strings(group.strings)))
                required |= bit
                stringy |= bit if group.strings else 0
                stringy_ascii |= bit if group.ascii_strings else 0
            self._required.append(required)
            self._stringy.append((stringy, stringy_ascii))
            self._groups.append(tuple(groups))
        self._word_bits = word_bits
        self._rows = tuple(
            zip(range(len(self.signals)), self.signals, self._required, self._stringy, strict=True)
        )
        self._anchor_words = frozenset(word_bits)

    def fired(self, text: Words, skip: Container[str] = ()) -> Iterator[Signal]:
        """The signals that fire on `text`, but those named in `skip` (read as the
        iteration goes: a caller may add names between two signals)."""
        starts: dict[int, list[str]] | None = None
        hit = 0
        for word in text.words & self._anchor_words:
            hit |= self._word_bits[word]
        missed = 0  # groups whose strings were looked for in vain
        present: dict[str, bool] = {}
        chars: frozenset[str] | None = None
        for index, sig, required, stringy in self._rows:
            if sig.name in skip:
                continue
            missing = required & ~hit
            if missing:
                if missing & (missed | ~stringy[text.ascii]):
                    continue  # a group of words only, and none of them occurs
                if chars is None:
                    chars = text.chars if not text.ascii else frozenset(text.text)
                found, failed = self._string_hits(text, index, missing, present, chars)
                hit, missed = hit | found, missed | failed
                if required & ~hit:
                    continue
            free = self.free(index, text)
            if free is None:
                if sig.matches(text):
                    yield sig
                continue
            if starts is None:
                starts = self.starts(text)
            if self.matches_at_leads(index, text, starts, free):
                yield sig

    def free(self, index: int, text: Words) -> tuple[str, ...] | re.Pattern[str] | None:
        """The substring leads of signal `index` that can occur in `text`, or one pattern
        for them all when they are many; None when the signal has no leads (or is
        windowed and the text long): it is searched as `fires` does."""
        p = self._plans[index]
        if p is None:
            return None
        if text.ascii:
            free = p.free_ascii
        elif len(p.free) <= MAX_FREE:
            free = p.free
        else:  # Chinese text cannot hold a Cyrillic lead: skip what cannot occur
            free = tuple(
                lead for c in text.chars & p.free_by_first.keys() for lead in p.free_by_first[c]
            )
        return free if len(free) <= MAX_FREE else p.free_scan

    def matches_at_leads(
        self,
        index: int,
        text: Words,
        starts: dict[int, list[str]],
        free: tuple[str, ...] | re.Pattern[str],
    ) -> bool:
        """`pattern.search(text)`, tried only at the offsets of the signal's leads."""
        sig = self.signals[index]
        if sig.windowed and len(text.text) > 4 * sig.reach:
            return self._matches_in_windows(sig, text, starts.get(index, ()), free)
        match, string = sig.pattern.match, text.text
        for word in starts.get(index, ()):
            if any(match(string, at) is not None for at in text.offsets(word, True)):
                return True
        if isinstance(free, re.Pattern):
            # Every offset where some lead starts, each visited once (overlaps included).
            found = free.search(string)
            while found is not None:
                if match(string, found.start()) is not None:
                    return True
                found = free.search(string, found.start() + 1)
            return False
        for lead in free:
            if any(match(string, at) is not None for at in text.offsets(lead, False)):
                return True
        return False

    @staticmethod
    def _matches_in_windows(
        sig: Signal, text: Words, words: Iterable[str], free: tuple[str, ...] | re.Pattern[str]
    ) -> bool:
        """`Signal.matches` on a long text: `search` within each window around the anchors,
        as `match` at the leads inside it (the window's end stays the end of the text)."""
        spans = sig.anchors[0].windows(text, sig.reach)
        string = text.text
        offsets = [at for word in words for at in text.offsets(word, True)]
        if isinstance(free, re.Pattern):
            for start, end in spans:
                found = free.search(string, start, end)
                while found is not None:
                    offsets.append(found.start())
                    found = free.search(string, found.start() + 1, end)
        else:
            offsets += [at for lead in free for at in text.offsets(lead, False)]
        match = sig.pattern.match
        for at in offsets:
            for start, end in spans:
                if start <= at <= end and match(string, at, end) is not None:
                    return True
        return False

    def _string_hits(
        self, text: Words, index: int, missing: int, present: dict[str, bool], chars: frozenset[str]
    ) -> tuple[int, int]:
        """The bits of `missing` whose groups' strings occur in `text` (memoised), and the
        bit of the first that does not (0 if none). Most anchor strings hold a character
        most texts lack (":", "<", "|"): a set look-up for it goes before the substring
        search."""
        found = 0
        for bit, ascii_strings, strings in self._groups[index]:
            if not missing & bit:
                continue
            rares, pairs = ascii_strings if text.ascii else strings
            if rares is not None and rares.isdisjoint(chars):
                return found, bit  # a group missed: the signal cannot fire
            for string, rare in pairs:
                if rare and rare not in chars:
                    continue
                seen = present.get(string)
                if seen is None:
                    seen = present[string] = string in text.text
                if seen:
                    found |= bit
                    break
            else:
                return found, bit
        return found, 0

    def starts(self, text: Words) -> dict[int, list[str]]:
        """For each signal, the words present in `text` that its matches can start with."""
        starts: dict[int, list[str]] = {}
        for key in text.words & self._word_keys:
            for index, word in self._by_word[key]:
                starts.setdefault(index, []).append(word)
        for key in text.heads & self._head_keys:
            for index, word in self._by_head[key]:
                starts.setdefault(index, []).append(word)
        for index, word in self._always:
            starts.setdefault(index, []).append(word)
        return starts
