"""The semantic cache's text normalisation and lexical guard.

Sentence embeddings barely move when a number, a negation, a name or a direction word
changes ("convert 5 km to miles" and "convert 50 km to miles" score ~0.95 on MiniLM), yet
those are exactly the changes that need a different answer. The guard compares the
content-bearing parts of two turns that an embedding smears over, class by class:

- quantities: every number (digits or number words, versions, dates, signs), bound to the
  unit that follows it;
- polarity: the parity of negations, and morphological negation ("unsafe" against "safe");
- entities: names (capitalised mid-sentence), acronyms, code identifiers, quoted strings
  and closed-class names (languages, formats, platforms, months, countries): each must
  appear in the other turn;
- contrast classes: words with an opposite in the same class (before/after, min/max, north/
  south, encode/decode, ...) must pick the same poles;
- conversion direction: what a turn converts to or from ("to celsius", "from json");
- a swapped slot: one content word replaced by another right after a determiner or a
  preposition, the rest identical ("the time complexity" / "the space complexity").

Everything else (word order, synonyms, filler, politeness, punctuation, case) is left to
the embedding similarity threshold.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import NamedTuple

from gateway.cache.semantic_vocab import (
    ALIASES,
    CLOSED_NAMES,
    NUMBER_WORDS,
    ORDINALS,
    PHRASES,
    POLE_CLASSES,
    RAW_ALIASES,
    SCALES,
    STRICT_CLASSES,
    TYPE_WORDS,
    UNITS,
    word_set,
)

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "`"})
_SPACE = re.compile(r"\s+")
# Trailing/leading noise that never changes an answer ("thanks!!", "...", "?").
_EDGE_NOISE = re.compile(r"^[\s.,;:!?\-~*]+|[\s.,;:!?~*]+$")
_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]+)\"|(?<![\w'])'([^']+)'(?![\w'])")
_TOKEN = re.compile(
    r"(?:(?<![\w)])-)?\d+(?:[.,:/]\d+)*(?:[a-z%°]+)?"  # a number, signed only where no subtraction
    r"|[\w']+(?:[._\-+#/][\w']+)*[+#]*"  # a word, identifier or path
    r"|-(?=\s?[\d(])|[%°+*/\u00d7\u00f7^<>=$€£¥₹]"  # an operator; "-" only before a number
)
_NUMBER = re.compile(r"^(-?)(\d+(?:[.,:/]\d+)*)([a-z%°]*)$")
_MIXED = re.compile(r"^(?=.*\d)(?=.*[a-z])")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_ORDINAL_SUFFIX = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_RAW_WORD = re.compile(r"[A-Za-z](?:[\w'.\-]*\w)?[+#]*")
_SENTENCE_END = re.compile(r"[.!?:;\n]\s*$")
_CONTRACTIONS = (
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"\bcannot\b"), "can not"),
)
# Phrases whose negation word carries no polarity.
_IDIOMS = re.compile(
    r"\b(?:whether or not|or not|no matter|not only|no doubt|no problem|feel free|for free)\b"
)
# "four-line", "100-word", "gluten-free": the parts count on their own.
_HYPHEN = re.compile(r"(?<=[a-z0-9])-(?=[a-z])|(?<=[a-z])-(?=\d)")
_NEGATIONS = word_set(
    "not no never none nobody nothing nowhere neither nor without lacking lack free "
    "except excluding"
)
_NEG_PREFIXES = ("non", "un", "dis", "in", "im", "ir", "il")
_OPERATORS = {"+": "plus", "*": "times", "\u00d7": "times", "\u00f7": "divided", "/": "divided"}
_OPERATORS |= {"^": "power", "<": "less", ">": "more", "-": "minus"}
# Capitalised words that are not names even mid-sentence.
_NOT_NAMES = word_set("i i'm i've i'd i'll ok okay")
# Words before "second" that make it the unit, not the ordinal.
_UNIT_CUES = word_set("a per one each every")


def normalise(text: str) -> str:
    """NFKC, casefolded, whitespace collapsed, edge punctuation stripped: equal for turns
    that differ only in case, spacing or trailing "?!."; numbers and words kept as typed."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return _EDGE_NOISE.sub("", _SPACE.sub(" ", text)).strip()


