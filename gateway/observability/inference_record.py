"""One inference-log line: what the request path hands over (`PendingRecord`: references
only, nothing encoded, assembled or scanned on the event loop) and how the writer thread
turns it into a redacted JSON line (`encode_record`).

A stream's answer is put together by the response cache's `StreamAssembler` (one assembler
in the codebase), from the chunks as the client got them. Redaction is the content
policies' own detectors (`policies.secrets`, `policies.pii`) over every string of the
request, the answer and the tool calls; ids, names and numbers around them are the
gateway's own and are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from gateway.cache.entry import StreamAssembler
from gateway.context import ToolTrace
from gateway.protocol.common import Usage
from gateway.protocol.payload import Chunk, Kind, Reply
from gateway.protocol.raw import raw
from gateway.settings.content_policies import DEFAULT_PII_ENTITIES
from policies.findings import SpanDetector, redact, resolve_overlaps

Redact = Callable[[str], str]
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """A finished request as the writer receives it. `reply` / `chunks` are the objects the
    client's answer was encoded from; nothing changes them once the answer has ended."""

    at: float  # time.time() when the answer ended
    request_id: str
    endpoint: str
    key_id: str | None
    tenant: str | None
    model: str
    route: str
    backend: str | None
    upstream_model: str | None
    cache: str | None
    request: msgspec.Struct
    kind: Kind
    outcome: str  # completed | failed | cancelled (streams)
    latency_seconds: float
    first_token_seconds: float | None
    usage: Usage | None
    reply: Reply | None = None
    chunks: Sequence[Chunk] = ()
    tools: Sequence[ToolTrace] = ()


class Target(msgspec.Struct):
    backend: str | None
    model: str | None


class Response(msgspec.Struct):
    # In the JSON reply's form (`message` / `text`, `finish_reason`), streams assembled.
    choices: list[Any]
    usage: Any


class ToolCall(msgspec.Struct):
    name: str
    arguments: str
    outcome: str
    duration_ms: float
    result: str | None
    error: str | None
    truncated: bool


class InferenceRecord(msgspec.Struct):
    request_id: str
    timestamp: str
    endpoint: str
    key_id: str | None
    tenant: str | None
    model: str
    route: str
    target: Target
    cache: str | None
    outcome: str
    latency_ms: float
    first_token_ms: float | None
    request: Any
    response: Response
    tool_calls: list[ToolCall]


class TextRedactor:
    """Each span the detectors find becomes its `<ENTITY>` placeholder. Synchronous and
    CPU-bound (presidio's recognizers): the writer thread calls it, never the event loop."""

    def __init__(self, detectors: Sequence[SpanDetector]) -> None:
        self._detectors = tuple(detectors)

    def __call__(self, text: str) -> str:
        findings = [f for d in self._detectors for f in d.find(text)]
        return redact(text, resolve_overlaps(findings)) if findings else text


def build_redactor(kinds: Sequence[str]) -> TextRedactor | None:
    """The redactor for `inference_log.redact` (None: nothing to redact)."""
    detectors: list[SpanDetector] = []
    if "secrets" in kinds:
        from policies.secrets.detector import SecretDetector

        detectors.append(SecretDetector())
    if "pii" in kinds:
        # Imported here: a gateway logging without PII redaction never loads presidio.
        from policies.pii.detector import PiiDetector

        detectors.append(PiiDetector(DEFAULT_PII_ENTITIES))
    return TextRedactor(detectors) if detectors else None


def encode_record(pending: PendingRecord, redactor: Redact | None, max_result: int) -> bytes:
    """The record as one JSON line (with its newline)."""
    scrub: Callable[[Any], Any] = _identity if redactor is None else _walker(redactor)
    record = InferenceRecord(
        request_id=pending.request_id,
        timestamp=_timestamp(pending.at),
        endpoint=pending.endpoint,
        key_id=pending.key_id,
        tenant=pending.tenant,
        model=pending.model,
        route=pending.route,
        target=Target(pending.backend, pending.upstream_model),
        cache=pending.cache,
        outcome=pending.outcome,
        latency_ms=round(pending.latency_seconds * 1000, 3),
        first_token_ms=None
        if pending.first_token_seconds is None
        else round(pending.first_token_seconds * 1000, 3),
        request=scrub(msgspec.to_builtins(pending.request)),
        response=Response(
            choices=scrub(_choices(pending)),
            usage=None if pending.usage is None else msgspec.to_builtins(pending.usage),
        ),
        tool_calls=[_tool_call(t, scrub, max_result) for t in pending.tools],
    )
    return _encoder.encode(record) + b"\n"


def _choices(pending: PendingRecord) -> list[Any]:
    if pending.reply is not None:
        return pending.reply.choices()
    assembler = StreamAssembler(pending.kind)
    for chunk in pending.chunks:
        # `choices()`, not the raw field: a stage may have changed them after decoding.
        assembler.feed({"choices": raw(chunk.choices())})
    answer = assembler.answer(complete_only=False)
    return [] if answer is None else answer.choices


def _tool_call(trace: ToolTrace, scrub: Callable[[Any], Any], max_result: int) -> ToolCall:
    # Redacted before it is cut: a cut could leave half a key the detector no longer knows.
    content = scrub(trace.content)
    truncated = len(content) > max_result
    if truncated:
        content = content[:max_result]
    ok = trace.outcome == "ok"
    return ToolCall(
        name=trace.name,
        arguments=scrub(trace.arguments),
        outcome=trace.outcome,
        duration_ms=round(trace.seconds * 1000, 3),
        result=content if ok else None,
        error=None if ok else content,
        truncated=truncated,
    )


def _walker(redactor: Redact) -> Callable[[Any], Any]:
    def walk(value: Any) -> Any:
        # New containers: the reply's decoded choices are shared with the event loop.
        if isinstance(value, str):
            return redactor(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk


def _identity(value: Any) -> Any:
    return value


def _timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
