# ruff: noqa: RUF001, RUF003 - look-alike letters here are the point (confusables, scripts).
"""Undo the cheap disguises before any signal looks at a text.

`fold` gives the canonical view every signal reads: invisible and bidi controls dropped,
Unicode tag characters ("ASCII smuggling") turned back into the letters they encode, NFKC
(fullwidth forms, ligatures, mathematical alphabets), Latin and Arabic diacritics and
stacked combining marks removed, lower case, look-alike Cyrillic and Greek letters folded
to Latin inside words that mix scripts, and whitespace runs collapsed (newlines kept: line
starts matter to the turn-marker signals).

`leet` and `despace` are second views, built only when a text shows the disguise they
undo ("1gn0r3", "i g n o r e"), so ordinary numbers never turn into letters in the main
view.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width, joiners, soft hyphen, word joiner, BOM, bidi embeddings/overrides/isolates,
# Mongolian vowel separator, variation selectors: none of them is visible, all of them
# split a keyword for a naive matcher.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u206a-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_TAGS = re.compile("[\U000e0000-\U000e007f]")
# Diacritics folded away so "révélez"/"revelez" and zalgo text read the same; Japanese
# (U+3099) and Hangul marks are outside these ranges and survive.
_MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u064b-\u065f\u0670\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)
_WORD = re.compile(r"\w+")
_MIXED_PAIR = re.compile(r"[0-9A-Za-z_](?=[^\W0-9A-Za-z_])|[^\W0-9A-Za-z_](?=[0-9A-Za-z_])")
_ASCII_LETTER = re.compile(r"[a-z]")

# Cyrillic and Greek letters that render like Latin ones, plus a few symbol look-alikes
# NFKC keeps. Folded only inside a word that also holds a Latin letter, so Russian and
# Greek prose stays intact for their own signals.
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "һ": "h",
        "ɡ": "g",
        "ո": "n",
        "ս": "u",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
        "γ": "y",
        "ϲ": "c",
        "ı": "i",
        "ℓ": "l",
        "ɩ": "i",
        "ɑ": "a",
        "ꞵ": "b",
        "ɪ": "i",
        "ʏ": "y",
        "ᴀ": "a",
        "ᴇ": "e",
        "ᴏ": "o",
        "ᴛ": "t",
        "ᴜ": "u",
        "ꜱ": "s",
        "ʀ": "r",
        "ɴ": "n",
        "ᴍ": "m",
    }
)
_CONFUSABLE_CHARS = frozenset(chr(k) for k in _CONFUSABLES)
_CONFUSABLE = re.compile("[" + "".join(sorted(_CONFUSABLE_CHARS)) + "]")

_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "i",
        "+": "t",
        "€": "e",
    }
)
# A digit or symbol wedged between letters ("1gn0re", "pr0mpt"): worth a leet view.
# Written symbol-first: a pattern led by a letter class is tried at every letter.
_LEET_HINT = re.compile(r"[0134578@$!|+€]+[a-z]")
# The token a hint sits in: letters, digits and leet symbols, up to a space or punctuation.
_LEET_SYMBOLS = "_@$!|+€"
_LEET_TOKEN = re.compile(r"[\w@$!|+€]+")
# Single letters separated by one separator, five or more in a row: "i g n o r e".
_SENTENCE = re.compile(r"\n|\. ")
_SPACED_HINT = re.compile(r"[ .\-_*][^\W\d_][ .\-_*][^\W\d_][ .\-_*]")
_SPACED = re.compile(r"\b(?:[^\W\d_][ .\-_*]){4,}[^\W\d_]\b")
_SPACED_GAP = re.compile(r"[ .\-_*]")


def _shape_table(**classes: str) -> bytes:
    table = bytearray(b"x" * 256)
    for name, chars in classes.items():
        for ch in chars:
            table[ord(ch)] = ord(name)
    return bytes(table)


# Byte-class views for the two hints: a substring test on one `bytes.translate` says
# whether the hint regex can match at all, without trying it at every offset. Both hints'
# classes are ASCII (but "€", checked apart), so other characters' bytes map to `x`.
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_LEET_SHAPE = _shape_table(l="0134578@$!|+", a=_LOWER)
_SPACED_SHAPE = _shape_table(s=" .-_*", a=_LOWER + _LOWER.upper())
_MIXED_SHAPE = _shape_table(
    a=_LOWER + _LOWER.upper() + "0123456789_", u="".join(map(chr, range(128, 256)))
)


def _untag(match: re.Match[str]) -> str:
    code = ord(match.group()) - 0xE0000
    return chr(code) if 0x20 <= code < 0x7F else ""


def _fold_word(match: re.Match[str]) -> str:
    word = match.group()
    if not any(ch in _CONFUSABLE_CHARS for ch in word):
        return word
    # Only a word that mixes scripts is a disguise: "все" is Russian, "аll" is not.
    return word.translate(_CONFUSABLES) if _ASCII_LETTER.search(word) else word


def _fold_mixed(text: str) -> str:
    """`_WORD.sub(_fold_word, text)`, but only over the words that hold an ASCII word
    character next to a non-ASCII one: a word with a Latin letter and a look-alike has such
    a pair somewhere, and a callback per word of Russian or Greek prose costs 0.3 us each."""
    # Any such pair leaves an ASCII word byte next to a non-ASCII one in the UTF-8 bytes
    # (a necessary condition, and one C-speed test rather than a regex scan).
    shape = text.encode("utf-8", "surrogatepass").translate(_MIXED_SHAPE)
    if b"au" not in shape and b"ua" not in shape:
        return text
    out: list[str] = []
    done = 0
    for pair in _MIXED_PAIR.finditer(text):
        at = pair.start()
        if at < done:
            continue  # inside the word just folded
        start = at
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1  # `\w`, as the regex engine defines it
        word = _WORD.match(text, start)
        assert word is not None  # `start` is a word character
        out += (text[done:start], _fold_word(word))
        done = word.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def fold(text: str) -> str:
    """The canonical, lower-case view of `text` (linear in its length)."""
    if text.isascii():
        folded = text.lower()
    else:
        text = _INVISIBLE.sub("", text)
        text = _TAGS.sub(_untag, text)
        text = unicodedata.normalize("NFKC", text)
        text = _MARKS.sub("", unicodedata.normalize("NFD", text))
        folded = unicodedata.normalize("NFC", text).casefold()
        # One charset scan first: the per-word fold is for texts that hold look-alikes.
        if not folded.isascii() and _CONFUSABLE.search(folded):
            folded = _fold_mixed(folded)
    # str.split is C-speed and knows every Unicode space; a regex over each space is not.
    if "\n" in folded:
        lines = (" ".join(line.split()) for line in folded.split("\n"))
        return "\n".join(line for line in lines if line)
    if "  " in folded or "\t" in folded or "\r" in folded or not folded.isascii():
        return " ".join(folded.split())
    return folded


def leet(folded: str) -> str | None:
    """The sentences that use digits and symbols as letters ("1gn0r3 4ll"), read as
    letters; None when fewer than two such words occur (one "mp3" is not a disguise). Only
    those sentences: the rest of the text was already scanned."""
    shape = folded.encode("utf-8", "surrogatepass").translate(_LEET_SHAPE)
    if b"la" not in shape and "€" not in folded:
        return None  # no leet character before a letter: `_LEET_HINT` cannot match
    # Distinct words: "0ede5ae" holds two hints but is one word.
    hits = {_leet_word(folded, m) for m in _LEET_HINT.finditer(folded)} - {None}
    if len(hits) < 2:
        return None
    sentences = _SENTENCE.split(folded)
    if len(sentences) == 1:
        return folded.translate(_LEET)
    leety = [s for s in sentences if _LEET_HINT.search(s)]
    return "\n".join(s.translate(_LEET) for s in leety)


def _leet_word(text: str, match: re.Match[str]) -> int | None:
    """Where the leet word around a hint starts, if it is one: a leet character between
    letters, or leading a word of letters, in a token that reads as letters once
    translated. "1gn0r3" does; a commit hash ("48efb09e"), a timestamp ("27T04") or a
    version ("5e65e8f") holds digits leet has no letter for."""
    start = match.start()
    if not (start == 0 or text[start - 1].isalpha() or not text[start - 1].isalnum()):
        return None
    begin = start
    while begin > 0 and (text[begin - 1].isalnum() or text[begin - 1] in _LEET_SYMBOLS):
        begin -= 1
    token = _LEET_TOKEN.match(text, begin)
    return begin if token is not None and token.group().translate(_LEET).isalpha() else None


def despace(folded: str) -> str | None:
    """Letters spelled out one at a time joined back into words."""
    if folded.isascii() and b"sasas" not in folded.encode().translate(_SPACED_SHAPE):
        return None  # the hint's shape (gap, letter, gap, letter, gap) is missing
    if not _SPACED_HINT.search(folded) or not _SPACED.search(folded):
        return None
    return _SPACED.sub(lambda m: _SPACED_GAP.sub("", m.group()), folded)


def had_invisible(text: str) -> bool:
    """Invisible characters inside a word: a disguise in itself, rare in honest text."""
    return not text.isascii() and bool(_INVISIBLE_IN_WORD.search(text))


_INVISIBLE_IN_WORD = re.compile(
    "\\w[\u200b-\u200d\u2060-\u2064\ufeff\u00ad\U000e0000-\U000e007f]+\\w"
)
