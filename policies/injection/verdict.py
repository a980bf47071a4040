"""What an injection scorer returns, and the interface a model-based one would implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InjectionVerdict:
    score: float  # 0..1; the policy file's `threshold` (0.5 by default) blocks at or above it
    signals: tuple[str, ...]  # names of what fired, for the audit log; never the text


class InjectionClassifier(Protocol):
    """A scorer behind the same seam as the lexical detector: a fine-tuned classifier can
    be passed to `InjectionDetector(classifier=...)` and is consulted as a second opinion.
    It must run offline and be safe to call from a worker thread."""

    def score(self, text: str, channel: str) -> InjectionVerdict: ...
