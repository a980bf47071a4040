"""`PiiDetector`: the PII stage's `SpanDetector`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from presidio_analyzer.nlp_engine import NlpEngine

from policies.findings import Finding, resolve_overlaps
from policies.pii.context import AFTER, BEFORE
from policies.pii.engine import PiiEngine, build_engine, model_nlp_engine

# The longest span a built-in recognizer reports plus the context window it reads is below
# this: an e-mail address (48 + 1 + 63, no context words), an international phone number
# with an extension (~64, plus the window). A custom regex is the policy's to bound.
MAX_SPAN = 128
assert max(48 + 1 + 63, 64 + BEFORE + AFTER) <= MAX_SPAN

DEFAULT_THRESHOLD = 0.5


class PiiDetector:
    """Personal data in a text. Synchronous and CPU-bound: the caller runs `find` in a
    worker thread. The pattern entities are scanned directly by our recognizers (a regex,
    a checksum, a context window: no tokenizing); entities only presidio's recognizers
    serve (NER with an installed model, presidio's other patterns) go through its
    `AnalyzerEngine`, which tokenizes. `max_span` bounds the pattern entities; a NER
    model reads the whole text, so its spans are not local in that sense."""

    name = "pii"
    max_span = MAX_SPAN

    def __init__(
        self,
        entities: Iterable[str],
        *,
        custom: Sequence[tuple[str, str]] = (),
        deny_lists: Mapping[str, Sequence[str]] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        spacy_model: str | None = None,
        nlp_engine: NlpEngine | None = None,
        engine: PiiEngine | None = None,
    ) -> None:
        """`spacy_model`: an installed spaCy package or model directory for the NER
        entities (PERSON, LOCATION, ...); without one they are `unsupported`. `nlp_engine`:
        a blank pipeline to share between detectors (`blank_nlp_engine()`)."""
        if engine is None:
            ner = spacy_model is not None
            if spacy_model is not None:
                nlp_engine = model_nlp_engine(spacy_model)
            engine = build_engine(
                entities, custom=custom, deny_lists=deny_lists, nlp_engine=nlp_engine, ner=ner
            )
        self._engine = engine
        self._threshold = threshold
        self._delegated = sorted(self._engine.delegated)

    @property
    def engine(self) -> PiiEngine:
        return self._engine

    @property
    def delegates(self) -> bool:
        """Whether some entities go through presidio's analyzer (tokenizing, NER): then a
        scan is worth a thread even on a small text; our own scanners are not."""
        return bool(self._delegated)

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
