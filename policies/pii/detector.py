"""`PiiDetector`: the PII stage's `SpanDetector`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from presidio_analyzer.nlp_engine import NlpEngine

from policies.findings import Finding, resolve_overlaps
from policies.pii.context import AFTER, BEFORE
from policies.pii.engine import PiiEngine, build_engine

# The longest span a built-in recognizer reports (an e-mail address: 48 + 1 + 63) plus the
# context window around one is below this. A custom regex is the policy's to bound.
MAX_SPAN = 128
assert max(48 + 1 + 63, 40 + BEFORE + AFTER) <= MAX_SPAN

DEFAULT_THRESHOLD = 0.5


class PiiDetector:
    """Personal data in a text. Synchronous and CPU-bound: the caller runs `find` in a
    worker thread. The pattern entities are scanned directly by our recognizers (a regex,
    a checksum, a context window: no tokenizing); entities only presidio's recognizers
    serve (NER with an installed model, presidio's other patterns) go through its
    `AnalyzerEngine`, which tokenizes."""

    name = "pii"
    max_span = MAX_SPAN

    def __init__(
        self,
        entities: Iterable[str],
        *,
        custom: Sequence[tuple[str, str]] = (),
        deny_lists: Mapping[str, Sequence[str]] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        nlp_engine: NlpEngine | None = None,
        ner: bool = False,
        engine: PiiEngine | None = None,
    ) -> None:
        self._engine = engine or build_engine(
            entities, custom=custom, deny_lists=deny_lists, nlp_engine=nlp_engine, ner=ner
        )
        self._threshold = threshold
        self._delegated = sorted(self._engine.delegated)

    @property
    def engine(self) -> PiiEngine:
        return self._engine

    @property
    def unsupported(self) -> frozenset[str]:
        """Requested entities nothing can find here (NER without a spaCy model, unknown
        names): a config check warns about these."""
        return self._engine.unsupported

    def find(self, text: str) -> list[Finding]:
        findings = [
            Finding(start, end, scanner.entity, score)
            for scanner in self._engine.scanners
            for start, end, score in scanner.scan(text, self._threshold)
        ]
        if self._delegated:
            results = self._engine.analyzer.analyze(
                text, language="en", entities=self._delegated, score_threshold=self._threshold
            )
            findings += [Finding(r.start, r.end, r.entity_type, r.score) for r in results]
        return resolve_overlaps(findings)
