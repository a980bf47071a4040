"""Security events: one JSON line per verdict that did something (block, redact, mask,
pseudonymise, flag, strip, error), with who, where and what kinds were found, never the
matched text; and the metrics of every stage run (verdicts, latency)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

import msgspec

from gateway.context import RequestContext

_encoder = msgspec.json.Encoder()


class LineWriter(Protocol):
    def write(self, line: bytes) -> None: ...


class StageMetrics(Protocol):
    def policy_verdict(self, stage: str, verdict: str, seconds: float) -> None: ...


class AuditLog:
    def __init__(self, writer: LineWriter | None, metrics: StageMetrics | None = None) -> None:
        self._writer = writer
        self._metrics = metrics

    def ran(self, stage: str, verdict: str, seconds: float) -> None:
        """Every stage run, acted or not: for the verdict counter and latency histogram."""
        if self._metrics is not None:
            self._metrics.policy_verdict(stage, verdict, seconds)

    def event(
        self,
        ctx: RequestContext,
        stage: str,
        action: str,
        *,
        entities: Mapping[str, int] | None = None,
        score: float | None = None,
        detail: str | None = None,
    ) -> None:
        if self._writer is None:
            return
        line: dict[str, object] = {
            "ts": round(time.time(), 3),
            "event": "security",
            "request_id": ctx.request_id,
            "key": ctx.principal,
            "tenant": ctx.tenant,
            "route": ctx.route_id or None,
            "stage": stage,
            "action": action,
        }
        if entities:
            line["entities"] = dict(entities)
        if score is not None:
            line["score"] = round(score, 3)
        if detail is not None:
            line["detail"] = detail
        self._writer.write(_encoder.encode(line) + b"\n")
