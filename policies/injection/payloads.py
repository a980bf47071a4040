"""Text hidden inside a text: encoded runs (base64, hex, percent-escapes, `\\x`/`\\u`
escapes), ROT13, and comments a renderer never shows (HTML `<!-- -->`, Markdown
`[//]: # (...)` link-reference comments).

Bounded on purpose: only runs long enough to hold a sentence are decoded, a decoded run
must read like text (printable, with letters and spaces) to count, at most `MAX_RUNS`
runs per text and `MAX_DECODED` characters in all, and a run is decoded again (base64 of
hex of ...) only up to `MAX_DEPTH` layers. Every pattern is linear: no unbounded repeat
sits before a literal it could re-scan for.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import itertools
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType

MAX_RUNS = 16
MAX_DECODED = 32_768
MAX_DEPTH = 3
MAX_RUN = 8_192  # a longer run is a file, an image or a key: its head is enough

_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}")
_HEX = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{24,}")
# Spaced encodings are many short tokens; each pattern leads with a narrow character class
# so a scan of ordinary prose skips ahead quickly.
_HEX_SPACED = re.compile(r"(?:[2-7][0-9A-Fa-f][ :]){8,}[0-9A-Fa-f]{2}")
_ESCAPES = re.compile(r"(?:\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}){6,}")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_B32 = re.compile(r"(?<![A-Z2-7])[A-Z2-7]{24,}=*")
_BINARY = re.compile(r"(?:[01]{8}[ ,]?){6,}")
_BINARY_SPACED = re.compile(r"(?:[01]{8}[ ,]){5,}[01]{8}")
_A85 = re.compile(r"<~[!-u]{8,}~?>?")
_B85 = re.compile(r"[0-9A-Za-z!#$%&()*+\-;<=>?@^_`{|}~]{24,}")
_MORSE = re.compile(r"(?:[.-]{1,7}(?: {1,3}| ?/ ?)){5,}[.-]{1,7}")
_MORSE_LEAD = re.compile(r"[.-]{1,5} [.-]{1,5} [.-]{1,5} ")
_REVERSED_HINTS = ("snoitcurtsni", "erongi", "tpmorp", "suoiverp", "drageresid", "laever")
# fmt: off
_MORSE_TABLE = MappingProxyType(
    {
        ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g",
        "....": "h", "..": "i", ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n",
        "---": "o", ".--.": "p", "--.-": "q", ".-.": "r", "...": "s", "-": "t", "..-": "u",
        "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z",
    }
)
# fmt: on
_MD_COMMENT = re.compile(r"\[(?://|comment)\]:[ \t]?<?>?[ \t]?#?[ \t]?\(([^\n]{1,2000})\)")
MAX_ATTEMPTS = 64
_LETTERS = re.compile(r"[^\W\d_]{3}")
# ROT13 of "ignore", "disregard", "instruction", "previous", "system", "prompt", "reveal",
# "forget", "password", "assistant", " the ", or the cipher named: a text holding none of
# them is not worth rotating.
_ROT13_HINTS = (
    "vtaber",
    "qvfertneq",
    "vafgehpgvba",
    "cerivbhf",
    "flfgrz",
    "cebzcg",
    "erirny",
    "sbetrg",
    "cnffjbeq",
    "nffvfgnag",
    " gur ",
    "rot13",
    "rot-13",
    "rot 13",
)
# Spaced hex of printable ASCII ("49 67 6e"): the only encoding that is not one long token.
MIN_TOKEN = 16


def _table(**classes: str) -> bytes:
    table = bytearray(b"x" * 256)
    for name, chars in classes.items():
        for ch in chars:
            table[ord(ch)] = ord(name)
    return bytes(table)


# Byte-class views of a text, for the patterns whose scans cost most on prose: after one
# `bytes.translate`, "a run of 24 hex digits" is a substring test at C speed, not a regex
# tried at every offset. A pattern runs only when its shape occurs (a necessary condition,
# so nothing it would find is skipped). Every class is ASCII: the UTF-8 bytes of other
# characters map to `x`, as those characters match none of the patterns' classes.
_HEX_SHAPE = _table(h="0123456789abcdefABCDEF", s=" :")
_BIN_SHAPE = _table(b="01", s=" ,")
_MORSE_SHAPE = _table(m=".-", s=" ")
_B32_SHAPE = _table(u="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_SHAPES = MappingProxyType(
    {
        "hex_spaced": (_HEX_SHAPE, b"hhs" * 8 + b"hh"),
        "binary_spaced": (_BIN_SHAPE, (b"b" * 8 + b"s") * 5 + b"b" * 8),
        "morse": (_MORSE_SHAPE, b"msm"),
        "hex": (_HEX_SHAPE, b"h" * 24),
        "base32": (_B32_SHAPE, b"u" * 24),
    }
)


class _Shapes:
    """The byte-class views of one text, each built on first use."""

    def __init__(self, text: str) -> None:
        self._raw = text.encode("utf-8", "surrogatepass")
        self._views: dict[bytes, bytes] = {}

    def may_hold(self, kind: str) -> bool:
        table, shape = _SHAPES[kind]
        view = self._views.get(table)
        if view is None:
            view = self._views[table] = self._raw.translate(table)
        return shape in view


@dataclass(frozen=True, slots=True)
class Hidden:
    kind: str  # "comment", "rot13", "reversed" or the encoding: "base64", "hex", ...
    text: str


def _readable(text: str) -> bool:
    """Prose: printable, with letters, and words (spaces, or a script written without them)."""
    if len(text) < 8:
        return False
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\t")
    if printable < 0.9 * len(text) or not _LETTERS.search(text):
        return False
    return " " in text or not text.isascii()


def _layer(text: str) -> bool:
    """Another encoding inside a decoded one (base64 of base64, hex in base64)."""
    return len(text) >= 16 and text.isascii() and text.isprintable()


def _bytes_text(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _readable(text) or _layer(text) else None


def _from_base64(run: str) -> str | None:
    run = run[:MAX_RUN]
    # Words, paths and identifiers match the alphabet too; real payloads mix cases and
    # digits, and a run without both is not worth a decode.
    if run.isalpha() and (run.islower() or run.isupper()):
        return None
    padded = run.rstrip("=")
    padded = padded[: len(padded) - len(padded) % 4] if len(padded) % 4 == 1 else padded
    padded += "=" * (-len(padded) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _bytes_text(raw)


def _from_hex(run: str) -> str | None:
    digits = re.sub(r"[ :]", "", run[:MAX_RUN])
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        return _bytes_text(bytes.fromhex(digits))
    except ValueError:
        return None


def _from_escapes(run: str) -> str | None:
    try:
        text = codecs.decode(run[:MAX_RUN], "unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return None
    # `\xc3\xa9`-style escapes spell UTF-8 bytes; `\u00e9` ones are already text.
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("latin-1").decode("utf-8")
    return text if _readable(text) else None


def _from_percent(run: str) -> str | None:
    text = urllib.parse.unquote(run[:MAX_RUN])
    return text if _readable(text) else None


def _from_base32(run: str) -> str | None:
    run = run[:MAX_RUN].rstrip("=")
    try:
        return _bytes_text(base64.b32decode(run + "=" * (-len(run) % 8)))
    except (binascii.Error, ValueError):
        return None


def _from_binary(run: str) -> str | None:
    groups = re.findall(r"[01]{8}", run[:MAX_RUN])
    return _bytes_text(bytes(int(g, 2) for g in groups))


def _from_a85(run: str) -> str | None:
    body = run[2:MAX_RUN].rstrip(">").rstrip("~")
    try:
        return _bytes_text(base64.a85decode(body))
    except ValueError:
        return None


def _from_b85(run: str) -> str | None:
    try:
        return _bytes_text(base64.b85decode(run[:MAX_RUN]))
    except ValueError:
        return None


def _from_morse(run: str) -> str | None:
    words = run[:MAX_RUN].replace(" / ", "/").split("/")
    letters = [" ".join("".join(_MORSE_TABLE.get(c, "") for c in w.split()) for w in words)]
    return letters[0] if _readable(letters[0]) else None


_DECODERS = (
    ("base64", _B64, _from_base64),
    ("base32", _B32, _from_base32),
    ("ascii85", _A85, _from_a85),
    ("base85", _B85, _from_b85),
    ("hex", _HEX, _from_hex),
    ("escape", _ESCAPES, _from_escapes),
)


def _comments(text: str) -> list[Hidden]:
    # str.find, not a lazy regex: an unclosed "<!--" must not make every later one
    # re-scan to the end of the text.
    found: list[Hidden] = []
    start = text.find("<!--")
    while start >= 0 and len(found) < MAX_RUNS:
        end = text.find("-->", start + 4)
        if end < 0:
            found.append(Hidden("comment", text[start + 4 : start + 4 + MAX_RUN]))
            break
        found.append(Hidden("comment", text[start + 4 : min(end, start + 4 + MAX_RUN)]))
        start = text.find("<!--", end + 3)
    if "]:" in text:
        for match in itertools.islice(_MD_COMMENT.finditer(text), MAX_RUNS):
            found.append(Hidden("comment", match.group(1)))
    return found[:MAX_RUNS]


def _long_tokens(text: str) -> str:
    """The tokens an unspaced encoding can hide in: ordinary prose costs one split, not
    seven regex scans."""
    return " ".join(t for t in text.split() if len(t) >= MIN_TOKEN)


def _spaced_runs(text: str, shapes: _Shapes) -> Iterator[tuple[str, str]]:
    if shapes.may_hold("hex_spaced"):
        for match in itertools.islice(_HEX_SPACED.finditer(text), MAX_ATTEMPTS):
            yield "hex", match.group()
    if shapes.may_hold("binary_spaced"):
        for match in itertools.islice(_BINARY_SPACED.finditer(text), MAX_ATTEMPTS):
            yield "binary", match.group()
    lead = _MORSE_LEAD.search(text) if shapes.may_hold("morse") else None
    if lead is not None:
        for match in itertools.islice(_MORSE.finditer(text, lead.start()), MAX_ATTEMPTS):
            yield "morse", match.group()


_DECODE = MappingProxyType(
    {"percent": _from_percent, "hex": _from_hex, "binary": _from_binary, "morse": _from_morse}
    | {kind: decode for kind, _, decode in _DECODERS}
)


def _decoded(text: str, depth: int) -> Iterator[Hidden]:
    shapes = _Shapes(text)
    runs: list[tuple[str, str]] = list(_spaced_runs(text, shapes))
    tokens = _long_tokens(text)
    if tokens:
        for kind, pattern, _ in _DECODERS:
            # A long token is part of the text: a shape missing from the text is missing
            # from the tokens too.
            if kind in _SHAPES and not shapes.may_hold(kind):
                continue
            if kind == "escape" and "\\x" not in tokens and "\\u" not in tokens:
                continue
            runs.extend(
                (kind, m.group()) for m in itertools.islice(pattern.finditer(tokens), MAX_ATTEMPTS)
            )
    if "%" in tokens:
        # A token with three or more escapes is decoded whole ("Ignore%20all%20previous").
        runs.extend(
            ("percent", t)
            for t in tokens.split()[:MAX_ATTEMPTS]
            if len(_PERCENT_ESCAPE.findall(t, 0, MAX_RUN)) >= 3
        )
    for kind, run in runs:
        found = _DECODE[kind](run)
        if found is None:
            continue
        yield Hidden(kind, found)
        if depth + 1 < MAX_DEPTH:
            yield from _decoded(found, depth + 1)


def hidden(text: str, folded: str) -> list[Hidden]:
    """What `text` carries out of sight, bounded in count and size; `folded` is its
    canonical view (the ROT13 and comment checks read it)."""
    found: list[Hidden] = []
    budget = MAX_DECODED
    found.extend(_comments(text))
    for item in _decoded(text, 0):
        budget -= len(item.text)
        if budget < 0 or len(found) >= MAX_RUNS:
            break
        found.append(item)
    if any(hint in folded for hint in _ROT13_HINTS):
        found.append(Hidden("rot13", codecs.encode(folded[:MAX_DECODED], "rot13")))
    if any(hint in folded for hint in _REVERSED_HINTS):
        found.append(Hidden("reversed", folded[:MAX_DECODED][::-1]))
    return found
