"""Spans (PII, secrets, data-carrying links) rewritten in model output: in a JSON reply's
texts, and in a stream's content deltas through a bounded hold-back.

Streams, per choice: content deltas are appended to the choice's pending text and only a
prefix is released, redacted. The release rule keeps the output equal to redacting the
whole text at once, given that detectors are local (whether a span matches depends on the
text within `max_span` characters of it):
- the last `hold` characters stay pending (a match still growing may end there); `hold` is
  a detector's own `hold(pending)` when it has one (what may still grow into a match), else
  its `max_span`;
- a span that reaches into the held tail is held whole (a placeholder is never split);
- the released raw text's last `max_span` characters are kept as left context for the next
  scan, and spans that start inside that context were decided already and are skipped.
A chunk with the choice's `finish_reason`, and the end of the stream, flush the rest. Chunks
without content (role, tool calls, finish_reason, usage) pass through in order, after the
text released before them. Without a finding the released text is the text itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from gateway.context import RequestContext
from gateway.protocol.payload import Chunk, Reply
from gateway.protocol.raw import raw
from policies.audit import AuditLog
from policies.base import AnyRequest, StreamOutcome
from policies.findings import Finding, SpanDetector, placeholder, replace, resolve_overlaps


class Writer(Protocol):
    def __call__(self, finding: Finding, value: str, /) -> str: ...


def _placeholder(finding: Finding, _value: str) -> str:
    return placeholder(finding.entity)


class OutputRedactionStage:
    def __init__(
        self,
        detectors: Sequence[SpanDetector],
        *,
        audit: AuditLog,
        flag_only: Sequence[SpanDetector] = (),
        write: Writer = _placeholder,
    ) -> None:
        self._detectors = tuple(detectors)
        self._flag_only = tuple(flag_only)
        self._audit = audit
        self._write = write
        every = (*self._detectors, *self._flag_only)
        self.name = "+".join(d.name for d in every) + "_output"
        self._stage = every[0].name if every else "output"
        self._context = max((d.max_span for d in every), default=0)

    def open(self, request: AnyRequest, ctx: RequestContext) -> _RedactionFilter | None:
        if not self._detectors and not self._flag_only:
            return None
        return _RedactionFilter(self, ctx)

    def scan(self, text: str) -> tuple[list[Finding], list[Finding]]:
        """The spans to rewrite, and those only to report."""
        rewrite = resolve_overlaps([f for d in self._detectors for f in d.find(text)])
        report = [f for d in self._flag_only for f in d.find(text)]
        return rewrite, report

    def hold(self, pending: str) -> int:
        held = 0
        for detector in (*self._detectors, *self._flag_only):
            rule = getattr(detector, "hold", None)
            held = max(held, rule(pending) if rule is not None else detector.max_span)
        return held

    @property
    def context(self) -> int:
        return self._context

    def rewrite(self, text: str, findings: Sequence[Finding]) -> str:
        return replace(text, findings, self._write) if findings else text

    def report(self, ctx: RequestContext, found: Counter[str], flagged: Counter[str]) -> None:
        if found:
            self._audit.event(ctx, self._stage, "redact", entities=found)
        if flagged:
            self._audit.event(ctx, self._stage, "flag", entities=flagged)
            ctx.flag(self._stage)  # in a JSON reply's headers; a stream's went out already


class _Pending:
    __slots__ = ("context", "text")

    def __init__(self) -> None:
        self.text = ""
        # The end of the raw text already released, for the next scan's left context.
        self.context = ""


class _RedactionFilter:
    __slots__ = ("_ctx", "_flagged", "_found", "_kind", "_pending", "_stage")

    def __init__(self, stage: OutputRedactionStage, ctx: RequestContext) -> None:
        self._stage = stage
        self._ctx = ctx
        self._pending: dict[int, _Pending] = {}
        self._found: Counter[str] = Counter()
        self._flagged: Counter[str] = Counter()
        self._kind = "chat"

    async def reply(self, reply: Reply) -> Reply:
        for choice, text in reply.texts():
            rewrite, report = self._stage.scan(text)
            self._count(rewrite, report, 0)
            if rewrite:
                reply.set_text(choice, self._stage.rewrite(text, rewrite))
        self._stage.report(self._ctx, self._found, self._flagged)
        return reply

    async def chunk(self, chunk: Chunk) -> Sequence[Chunk]:
        self._kind = chunk.kind
        if not chunk.has_choices:
            return (chunk,)
        changed = False
        for choice in chunk.choices():
            index = choice.get("index", 0)
            index = index if isinstance(index, int) else 0
            text = _delta_text(choice, chunk.kind)
            pending = self._pending.get(index)
            if text is None and pending is None:
                continue
            if pending is None:
                pending = self._pending[index] = _Pending()
            pending.text += text or ""
            final = choice.get("finish_reason") is not None
            released = self._release(pending, final)
            if final:
                del self._pending[index]
            if released != text:
                _set_delta_text(choice, chunk.kind, released)
                changed = True
        if changed:
            chunk.changed()
        return (chunk,)

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]:
        out: list[Chunk] = []
        if outcome is StreamOutcome.COMPLETED:
            for index, pending in sorted(self._pending.items()):
                text = self._release(pending, final=True)
                if text:
                    out.append(_text_chunk(self._kind, index, text))
        self._pending.clear()
        if outcome is not StreamOutcome.CANCELLED:
            self._stage.report(self._ctx, self._found, self._flagged)
        return out

    def _release(self, pending: _Pending, final: bool) -> str:
        stage = self._stage
        text = pending.text
        if not text:
            return ""
        offset = len(pending.context)
        window = pending.context + text
        rewrite, report = stage.scan(window)
        rewrite = [f for f in rewrite if f.start >= offset]
        report = [f for f in report if f.start >= offset]
        if final:
            cut = len(text)
        else:
            cut = max(0, len(text) - stage.hold(window))
            for finding in rewrite:
                if finding.end > offset + cut:
                    cut = min(cut, finding.start - offset)
        keep = [f for f in rewrite if f.end <= offset + cut]
        self._count(keep, [f for f in report if f.end <= offset + cut], 0)
        out = (
            stage.rewrite(window[: offset + cut], keep)[len(pending.context) :]
            if keep
            else text[:cut]
        )
        released_raw = window[: offset + cut]
        pending.context = released_raw[-stage.context :] if stage.context else ""
        pending.text = text[cut:]
        return out

    def _count(self, rewrite: Sequence[Finding], report: Sequence[Finding], _index: int) -> None:
        self._found.update(f.entity for f in rewrite)
        self._flagged.update(f.entity for f in report)


def _delta_text(choice: dict[str, Any], kind: str) -> str | None:
    if kind == "text":
        text = choice.get("text")
    else:
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
    return text if isinstance(text, str) else None


def _set_delta_text(choice: dict[str, Any], kind: str, text: str) -> None:
    if kind == "text":
        choice["text"] = text
        return
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        delta = choice["delta"] = {}
    delta["content"] = text


def _text_chunk(kind: str, index: int, text: str) -> Chunk:
    if kind == "text":
        choice: dict[str, Any] = {"index": index, "text": text, "finish_reason": None}
        return Chunk({"object": raw("text_completion"), "choices": raw([choice])}, "text")
    choice = {"index": index, "delta": {"content": text}, "finish_reason": None}
    return Chunk({"object": raw("chat.completion.chunk"), "choices": raw([choice])}, "chat")
