"""Where a signal's match can start: the literal strings ("leads") every match begins with.

Why: a regex search tries every offset of the text, so a hundred signals cost a hundred
passes over each kilobyte (about 20 us each). Most patterns can only start with one of a
few literal strings ("ignore", "you are", "<|"). Those strings are read off the parsed
pattern here, never written by hand, so they cannot drift from it; `matcher` then tries a
pattern only where one of its leads occurs.

A lead is a prefix of every match along some path through the pattern (cut short where
the path stops being literal: a prefix of a prefix is still one). A lead behind `\\b` only
counts at a word start. A pattern with a path that can start with anything (`[\\w-]+`,
`.`, `^\\s*`) has no leads and is searched as before.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# `re._parser` has no stub: what it returns is walked, never trusted for types.
_PARSER: Any = importlib.import_module("re._parser")
_C: Any = importlib.import_module("re._constants")

MAX_LEAD = 12  # longer leads buy nothing: twelve characters already pin an offset
MAX_LEADS = 256  # per pattern; beyond that the leads are cut shorter until they fit
MAX_CLASS = 12  # a character class of at most this many literals is expanded
MAX_FREE_LEN = 6  # substring leads are cut to this: fewer, and each still rare
HEAD = 3  # `Words.heads` holds the first three letters of every word
_LETTERS = re.compile(r"[^\W\d_]+")
_Lead = tuple[str, bool]  # (literal, must start a word)


def _walk(seq: list[Any], acc: str, bounded: bool) -> set[_Lead]:
    """The prefixes every match of `seq` starts with, each extending `acc`."""
    i = 0
    while i < len(seq):
        op, av = seq[i]
        if len(acc) >= MAX_LEAD:
            break
        if op is _C.LITERAL:
            acc += chr(av)
        elif op is _C.AT:
            # Zero-width: it only narrows where a match starts. `\b` before the first
            # character is kept as a word-start requirement.
            bounded = bounded or (not acc and av is _C.AT_BOUNDARY)
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            pass
        elif op is _C.SUBPATTERN:
            return _walk([*av[-1], *seq[i + 1 :]], acc, bounded)
        elif op is _C.BRANCH:
            return _union((_walk([*alt, *seq[i + 1 :]], acc, bounded) for alt in av[1]), acc)
        elif op is _C.IN and len(av) <= MAX_CLASS and all(o is _C.LITERAL for o, _ in av):
            rest = seq[i + 1 :]
            return _union((_walk([(_C.LITERAL, c), *rest], acc, bounded) for _, c in av), acc)
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT):
            low, high, sub = av
            rest = seq[i + 1 :]
            # After one repetition the rest follows only if there can be no second one;
            # otherwise the lead stops with that repetition.
            once = _walk([*sub, *rest] if high == 1 else list(sub), acc, bounded)
            if low == 0:
                return _union((once, _walk(rest, acc, bounded)), acc)
            return once
        else:
            break
        i += 1
    return {(acc, bounded)}


def _union(parts: Iterable[set[_Lead]], acc: str) -> set[_Lead]:
    out: set[_Lead] = set()
    for part in parts:
        out |= part
    width = MAX_LEAD
    while len(out) > MAX_LEADS and width > len(acc) + 1:
        width -= 1
        out = {(s[:width], b) for s, b in out}
    return out


def leads_of(pattern: re.Pattern[str]) -> tuple[_Lead, ...] | None:
    """The leads of `pattern`, or None when some match could start with anything."""
    found = _union([_walk(list(_PARSER.parse(pattern.pattern, pattern.flags)), "", False)], "")
    if len(found) > MAX_LEADS or any(not s for s, _ in found):
        return None
    # `\b` then a word character means "after a non-word character": a cheap check.
    return tuple(sorted((s, b and _is_word(s[0])) for s, b in found))


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _common_prefix(strings: Sequence[str]) -> str:
    first, last = min(strings), max(strings)
    end = 0
    while end < len(first) and first[end] == last[end]:
        end += 1
    return first[:end]


def _letters(lead: str) -> str:
    # The same letters `Words` splits a text into, so a word found here is a word there.
    found = _LETTERS.match(lead)
    return found.group() if found else ""


@dataclass(frozen=True, slots=True)
class Plan:
    """How to find where a pattern can match: the words its matches start with (each with
    the key `Words` is asked about first) and the strings that can start one anywhere."""

    # (key kind, key, word): kind "word" asks `Words.words`, "head" `Words.heads`, "" no one.
    words: tuple[tuple[str, str, str], ...]
    free: tuple[str, ...]
    free_ascii: tuple[str, ...]
    # The substring leads by first character: a text lacking the character lacks the lead.
    free_by_first: dict[str, tuple[str, ...]]
    # All substring leads as one trie-shaped pattern (see `trie`), for when there are too
    # many to look for one by one.
    free_scan: re.Pattern[str] | None


def plan(leads: Sequence[_Lead], prefix: int) -> Plan:
    """Leads turned into look-ups: a word-start lead by its first word ("your new" by
    "your", exactly; "disclos" by the stem "discl" when `prefix` is 5), the others as
    substrings, each cut to `MAX_FREE_LEN` and kept only if no shorter one covers it."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    free: set[str] = set()
    for lead, bounded in leads:
        word = _letters(lead)
        if not bounded or not word:
            free.add(lead[:MAX_FREE_LEN])
            continue
        if len(word) < len(lead):  # a non-letter follows: the whole word is known
            key = ("word", word, word)
        elif len(word) >= prefix:
            key = ("word", word[:prefix], word)
        elif len(word) >= HEAD:
            key = ("head", word[:HEAD], word)
        else:
            key = ("", "", word)
        grouped.setdefault(key, []).append(lead)
    # What is located is the longest prefix the word's leads share ("your " for "your new"
    # and "your real"): fewer false offsets than the word alone.
    words = {(kind, key, _common_prefix(group)) for (kind, key, _), group in grouped.items()}
    # "_bcc" covers "_bccto": the longer one would only repeat its offsets.
    kept = sorted(free)
    kept = [f for f in kept if not any(f != g and f.startswith(g) for g in kept)]
    by_first: dict[str, list[str]] = {}
    for lead in kept:
        by_first.setdefault(lead[0], []).append(lead)
    return Plan(
        tuple(sorted(words)),
        tuple(kept),
        tuple(f for f in kept if f.isascii()),
        {first: tuple(leads) for first, leads in by_first.items()},
        # A one-character lead (",", ".") stops the scan every few characters: a plain
        # search is cheaper then.
        re.compile(trie(kept)) if kept and min(map(len, kept)) > 1 else None,
    )


def trie(strings: Sequence[str]) -> str:
    """An alternation of `strings` shaped as a trie: the engine's first-character set skips
    most offsets, and at the others one branch per character is tried, not every string.
    It matches where some string starts (not necessarily the longest one)."""
    root: dict[str, Any] = {}
    for string in strings:
        node = root
        for ch in string:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _node(root)


def _node(node: dict[str, Any]) -> str:
    if "" in node:
        return ""  # a string ends here: whatever follows, one starts at this offset
    branches = [re.escape(ch) + _node(child) for ch, child in sorted(node.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
