"""The recognizer shape every pattern entity here shares: a bounded regex finds candidates,
`judge` validates one and gives it a base score (None rejects it), context words in a
window around it adjust that. A presidio `LocalRecognizer`, so the same objects serve an
`AnalyzerEngine` and the detector's direct scan."""

from __future__ import annotations

import re
from collections.abc import Iterator

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies.pii.context import ContextWords


class ScanRecognizer(LocalRecognizer):
    def __init__(
        self, entity: str, pattern: re.Pattern[str], context: ContextWords | None = None
    ) -> None:
        self.entity = entity
        self.pattern = pattern
        self.context_words = context or ContextWords()
        # Context is ours (a character window, `context.py`), not presidio's lemma-based
        # enhancer: the blank pipeline has no lemmas, and a token window is not bounded in
        # characters.
        super().__init__(supported_entities=[entity], name=f"{entity}_scan", context=None)

    def load(self) -> None:
        """Nothing to load: the regex is compiled at construction."""

    def prefilter(self, text: str) -> bool:
        """A cheap test that the text may hold a match at all (a digit, an `@`)."""
        return True

    def judge(self, match: re.Match[str]) -> float | None:
        return 1.0

    def scan(self, text: str, min_score: float = 0.0) -> Iterator[tuple[int, int, float]]:
        """(start, end, score) of each candidate scoring at least `min_score` (and above
        zero); a subclass may skip work on candidates that cannot reach it."""
        if not self.prefilter(text):
            return
        found = Candidates(self.pattern, text)
        for match in found:
            base = self.judge(match)
            if base is None:
                continue
            start, end = match.span()
            score = self.context_words.adjust(base, text, start, end)
            if score >= min_score and score > 0:
                found.accept(match)
                yield start, end, score

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [
            RecognizerResult(self.entity, start, end, score)
            for start, end, score in self.scan(text)
        ]


class Candidates:
    """A pattern's matches in text order, as `finditer` gives them, except that after a
    match the caller did not `accept` the search resumes one character past its start,
    not past its end: a value that starts inside a rejected candidate is still tried, so
    whether a span is found depends on the text near it and not on where an earlier
    candidate happened to end (a window of the text finds what the whole text does)."""

    def __init__(self, pattern: re.Pattern[str], text: str) -> None:
        self._pattern = pattern
        self._text = text
        self._at = 0

    def __iter__(self) -> Iterator[re.Match[str]]:
        while (match := self._pattern.search(self._text, self._at)) is not None:
            self._at = match.start() + 1
            yield match

    def accept(self, match: re.Match[str]) -> None:
        self._at = max(self._at, match.end())


_DIGIT = re.compile(r"\d")


def has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None