class Features(NamedTuple):
    numbers: frozenset[str]
    negated: bool
    words: frozenset[str]
    names: frozenset[str]
    quoted: tuple[str, ...]
    poles: dict[str, frozenset[str]]
    targets: frozenset[str]
    sequence: tuple[str, ...]
    text: str


def features(raw: str) -> Features:
    text = normalise(raw)
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    text = _HYPHEN.sub(" ", text)
    for phrase, joined in PHRASES.items():
        text = text.replace(phrase, joined)
    quoted = tuple(next(g for g in m.groups() if g) for m in _QUOTED.finditer(text))
    tokens = [ALIASES.get(t, t) for t in map(_stem, _TOKEN.findall(text))]
    words = frozenset(tokens)
    # "python3", "gpt-4", "ipv6": names whose digits are part of the name, not a quantity.
    idents = {t for t in words if _MIXED.match(t) and not _NUMBER.match(t)}
    names = _names(raw) | (words & CLOSED_NAMES) | idents
    polar = _IDIOMS.sub(" ", text)
    negations = sum(1 for t in _TOKEN.findall(polar) if t in _NEGATIONS)
    return Features(
        numbers=_numbers(tokens),
        negated=negations % 2 == 1,
        words=words,
        names=names,
        quoted=quoted,
        poles=_poles([t for i, t in enumerate(tokens) if not _is_unit(tokens, i)]),
        targets=_targets(tokens, names),
        # "a spider" / "an ant": the article's spelling is no difference of its own.
        sequence=tuple("a" if t == "an" else t for t in tokens),
        text=text,
    )


def compatible(query: str, candidate: str) -> bool:
    """Whether `candidate`'s answer may serve `query` as far as their words show: the
    raw turns (casing helps find names); normalised turns work, with fewer names found."""
    a, b = features(query), features(candidate)
    if not _numbers_agree(a.numbers, b.numbers) or a.negated != b.negated:
        return False
    if _prefix_negated(a.words, b.words) or _prefix_negated(b.words, a.words):
        return False
    if not (_present(a.names, b) and _present(b.names, a)):
        return False
    if not all(q in b.text for q in a.quoted) or not all(q in a.text for q in b.quoted):
        return False
    if not _targets_agree(a.targets, b.targets):
        return False
    if _swapped_slot(a.sequence, b.sequence):
        return False
    return _poles_agree(a.poles, b.poles)


# --- helpers ------------------------------------------------------------------------------


def _stem(token: str) -> str:
    """Possessives and plurals off, so "France's"/"france" and "files"/"file" meet."""
    token = token.removesuffix("'s").removesuffix("'")
    if len(token) > 3 and token.isalpha():
        if token.endswith("ies"):
            return token[:-3] + "y"
        if token.endswith("s") and not token.endswith(("ss", "us", "is")):
            return token[:-1]
    return token


