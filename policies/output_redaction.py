"""Spans (PII, secrets, data-carrying links) rewritten in model output: in a JSON reply's
texts, and in a stream's content deltas through a bounded hold-back.

A JSON reply's choices (`message.content`, or a completion's `text`) are scanned whole. A
stream keeps one hold-back per choice (`span_holdback.HeldSpans`, whose docstring gives the
release rule and why the streamed output equals the whole text's): a content delta goes
out carrying the text released so far, so the time to a first token grows by the hold-back
only. A chunk without text to release and nothing else (no role, finish, tool call, usage)
is dropped rather than sent empty. The flushed text of a finishing choice goes out in its
own chunk just before the one carrying `finish_reason` (clients often stop reading a choice
at its finish); the end of the stream flushes choices that never finished. Chunks without
content (role, tool calls, finish_reason, usage) pass through in order.

Left alone: tool-call arguments (`ToolArgumentsStage` checks them; rewriting a streamed
JSON fragment could break it) and `refusal` texts. `logprobs` are dropped from content
deltas while a stream is redacted, and from a JSON choice that had a span rewritten: they
spell out the raw tokens, the very values the redaction removes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from gateway.context import RequestContext
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.payload import Chunk, Reply
from gateway.protocol.raw import raw
from policies.audit import AuditLog
from policies.base import AnyRequest, StreamOutcome
from policies.findings import Finding, SpanDetector, placeholder, replace
from policies.span_holdback import HeldSpans, Release, SpanScanner

# What a dropped chunk's choice may hold: its text was held and it carries nothing else.
_BARE_CHOICE = frozenset({"index", "delta", "text", "finish_reason", "logprobs"})


class Writer(Protocol):
    def __call__(self, finding: Finding, value: str, /) -> str: ...


def _placeholder(finding: Finding, _value: str) -> str:
    return placeholder(finding.entity)


class OutputRedactionStage:
    """`detectors`' spans are rewritten by `write` (`<ENTITY>` placeholders by default);
    `flag_only`'s are only reported. Each finding's entity is counted into the audit log
    (never the value), once per request. `step`: the fewest characters a stream scan may
    release (see `span_holdback`); 1 releases text as soon as it is final."""

    def __init__(
        self,
        detectors: Sequence[SpanDetector],
        *,
        audit: AuditLog,
        flag_only: Sequence[SpanDetector] = (),
        write: Writer = _placeholder,
        step: int = 1,
    ) -> None:
        every = (*detectors, *flag_only)
        self._scanner = SpanScanner(detectors, flag_only, step=step)
        self._active = bool(every)
        self._audit = audit
        self._write = write
        self.name = "+".join(d.name for d in every) + "_output"
        self._stage = every[0].name if every else "output"

    def open(self, request: AnyRequest, ctx: RequestContext) -> _RedactionFilter | None:
        if not self._active or isinstance(request, EmbeddingRequest):
            return None
        return _RedactionFilter(self, ctx)

    @property
    def scanner(self) -> SpanScanner:
        return self._scanner

    def rewrite(self, text: str, findings: Sequence[Finding]) -> str:
        return replace(text, findings, self._write) if findings else text

    def report(self, ctx: RequestContext, found: Counter[str], flagged: Counter[str]) -> None:
        if found:
            self._audit.event(ctx, self._stage, "redact", entities=found)
        if flagged:
            self._audit.event(ctx, self._stage, "flag", entities=flagged)
            ctx.flag(self._stage)  # in a JSON reply's headers; a stream's went out already


class _RedactionFilter:
    __slots__ = ("_ctx", "_flagged", "_found", "_held", "_kind", "_stage", "_template")

    def __init__(self, stage: OutputRedactionStage, ctx: RequestContext) -> None:
        self._stage = stage
        self._ctx = ctx
        self._held: dict[int, HeldSpans] = {}
        self._found: Counter[str] = Counter()
        self._flagged: Counter[str] = Counter()
        self._kind = "chat"
        # The first chunk's top-level fields, for the chunks this filter adds.
        self._template: dict[str, msgspec.Raw] | None = None

    async def reply(self, reply: Reply) -> Reply:
        for choice, text in reply.texts():
            rewrite, report = self._stage.scanner.scan(text)
            self._count(rewrite, report)
            if rewrite:
                reply.set_text(choice, self._stage.rewrite(text, rewrite))
                if choice.get("logprobs") is not None:
                    choice["logprobs"] = None
        self._stage.report(self._ctx, self._found, self._flagged)
        return reply

    async def chunk(self, chunk: Chunk) -> Sequence[Chunk]:
        return self.chunk_inline(chunk)

    def chunk_inline(self, chunk: Chunk) -> Sequence[Chunk]:
        # Inline: a scan reads a bounded window (a thread hop would cost more than most).
        if self._template is None:
            self._kind = chunk.kind
            self._template = {k: v for k, v in chunk.fields.items() if k not in _NOT_COPIED}
        if not chunk.has_choices:
            return (chunk,)
        before: list[Chunk] = []
        changed = False
        bare = True
        for choice in chunk.choices():
            index = choice.get("index", 0)
            index = index if isinstance(index, int) else 0
            text = _delta_text(choice, chunk.kind)
            final = choice.get("finish_reason") is not None
            held = self._held.get(index)
            if text is None and held is None:
                bare = False
                continue
            if held is None:
                held = self._held[index] = self._stage.scanner.held()
            out = self._emit(held.push(text or "", final=final))
            if final:
                del self._held[index]
                if out:
                    before.append(self._text_chunk(index, out))
                out = ""
            if text is not None or out:
                _set_delta_text(choice, chunk.kind, out)
                if choice.get("logprobs") is not None:
                    choice["logprobs"] = None
                changed = True
            bare = bare and not out and not final and _is_bare(choice)
        if changed:
            chunk.changed()
        if bare and not _carries_usage(chunk):
            return before
        return (*before, chunk)

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]:
        out: list[Chunk] = []
        if outcome is StreamOutcome.COMPLETED:
            for index, held in sorted(self._held.items()):
                text = self._emit(held.push("", final=True))
                if text:
                    out.append(self._text_chunk(index, text))
        self._held.clear()
        if outcome is not StreamOutcome.CANCELLED:
            self._stage.report(self._ctx, self._found, self._flagged)
        return out

    def _emit(self, release: Release) -> str:
        self._count(release.rewrite, release.report)
        return self._stage.rewrite(release.text, release.rewrite)

    def _count(self, rewrite: Sequence[Finding], report: Sequence[Finding]) -> None:
        self._found.update(f.entity for f in rewrite)
        self._flagged.update(f.entity for f in report)

    def _text_chunk(self, index: int, text: str) -> Chunk:
        fields = dict(self._template or {})
        if self._kind == "text":
            choice: dict[str, Any] = {"index": index, "text": text, "finish_reason": None}
            fields.setdefault("object", raw("text_completion"))
            return Chunk({**fields, "choices": raw([choice])}, "text")
        choice = {"index": index, "delta": {"content": text}, "finish_reason": None}
        fields.setdefault("object", raw("chat.completion.chunk"))
        return Chunk({**fields, "choices": raw([choice])}, "chat")


_NOT_COPIED = frozenset({"choices", "usage"})


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
    if text or "role" in delta or "tool_calls" in delta:
        delta["content"] = text
    else:
        delta.pop("content", None)  # a finishing delta is `{}`, as upstreams send it


def _is_bare(choice: dict[str, Any]) -> bool:
    if not _BARE_CHOICE.issuperset(choice):
        return False
    delta = choice.get("delta")
    return delta is None or (isinstance(delta, dict) and set(delta) <= {"content"})


def _carries_usage(chunk: Chunk) -> bool:
    usage = chunk.fields.get("usage")
    return usage is not None and bytes(usage) != b"null"
