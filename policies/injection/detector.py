# ruff: noqa: RUF001 - curly quotes are what a quotation opens with.
"""The layered prompt-injection scorer: fold, look behind the disguises, match signals,
turn the evidence into a calibrated score.

Score: a logistic over `BIAS + channel prior + sum of signal weights + a bonus per extra
attack family`. With `BIAS = -3`, one strong signal (an override, a chat-template turn
marker, a system-prompt extraction) reaches about 0.6; one ambiguous signal ("from now on
you", "no limits", a tool name) stays near 0.2 until a second, independent family joins it.
Damping signals (the text discusses attacks, quotes one, or is code) subtract, but never
below what hidden or encoded evidence adds: quoting an attack inside base64 is no excuse.

Views scanned: the folded text; a leetspeak and a de-spaced view when the text shows
those disguises; every hidden payload (HTML/Markdown comments, base64, base32, hex,
binary, ascii85/base85, Morse, escapes, percent-encoding, ROT13, reversed text), folded in
turn. Evidence found in a hidden view adds a disguise signal: hiding an instruction is
itself a sign of one. A text already certain on its plain view skips the rest.

Cost: linear in the text, every decode bounded (see `payloads`); the signals' anchors
(see `signal`) keep most patterns from running at all on ordinary prose, and the others
run only where one of their leads occurs (see `matcher`), not at every offset.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from types import MappingProxyType

from policies.injection.matcher import SignalSet
from policies.injection.normalize import despace, fold, had_invisible, leet
from policies.injection.payloads import hidden
from policies.injection.signal import UNTRUSTED_CHANNELS, Signal, Words
from policies.injection.signals_agent import SIGNALS as AGENT
from policies.injection.signals_intl import SIGNALS as INTERNATIONAL
from policies.injection.signals_reader import SIGNALS as READER
from policies.injection.signals_reveal import SIGNALS as REVEAL
from policies.injection.signals_takeover import SIGNALS as TAKEOVER
from policies.injection.verdict import InjectionClassifier, InjectionVerdict

BIAS = -3.0
FAMILY_BONUS = 1.0
SAME_FAMILY_SHARE = 0.1
CERTAIN = 0.97
DAMPING_FLOOR = -1.5  # a logit: a score of about 0.18
MAX_FAMILY_BONUS = 2.0
# Untrusted content has no reason to carry instructions at all: a small prior.
CHANNEL_PRIOR = MappingProxyType({"user": 0.0, "tool": 0.3, "document": 0.3})
# Hidden or encoded text that itself carries evidence: what each disguise adds.
DISGUISE_WEIGHT = MappingProxyType(
    {
        "comment": 1.5,
        "base64": 1.5,
        "hex": 1.5,
        "escape": 1.5,
        "percent": 1.2,
        "rot13": 1.5,
        "reversed": 1.5,
        "base32": 1.5,
        "binary": 1.5,
        "ascii85": 1.5,
        "base85": 1.5,
        "morse": 1.5,
        "leet": 1.0,
        "despace": 1.0,
    }
)
INVISIBLE_WEIGHT = 1.0
# In untrusted content, evidence found only inside a quotation ("attackers write 'ignore
# previous instructions'") is an article quoting an attack, not one addressed to the
# reader: it keeps this share of its weight and no longer counts as a family of its own.
QUOTED_SHARE = 0.3
# A quotation in prose: opened after a word or "(" (a JSON or CSV value opens after `:`,
# `,`, `[` or `=`, and is data, not a quotation), closed on the same line; a closing
# apostrophe must not be followed by a letter ("the user's").
_QUOTATION = re.compile(
    r"(?:(?<=[^\W_] )|(?<=\())"
    r"(?:\"[^\"\n]{3,160}\"|“[^”\n]{3,160}”|«[^»\n]{3,160}»|'[^\n]{3,160}?'(?![^\W\d_])|"
    r"‘[^\n]{3,160}?’(?![^\W\d_]))"
)
# Untrusted content that discusses attacks (or is code) and says nothing to the reader
# outside its quotations keeps this share of its evidence: a security article quotes whole
# payloads, without quote marks as often as with. A note to the assistant, an order about
# its reply, a tool call, secrecy or exfiltration keeps the article live.
DISCUSSED_SHARE = 0.3
READER_FAMILIES = frozenset({"address", "directive", "tool", "secrecy", "exfil"})
# Multi-turn: how many trailing user turns are joined and scored together.
TURN_WINDOW = 4
MAX_TURN_CHARS = 16_384


def _matches(signals: SignalSet, text: Words, channel: str) -> dict[str, tuple[str | None, float]]:
    return {sig.name: (sig.family, sig.weight_in(channel)) for sig in signals.fired(text)}


def bonus_of(families: set[str | None]) -> float:
    return min(MAX_FAMILY_BONUS, FAMILY_BONUS * max(0, len(families) - 1))


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


class InjectionDetector:
    """Lexical and structural scoring; a plugged `classifier` may raise the score, never
    lower it (the rules stay a floor a model cannot talk its way under)."""

    def __init__(
        self,
        classifier: InjectionClassifier | None = None,
        signals: Iterable[Signal] | None = None,
    ) -> None:
        self._signals = (
            tuple(signals)
            if signals is not None
            else TAKEOVER + REVEAL + AGENT + INTERNATIONAL + READER
        )
        # Built once per detector: each set's lead scan is compiled from its patterns.
        self._evidence = SignalSet(s for s in self._signals if s.family is not None)
        self._damping = SignalSet(s for s in self._signals if s.family is None)
        self._classifier = classifier

    def score(self, text: str, channel: str) -> InjectionVerdict:
        verdict = self._lexical(text, channel)
        if self._classifier is not None:
            other = self._classifier.score(text, channel)
            if other.score > verdict.score:
                return InjectionVerdict(other.score, (*verdict.signals, "classifier"))
        return verdict

    def score_turns(self, turns: list[str]) -> InjectionVerdict:
        """The worst of the last turns alone and joined: a payload split over several user
        turns ("ignore all previous" / "instructions and ...") only reads whole."""
        recent = turns[-TURN_WINDOW:]
        best = InjectionVerdict(0.0, ())
        for turn in recent:
            verdict = self.score(turn, "user")
            if verdict.score > best.score:
                best = verdict
        for start in range(len(recent) - 1):
            joined = " ".join(t[-MAX_TURN_CHARS:] for t in recent[start:])
            verdict = self.score(joined, "user")
            if verdict.score > best.score:
                best = InjectionVerdict(verdict.score, (*verdict.signals, "multi_turn"))
        return best

    def _lexical(self, text: str, channel: str) -> InjectionVerdict:
        folded = Words.of(fold(text))
        evidence = _matches(self._evidence, folded, channel)
        quoted = self._quoted_only(folded, channel, evidence)
        disguises: dict[str, float] = {}
        # The damping signals read the plain view only: found once, used by both verdicts.
        damping: list[float] = []
        if evidence:
            # Already certain: what the disguised views add cannot change the outcome.
            plain = self._verdict(folded, channel, evidence, disguises, damping, quoted=quoted)
            if plain.score >= CERTAIN:
                return plain
        views: list[tuple[str, str]] = []
        for kind, view in (("leet", leet(folded.text)), ("despace", despace(folded.text))):
            if view is not None:
                views.append((kind, view))
        views.extend((item.kind, fold(item.text)) for item in hidden(text, folded.text))
        for kind, view in views:
            found = self._view_matches(Words.of(view), channel, kind, evidence)
            if not found:
                continue
            # Any evidence in a hidden view counts as a disguise; for leet and de-spaced
            # views only evidence the plain view missed does (they repeat it otherwise).
            if kind in ("leet", "despace") and found.keys() <= evidence.keys():
                continue
            disguises[kind] = DISGUISE_WEIGHT.get(kind, 1.0)
            for name, (family, weight) in found.items():
                if weight > evidence.get(name, (None, -math.inf))[1]:
                    evidence[name] = (family, weight)
                    quoted.discard(name)  # hidden evidence is not excused by a quotation
        if had_invisible(text):
            disguises["invisible"] = INVISIBLE_WEIGHT
        return self._verdict(folded, channel, evidence, disguises, damping, quoted=quoted)

    def _quoted_only(
        self, folded: Words, channel: str, evidence: dict[str, tuple[str | None, float]]
    ) -> set[str]:
        """The evidence of untrusted text that fires only inside its quotations, with its
        weight cut to `QUOTED_SHARE` in `evidence`. User text keeps its quotes: a user
        pasting an attack in quotes is still sending it."""
        if not evidence or channel not in UNTRUSTED_CHANNELS:
            return set()
        text = folded.text
        if '"' not in text and "'" not in text and not any(q in text for q in "“‘«"):
            return set()
        unquoted, spans = _QUOTATION.subn(lambda m: " " * len(m.group()), text)
        if not spans:
            return set()
        outside = {sig.name for sig in self._evidence.fired(Words.of(unquoted))}
        quoted = set(evidence) - outside
        for name in quoted:
            family, weight = evidence[name]
            evidence[name] = (family, weight * QUOTED_SHARE)
        return quoted

    def _view_matches(
        self, view: Words, channel: str, kind: str, evidence: dict[str, tuple[str | None, float]]
    ) -> dict[str, tuple[str | None, float]]:
        """`_matches` on a disguised view, less what cannot change the verdict: a signal
        the plain view already found adds nothing but "the view holds evidence", which
        leet and de-spaced views ignore and a hidden view needs to learn only once."""
        partial = kind in ("leet", "despace")
        skip: set[str] = set(evidence) if partial else set()
        found: dict[str, tuple[str | None, float]] = {}
        for sig in self._evidence.fired(view, skip):
            if sig.name in evidence:
                skip.update(evidence)
            found[sig.name] = (sig.family, sig.weight_in(channel))
        return found

    def _verdict(
        self,
        folded: Words,
        channel: str,
        evidence: dict[str, tuple[str | None, float]],
        disguises: dict[str, float],
        memo: list[float],
        *,
        quoted: set[str],
    ) -> InjectionVerdict:
        if not evidence and not disguises:
            return InjectionVerdict(_logistic(BIAS + CHANNEL_PRIOR.get(channel, 0.0)), ())
        by_family: dict[str | None, list[float]] = {}
        for family, weight in evidence.values():
            by_family.setdefault(family, []).append(weight)
        # A family seen only inside quotations is no independent evidence.
        families = {family for name, (family, _) in evidence.items() if name not in quoted}
        # Two phrasings of one move (an English and a French override pattern both firing
        # on "ignore all instructions") are one piece of evidence, plus a little.
        positive = sum(
            max(ws) + SAME_FAMILY_SHARE * (sum(ws) - max(ws)) for ws in by_family.values()
        )
        damping = 0.0
        undamped = BIAS + CHANNEL_PRIOR.get(channel, 0.0) + positive + sum(disguises.values())
        # Damping only lowers a score: not worth its patterns when the score is low already.
        if evidence and undamped + bonus_of(families) > DAMPING_FLOOR:
            if not memo:
                memo.append(sum(s.weight_in(channel) for s in self._damping.fired(folded)))
            damping = memo[0]
            # Untrusted content that discusses attacks still should not address the reader.
            if channel in UNTRUSTED_CHANNELS and damping < 0:
                if families & READER_FAMILIES:
                    damping /= 2
                else:
                    damping = min(damping, -(1 - DISCUSSED_SHARE) * (positive + bonus_of(families)))
        bonus = bonus_of(families)
        hiding = sum(disguises.values())
        z = BIAS + CHANNEL_PRIOR.get(channel, 0.0) + max(positive + bonus + damping, 0.0)
        z += hiding
        names = tuple(sorted(evidence)) + tuple(f"{kind}_payload" for kind in sorted(disguises))
        return InjectionVerdict(round(_logistic(z), 4), names)