def _numbers(tokens: list[str]) -> frozenset[str]:
    """Canonical quantities: "5 km", "five kilometres" and "5km" are all `5 km`; a number
    word run ("twenty five", "3 million") is read as one value; ordinals are `#n`."""
    found: set[str] = set()
    pending: float | None = None  # a run of number words being read
    run = 0.0

    def flush(unit: str = "") -> None:
        nonlocal pending, run
        if pending is not None:
            found.add(_join(_fmt(run + pending), unit))
        pending, run = None, 0.0

    skip = -1  # a unit word already read with its number
    for i, token in enumerate(tokens):
        if i == skip:
            continue
        ahead = i + 1
        # "100 degrees fahrenheit" is "100°f"; a bare "degree" is no unit of its own.
        if ahead < len(tokens) and tokens[ahead] in ("degree", "deg"):
            ahead += 1
        nxt = tokens[ahead] if ahead < len(tokens) else ""
        unit = UNITS.get(nxt, "")
        if unit and (token[-1:].isdigit() or token in NUMBER_WORDS or token in SCALES):
            skip = ahead
        prev = tokens[i - 1] if i else ""
        sign = "-" if prev in ("negative", "minus") and i < 2 else ""
        ordinal = token in ORDINALS and not (token == "second" and prev in _UNIT_CUES)
        if (m := _ORDINAL_SUFFIX.match(token)) or ordinal:
            flush()
            found.add("#" + (m.group(1) if m else ORDINALS[token]))
        elif m := _NUMBER.match(token):
            flush()
            minus, digits, suffix = m.groups()
            if _THOUSANDS.match(digits):
                digits = digits.replace(",", "")
            if suffix == "k" and digits.isdigit():  # "300k"
                digits, suffix = str(int(digits) * 1000), ""
            if nxt in SCALES:
                pending = float(digits) if digits.isdigit() else None
                if pending is not None:
                    continue
            found.add(_join((minus or sign) + digits, UNITS.get(suffix, suffix) or unit))
        elif token in SCALES and pending is not None:
            run, pending = (run + pending) * SCALES[token], 0.0
            if UNITS.get(nxt) or nxt not in NUMBER_WORDS:
                flush(UNITS.get(nxt, ""))
        elif token in NUMBER_WORDS and (token != "one" or unit or pending is not None):
            pending = (pending or 0.0) + NUMBER_WORDS[token]
            if nxt not in NUMBER_WORDS and nxt not in SCALES and nxt != "and":
                flush(unit)
        elif token in _OPERATORS:
            flush()
    flush()
    return frozenset(found)


def _is_number(token: str) -> bool:
    return token[-1:].isdigit() or token in NUMBER_WORDS or token in ORDINALS or token in SCALES


def _is_unit(tokens: list[str], i: int) -> bool:
    """A unit after its number ("10 min" is minutes, not a minimum)."""
    prev = tokens[i - 1] if i else ""
    return tokens[i] in UNITS and (prev[-1:].isdigit() or prev in NUMBER_WORDS)


def _numbers_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    """The same values; and where both sides give a value's unit, the same unit ("five" and
    "5 years" agree, "5 km" and "5 miles" do not)."""
    values = {n.split(" ", 1)[0] for n in a}
    if values != {n.split(" ", 1)[0] for n in b}:
        return False
    for value in values:
        mine = {n for n in a if n.startswith(value + " ")}
        theirs = {n for n in b if n.startswith(value + " ")}
        if mine and theirs and mine != theirs:
            return False
    return True


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _join(number: str, unit: str) -> str:
    return f"{number} {unit}" if unit else number


def _names(raw: str) -> frozenset[str]:
    """Capitalised words that do not start a sentence, all-caps acronyms, identifiers."""
    text = unicodedata.normalize("NFKC", raw).translate(_QUOTES)
    names: set[str] = set()
    for m in _RAW_WORD.finditer(text):
        word = m.group()
        folded = _stem(word.casefold())
        folded = RAW_ALIASES.get(word) or ALIASES.get(folded, folded)
        starts = m.start() == 0 or bool(_SENTENCE_END.search(text[: m.start()]))
        code = any(c in word for c in "._") or (word[:1].islower() and not word.islower())
        capital = word[:1].isupper() and not starts
        acronym = len(word) > 1 and word.isupper() and word.isalpha()
        if (code or capital or acronym) and folded not in _NOT_NAMES:
            names.add(folded)
    return frozenset(names)


