"""The secrets detector: find each rule's literal anchors, then try its regex there."""

from __future__ import annotations

import re
from collections.abc import Sequence

from policies.findings import Finding, resolve_overlaps
from policies.secrets.rule import Rule
from policies.secrets.rules import RULES

# The longest span a rule reports plus the context it reads: a PEM block's body is capped
# so the whole block fits (see `context_rules`); every other rule is bounded well below.
MAX_SPAN = 4096
# Every rule but the long constructs below reports spans well under this (with context).
STREAM_HOLD = 640
# (opening, closing or None for a token that ends at its first non-token character).
_LONG_CONSTRUCTS = (("-----begin ", "-----end "), ("private-lines:", "private-mac"), ("eyj", None))
_TOKEN_TAIL = re.compile(r"[a-z0-9_.\-]*")


class SecretDetector:
    """Credentials in a text (`SpanDetector`). Every rule names literal anchors that any of
    its matches contains; one substring search per distinct anchor over the lowercased text
    finds where they occur, and a rule's regex runs only there. A text without anchors
    costs those searches and nothing else."""

    name = "secrets"
    max_span = MAX_SPAN

    def __init__(self, rules: Sequence[Rule] = RULES) -> None:
        self._rules = tuple(rules)
        keywords = {k for rule in self._rules for k in rule.keywords}
        # An anchor that starts with a shorter one is searched as the shorter one (the
        # regex tried there fails at once where the rest differs): fewer passes. Not for a
        # rule with a `lead`, which searches a window at each anchor instead.
        root = {k: min((r for r in keywords if k.startswith(r)), key=len) for k in keywords}
        self._plan = tuple(
            (rule, tuple(sorted({k if rule.lead else root[k] for k in rule.keywords})))
            for rule in self._rules
        )
        self._anchors = tuple(sorted({k for _, roots in self._plan for k in roots}))

    def hold(self, pending: str) -> int:
        """How much of a stream's pending text may still grow into a credential: the
        longest ordinary rule's reach, or from the start of a long construct (a PEM block,
        a PuTTY key, a JWT) still open at the end."""
        held = min(len(pending), STREAM_HOLD)
        tail = pending[-MAX_SPAN:].lower()
        base = len(pending) - len(tail)
        for opening, closing in _LONG_CONSTRUCTS:
            at = tail.rfind(opening)
            if at < 0:
                continue
            rest = tail[at:]
            still_open = (
                _TOKEN_TAIL.fullmatch(rest) is not None if closing is None else closing not in rest
            )
            if still_open:
                held = max(held, len(pending) - (base + at))
        return held

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def find(self, text: str) -> list[Finding]:
        lowered = text.lower()
        # A few characters lowercase to two (`İ`): offsets would drift, so scan whole.
        exact = len(lowered) == len(text)
        where = {k: _occurrences(lowered, k) for k in self._anchors if k in lowered}
        findings: list[Finding] = []
        for rule, roots in self._plan:
            if not roots:
                findings.extend(rule.scan(text))
                continue
            hits = [where[r] for r in roots if r in where]
            if not hits:
                continue
            if not exact:
                findings.extend(rule.scan(text))
                continue
            anchors = hits[0] if len(hits) == 1 else sorted(set().union(*hits))
            findings.extend(rule.scan(text, anchors))
        return resolve_overlaps(findings)


def _occurrences(text: str, needle: str) -> list[int]:
    found: list[int] = []
    at = text.find(needle)
    while at != -1:
        found.append(at)
        at = text.find(needle, at + 1)
    return found
