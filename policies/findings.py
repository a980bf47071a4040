"""What content detectors report, and the one way their findings are written out.

A span detector (PII, secrets) finds spans in a text; the request stages redact, mask,
pseudonymise or refuse on them, the response stages redact them in JSON replies and in
streams. Detectors are synchronous and CPU-bound (the stages decide where they run), and
local: whether a span matches depends on the text within `max_span` characters of it, which
is what lets a stream be scanned through a bounded hold-back and give the same result as the
whole text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Finding:
    start: int
    end: int
    # The entity type, upper snake case: EMAIL_ADDRESS, CREDIT_CARD, AWS_ACCESS_KEY_ID, ...
    entity: str
    score: float = 1.0


class SpanDetector(Protocol):
    # The stage it serves, as named in the policy file and in `x-gateway-flagged`.
    name: str
    # The longest span it can report plus the context it reads around one: a stream holds
    # back at most this many characters.
    max_span: int

    def find(self, text: str) -> list[Finding]: ...


def resolve_overlaps(findings: Sequence[Finding]) -> list[Finding]:
    """Non-overlapping findings in text order: of overlapping ones the longest wins (then
    the higher score, then the earlier start), so `sk-...` inside a connection string is
    one redaction, not two interleaved ones."""
    ranked = sorted(findings, key=lambda f: (-(f.end - f.start), -f.score, f.start))
    kept: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def placeholder(entity: str) -> str:
    return f"<{entity}>"


def redact(text: str, findings: Sequence[Finding]) -> str:
    """Each finding replaced by its `<ENTITY>` placeholder."""
    return replace(text, findings, lambda f, _value: placeholder(f.entity))


def mask(text: str, findings: Sequence[Finding], keep: int = 4) -> str:
    """Each finding's characters replaced by `*`, but for its last `keep` (card-style)."""

    def masked(_finding: Finding, value: str) -> str:
        shown = value[-keep:] if len(value) > 2 * keep else ""
        return "*" * (len(value) - len(shown)) + shown

    return replace(text, findings, masked)


def replace(text: str, findings: Sequence[Finding], write: _Writer) -> str:
    parts: list[str] = []
    at = 0
    for finding in resolve_overlaps(findings):
        parts.append(text[at : finding.start])
        parts.append(write(finding, text[finding.start : finding.end]))
        at = finding.end
    parts.append(text[at:])
    return "".join(parts)


class _Writer(Protocol):
    def __call__(self, finding: Finding, value: str, /) -> str: ...