def _present(names: frozenset[str], other: Features) -> bool:
    # Dotted or hyphenated names may be split differently on the other side; a plain word
    # must be a whole word there ("java" is not in "javascript").
    return all(n in other.words or (n.strip(r"\w") != n and n in other.text) for n in names)


def _prefix_negated(words: frozenset[str], other: frozenset[str]) -> bool:
    """ "unsafe" here, "safe" there (and not "unsafe" there too)."""
    for word in words - other:
        for prefix in _NEG_PREFIXES:
            rest = word[len(prefix) :]
            if word.startswith(prefix) and len(rest) >= 4 and rest in other:
                return True
    return False


_CURRENCY_CLASS = POLE_CLASSES["dollar"][0][0]
_TARGET_CUES = word_set("to into as in from")
_ARTICLES = word_set("a an the")


def _targets(tokens: list[str], names: frozenset[str]) -> frozenset[str]:
    """What a conversion goes to or from ("to celsius", "into json", "from an integer"),
    as "to x" / "from x"."""
    found: set[str] = set()
    for i, token in enumerate(tokens[:-1]):
        if token not in _TARGET_CUES:
            continue
        j = i + 1
        while j < len(tokens) - 1 and tokens[j] in _ARTICLES:
            j += 1
        word = UNITS.get(tokens[j], tokens[j])
        typed = word in UNITS or word in TYPE_WORDS or _is_currency(word)
        # "in" names a place or a language as often as a target: only units and types.
        if typed or (token != "in" and (word in CLOSED_NAMES or word in names)):
            found.add(("from " if token == "from" else "to ") + word)
    return frozenset(found)


def _targets_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    """Either side may leave a direction unsaid; what both say must agree, and nothing may
    go "to" on one side what comes "from" it on the other."""
    for cue in ("to ", "from "):
        mine = {t for t in a if t.startswith(cue)}
        theirs = {t for t in b if t.startswith(cue)}
        if mine and theirs and mine != theirs:
            return False
    flip = {("from " + t[3:]) if t.startswith("to ") else ("to " + t[5:]) for t in a}
    return not (flip & b)


def _is_currency(word: str) -> bool:
    return any(cls for cls, _ in POLE_CLASSES.get(word, ()) if cls == _CURRENCY_CLASS)


_FUNCTION_WORDS = word_set(
    "a an the i you we me my your is are was were be do doe did can could would should will "
    "shall may might must to of for in on at by with how what which who why when where "
    "please tell show give explain and or it this that"
)


def _swapped_slot(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One content word replaced by another, the rest word for word the same: a look-alike
    about another thing ("the time complexity" / "the space complexity", "fresh basil" /
    "dried basil"), unless the two words are known synonyms (one pole of a contrast class)."""
    if min(len(a), len(b)) < 3:
        return False
    ops = [
        op for op in SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"
    ]
    if len(ops) != 1:
        return False
    tag, i1, i2, j1, j2 = ops[0]
    if tag != "replace" or i2 - i1 != 1 or j2 - j1 != 1:
        return False
    mine, theirs = a[i1], b[j1]
    if mine in _FUNCTION_WORDS or theirs in _FUNCTION_WORDS or mine[:4] == theirs[:4]:
        return False
    if any(_is_number(w) for w in (mine, theirs)):  # the quantity check has read them
        return False
    return not set(POLE_CLASSES.get(mine, ())) & set(POLE_CLASSES.get(theirs, ()))


def _poles(tokens: list[str]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for token in tokens:
        word = _OPERATORS.get(token, token)
        for cls, pole in POLE_CLASSES.get(word, ()):
            found.setdefault(cls, set()).add(pole)
    return {cls: frozenset(p) for cls, p in found.items()}


def _poles_agree(a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]) -> bool:
    for cls in a.keys() | b.keys():
        mine, theirs = a.get(cls, frozenset()), b.get(cls, frozenset())
        if mine == theirs:
            continue
        if cls not in STRICT_CLASSES and not (mine and theirs):
            continue
        return False
    return True
