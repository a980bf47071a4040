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

Cost: without `hold`s, a scan reads at most about `3 * max_span` plus one chunk (the left
context, a held tail, a held finding) whatever the length of the answer; no scan runs while
fewer than `step` characters could be released, which batches detector work on streams of
one-token chunks at the price of releasing text in pieces of at least `step` characters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from policies.findings import Finding, SpanDetector, resolve_overlaps


@dataclass(frozen=True, slots=True)
class _Reader:
    """One detector as the hold-back reads it."""

    detector: SpanDetector
    hold: Callable[[str], int]
    rewrite: bool


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
            _Reader(d, _hold_rule(d), rewrite)
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
            (rewrite if reader.rewrite else report).extend(reader.detector.find(text))
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
            for f in reader.detector.find(left + pending):
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

    def push(self, text: str) -> Release:
        self._pending += text
        return self._take(final=False)

    def flush(self) -> Release:
        """Everything held (the choice ended: nothing more can complete a span)."""
        return self._take(final=True)

    def _take(self, final: bool) -> Release:
        out = self._scanner.release(self._released, self._pending, final)
        if out.text:
            keep = self._scanner.context
            self._released = (self._released + out.text)[-keep:] if keep else ""
            self._pending = self._pending[len(out.text) :]
        return out


def _hold_rule(detector: SpanDetector) -> Callable[[str], int]:
    rule = getattr(detector, "hold", None)
    if callable(rule):
        return rule  # type: ignore[no-any-return]
    span = detector.max_span
    return lambda _window: span


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
