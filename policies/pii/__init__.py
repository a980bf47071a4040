"""PII detection on presidio-analyzer, offline: our pattern recognizers with checksum and
context validation for the common entities, the policy's regexes and deny-lists, presidio's
own recognizers (NER with an installed spaCy model) for the rest."""

from policies.pii.detector import DEFAULT_THRESHOLD, MAX_SPAN, PiiDetector
from policies.pii.engine import (
    NER_ENTITIES,
    OWN_RECOGNIZERS,
    PiiEngine,
    PiiEngineError,
    blank_nlp_engine,
    build_engine,
    model_nlp_engine,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_SPAN",
    "NER_ENTITIES",
    "OWN_RECOGNIZERS",
    "PiiDetector",
    "PiiEngine",
    "PiiEngineError",
    "blank_nlp_engine",
    "build_engine",
    "model_nlp_engine",
]
