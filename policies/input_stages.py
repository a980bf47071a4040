"""The request stages of a content policy set: prompt injection over the untrusted
channels, and span detectors (PII, secrets) over every text that would reach the model.

Each returns a verdict, never acts: `Deny` (a 400 whose message never repeats the matched
text), `Transform` (the request with the spans redacted, masked or pseudonymised) or
`Allow` (after a `flag`, the stage is named in `x-gateway-flagged`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection
from typing import Literal, Protocol

from gateway.context import RequestContext
from gateway.errors import InvalidRequestError
from policies.audit import AuditLog
from policies.base import Allow, Deny, StageRequest, Transform, Verdict
from policies.detector_runner import DetectorFailed, DetectorRunner
from policies.findings import Finding, SpanDetector, mask, redact, resolve_overlaps
from policies.message_text import Segment, rewrite, segments, user_turns
from policies.pseudonyms import Pseudonyms


class InjectionScore(Protocol):
    score: float
    signals: tuple[str, ...]


class InjectionScorer(Protocol):
    def score(self, text: str, channel: str) -> InjectionScore: ...

    def score_turns(self, turns: list[str]) -> InjectionScore: ...


_CODES = {"pii": "pii_detected", "secrets": "secret_detected"}
_WHAT = {"pii": "personal data", "secrets": "a credential (API key, token, password)"}


class InjectionStage:
    name = "injection"

    def __init__(
        self,
        scorer: InjectionScorer,
        *,
        action: Literal["block", "flag"],
        threshold: float,
        channels: Collection[str],
        runner: DetectorRunner,
        audit: AuditLog,
    ) -> None:
        self._scorer = scorer
        self._action = action
        self._threshold = threshold
        self._channels = frozenset(channels)
        self._runner = runner
        self._audit = audit
        self._error = InvalidRequestError(
            "The request was refused by the gateway's content policy: it looks like a "
            "prompt injection.",
            code="prompt_injection_detected",
        )

    async def check(self, request: StageRequest, ctx: RequestContext) -> Verdict:
        started = time.perf_counter()
        texts = [s for s in segments(request) if s.channel in self._channels]
        size = sum(len(s.text) for s in texts)
        try:
            best = await self._runner.run(self.name, lambda: self._worst(request, texts), ctx, size)
        except DetectorFailed:
            self._audit.ran(self.name, "error", time.perf_counter() - started)
            return Allow()
        verdict: Verdict = Allow()
        outcome = "allow"
        if best is not None and best.score >= self._threshold:
            outcome = self._action
            self._audit.event(
                ctx, self.name, self._action, score=best.score, detail=",".join(best.signals)
            )
            if self._action == "block":
                verdict = Deny(self._error)
            else:
                ctx.flag(self.name)
        self._audit.ran(self.name, outcome, time.perf_counter() - started)
        return verdict

    def _worst(self, request: StageRequest, texts: list[Segment]) -> InjectionScore | None:
        best: InjectionScore | None = None
        for segment in texts:
            result = self._scorer.score(segment.text, segment.channel)
            if best is None or result.score > best.score:
                best = result
        if "user" in self._channels:
            turns = user_turns(request)
            if len(turns) > 1:  # a payload split over several turns
                joined = self._scorer.score_turns(turns)
                if best is None or joined.score > best.score:
                    best = joined
        return best


SpanAction = Literal["block", "redact", "mask", "pseudonymize", "flag"]


class SpanStage:
    """PII or secrets in what the model would receive."""

    def __init__(
        self,
        detector: SpanDetector,
        action: SpanAction,
        *,
        runner: DetectorRunner,
        audit: AuditLog,
        offload: bool = False,
    ) -> None:
        self.name = detector.name
        self._detector = detector
        self._action = action
        self._runner = runner
        self._audit = audit
        self._offload = offload
        self._error = InvalidRequestError(
            f"The request was refused by the gateway's content policy: it contains "
            f"{_WHAT.get(self.name, self.name)}.",
            code=_CODES.get(self.name, f"{self.name}_detected"),
        )

    async def check(self, request: StageRequest, ctx: RequestContext) -> Verdict:
        started = time.perf_counter()
        size = sum(len(s.text) for s in segments(request))
        found: Counter[str] = Counter()
        try:
            changed = await self._runner.run(
                self.name, lambda: self._scan(request, ctx, found), ctx, size, self._offload
            )
        except DetectorFailed:
            self._audit.ran(self.name, "error", time.perf_counter() - started)
            return Allow()
        verdict: Verdict = Allow()
        outcome = "allow"
        if found:
            outcome = self._action
            self._audit.event(ctx, self.name, self._action, entities=found)
            if self._action == "block":
                verdict = Deny(self._error)
            elif self._action == "flag":
                ctx.flag(self.name)
            elif changed is not None:
                verdict = Transform(changed, f"{self.name} {self._action}")
        self._audit.ran(self.name, outcome, time.perf_counter() - started)
        return verdict

    def _scan(
        self, request: StageRequest, ctx: RequestContext, found: Counter[str]
    ) -> StageRequest | None:
        """Count what is found; for the rewriting actions, the rewritten request."""
        if self._action in ("block", "flag"):
            for segment in segments(request):
                found.update(f.entity for f in self._find(segment.text))
            return None
        pseudonyms: Pseudonyms | None = None
        if self._action == "pseudonymize":
            pseudonyms = ctx.pseudonyms if isinstance(ctx.pseudonyms, Pseudonyms) else None
            if pseudonyms is None:
                pseudonyms = Pseudonyms()

        def change(text: str) -> str:
            findings = self._find(text)
            if not findings:
                return text
            found.update(f.entity for f in findings)
            if pseudonyms is not None:
                return pseudonyms.pseudonymise(text, findings)
            return mask(text, findings) if self._action == "mask" else redact(text, findings)

        changed = rewrite(request, change)
        if pseudonyms is not None and len(pseudonyms):
            ctx.pseudonyms = pseudonyms  # the answer's placeholders are restored from it
        return changed

    def _find(self, text: str) -> list[Finding]:
        return resolve_overlaps(self._detector.find(text)) if text else []
