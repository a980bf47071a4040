"""Streamed text scanned for spans through a bounded hold-back, with the result the whole
text would give.

One `HeldSpans` per stream choice. Pushed text joins the pending text; a release scans each
detector's window (the last `max_span` characters already released, as left context, then
the pending text) and gives back a prefix of the pending text with the findings in it. The
release rule, per scan of pending text `p` (which starts where the released text ends):

1. `cut = len(p) - hold`, where `hold` is the most any detector holds: its own
   `hold(window)` when it has one, else its `max_span`;
2. findings starting before the window's pending part were decided by an earlier release
   and are ignored; so are findings starting at or after `cut` (they are scanned again);
3. while a finding of any detector crosses `cut`, `cut` moves back to that finding's start
   (a span is released whole or not at all, so a placeholder is never split);
4. `p[:cut]` is released with the findings inside it; at the end of the choice, `cut` is
   `len(p)`.

Why this equals whole-text scanning: `max_span` bounds a span plus the context its match
reads on either side (`findings.SpanDetector`). A finding that starts at or after the
released end has all its left context in the window (the window keeps `max_span` released
characters), and one that starts before `len(p) - max_span` ends, with its right context,
inside `p`. So every finding that starts before the first `cut` is one the whole text has,
and every finding of the whole text that starts there is seen: the window can only be wrong
about findings that start in the held tail, which step 2 ignores. A detector's own `hold`
makes the same promise for a shorter tail. By induction no finding of the whole text crosses
a released end, so overlaps resolve (`resolve_overlaps`) within one release exactly as in
the whole text. Findings only to report are counted in the release where they start and
never move `cut`.

Cost: a detector without its own `hold` reads its left context, the text up to `cut` and
`max_span` past it: about `3 * max_span` plus one chunk at most (a held finding included),
whatever the length of the answer and however long another detector holds. No scan runs
while fewer than `step` characters could be released, which batches detector work on
streams of one-token chunks at the price of releasing text in pieces of at least `step`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.errors import ServiceUnavailableError
from policies.findings import Finding, SpanDetector, resolve_overlaps

log = logging.getLogger("gateway.policies")


@dataclass(frozen=True, slots=True)
class _Reader:
    """One detector as the hold-back reads it."""

    detector: SpanDetector
    hold: Callable[[str], int]
    rewrite: bool
    # Without its own `hold`, a detector reads at most `max_span` past the cut: a shorter
    # window when another detector holds more.
    bounded: bool


@dataclass(frozen=True, slots=True)
class Release:
    """Released raw text, the findings to rewrite in it (offsets into `text`, resolved) and
    those only to report."""

    text: str
    rewrite: list[Finding]
    report: list[Finding]


class SpanScanner:
    """The detectors of one stage, built once and shared by every stream it serves."""

    __slots__ = ("_context", "_readers", "_step")

    def __init__(
        self,
        rewriting: Sequence[SpanDetector],
        reporting: Sequence[SpanDetector] = (),
        *,
        step: int = 1,
    ) -> None:
        self._readers = tuple(
            _reader(d, rewrite)
            for rewrite, group in ((True, rewriting), (False, reporting))
            for d in group
        )
        self._context = max((d.max_span for d in (*rewriting, *reporting)), default=0)
        self._step = max(1, step)

    def scan(self, text: str) -> tuple[list[Finding], list[Finding]]:
        """A whole text's findings: those to rewrite (resolved) and those to report."""
        rewrite: list[Finding] = []
        report: list[Finding] = []
        for reader in self._readers:
            (rewrite if reader.rewrite else report).extend(_find(reader.detector, text))
        return resolve_overlaps(rewrite), report

    def held(self) -> HeldSpans:
        return HeldSpans(self)

    def release(self, released: str, pending: str, final: bool) -> Release:
        """The prefix of `pending` that may go out now (the module docstring's rule);
        `released` ends with the raw text already let go."""
        if not pending:
            return Release("", [], [])
        cut = len(pending)
        if not final:
            cut -= max(r.hold(_left(released, r) + pending) for r in self._readers)
            if cut < self._step:
                return Release("", [], [])  # nothing could go out yet: no scan
        rewrite: list[Finding] = []
        report: list[Finding] = []
        for reader in self._readers:
            left = _left(released, reader)
            right = pending[: cut + reader.detector.max_span] if reader.bounded else pending
            for f in _find(reader.detector, left + right):
                start = f.start - len(left)
                if 0 <= start < cut:
                    moved = Finding(start, f.end - len(left), f.entity, f.score)
                    (rewrite if reader.rewrite else report).append(moved)
        cut = _uncrossed(cut, rewrite)
        return Release(
            pending[:cut],
            resolve_overlaps([f for f in rewrite if f.start < cut]),
            [f for f in report if f.start < cut],
        )

    @property
    def context(self) -> int:
        return self._context


class HeldSpans:
    """One stream choice's pending text and the released text kept as left context."""

    __slots__ = ("_pending", "_released", "_scanner")

    def __init__(self, scanner: SpanScanner) -> None:
        self._scanner = scanner
        self._pending = ""
        self._released = ""

    def push(self, text: str, *, final: bool = False) -> Release:
        """What may go out now; with `final` (the choice ended: nothing more can complete
        a span), everything held."""
        self._pending += text
        out = self._scanner.release(self._released, self._pending, final)
        if out.text:
            keep = self._scanner.context
            self._released = (self._released + out.text)[-keep:] if keep else ""
            self._pending = self._pending[len(out.text) :]
        return out


def _reader(detector: SpanDetector, rewrite: bool) -> _Reader:
    rule = getattr(detector, "hold", None)  # optional: not part of `SpanDetector`
    if callable(rule):
        return _Reader(detector, rule, rewrite, bounded=False)
    span = detector.max_span
    return _Reader(detector, lambda _window: span, rewrite, bounded=True)


def _left(released: str, reader: _Reader) -> str:
    span = reader.detector.max_span
    return released[-span:] if span > 0 else ""


def _uncrossed(cut: int, findings: Sequence[Finding]) -> int:
    """The largest cut at or before `cut` that no finding crosses."""
    while True:
        crossing = [f.start for f in findings if f.start < cut < f.end]
        if not crossing:
            return cut
        cut = min(crossing)


def _find(detector: SpanDetector, text: str) -> list[Finding]:
    """A detector's findings; one that fails stops the output (503 before the reply, an
    error event in a stream): output is never let through unchecked."""
    try:
        return detector.find(text)
    except Exception as exc:
        log.warning("output detector `%s` failed (%s)", detector.name, type(exc).__name__)
        raise ServiceUnavailableError(
            f"The `{detector.name}` output check is unavailable right now; retry shortly.",
            code="policy_unavailable",
        ) from None
