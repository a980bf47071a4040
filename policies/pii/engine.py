"""The presidio `AnalyzerEngine`, built offline and restricted to what a policy asks for.

Offline: presidio's default engine loads `en_core_web_lg` and downloads it if missing; we
hand it a blank English pipeline written to a temporary directory this process owns (and
removes once loaded), or a spaCy model the user installed, checked to be installed first
because presidio would otherwise try `spacy.cli.download`. The e-mail recognizer's
`tldextract` reads its bundled public-suffix snapshot and is given no URLs.

Restricted: the registry holds only the recognizers the requested entities need (ours for
the pattern entities, presidio's for the rest), which is most of the speed.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngine, NlpEngineProvider
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from policies.pii.phone import PhoneScanner
from policies.pii.recognizers import (
    CardScanner,
    DenyListScanner,
    EmailScanner,
    IbanScanner,
    IpScanner,
    RegexScanner,
    SsnScanner,
)
from policies.pii.scan import ScanRecognizer

# Entities with a recognizer of ours (`recognizers.py`, `phone.py`).
OWN_RECOGNIZERS: Mapping[str, Callable[[], ScanRecognizer]] = {
    "CREDIT_CARD": CardScanner,
    "PHONE_NUMBER": PhoneScanner,
    "IBAN_CODE": IbanScanner,
    "US_SSN": SsnScanner,
    "IP_ADDRESS": IpScanner,
    "EMAIL_ADDRESS": EmailScanner,
}
# Entities only a trained NER model finds: unavailable on the blank pipeline.
NER_ENTITIES = frozenset(SpacyRecognizer.ENTITIES)


class PiiEngineError(ValueError):
    """The PII configuration names something this process cannot provide."""


@dataclass(frozen=True, slots=True)
class PiiEngine:
    analyzer: AnalyzerEngine
    # Ours and the policy's custom ones, called directly by the detector (no tokenizing).
    scanners: tuple[ScanRecognizer, ...]
    # Requested entities served by presidio's own recognizers through `analyzer`.
    delegated: frozenset[str]
    # Requested entities nothing here can find (NER ones without a model, unknown names):
    # reported so a config check can warn, never silently dropped.
    unsupported: frozenset[str]


def blank_nlp_engine() -> NlpEngine:
    """A spaCy engine on a blank English pipeline: tokenizer only, nothing to download."""
    with tempfile.TemporaryDirectory(prefix="switchyard-spacy-blank-") as directory:
        spacy.blank("en").to_disk(directory)
        # `load` reads the whole pipeline into memory, so the directory can go at once.
        return _nlp_engine(directory)


def model_nlp_engine(model: str) -> NlpEngine:
    """A spaCy engine on an installed model (a package name or a directory)."""
    if not (spacy.util.is_package(model) or Path(model).is_dir()):
        raise PiiEngineError(
            f"pii.spacy_model: {model!r} is not an installed spaCy package or a model "
            "directory (models are never downloaded; install one, or leave it unset)"
        )
    return _nlp_engine(model)


def _nlp_engine(model: str) -> NlpEngine:
    config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    # `create_engine` loads it.
    return NlpEngineProvider(nlp_configuration=config).create_engine()


def build_engine(
    entities: Iterable[str],
    *,
    custom: Sequence[tuple[str, str]] = (),
    deny_lists: Mapping[str, Sequence[str]] | None = None,
    nlp_engine: NlpEngine | None = None,
    ner: bool = False,
) -> PiiEngine:
    """The engine for one policy's `entities`, `custom` (name, regex) pairs and deny-lists
    (name -> values). `ner` says whether `nlp_engine` holds a trained model (from
    `model_nlp_engine`); without one the NER entities are unsupported. Pass one
    `nlp_engine` to several builds to load the pipeline once per process."""
    nlp = nlp_engine or blank_nlp_engine()
    requested = dict.fromkeys(entities)
    scanners: list[ScanRecognizer] = [
        OWN_RECOGNIZERS[e]() for e in requested if e in OWN_RECOGNIZERS
    ]
    scanners += [_custom(name, regex) for name, regex in custom]
    scanners += [DenyListScanner(name, values) for name, values in (deny_lists or {}).items()]
    rest = [e for e in requested if e not in OWN_RECOGNIZERS]
    presidio = _presidio_recognizers(rest, nlp, ner)
    served = {e for r in presidio for e in r.supported_entities} & set(rest)
    registry = RecognizerRegistry(recognizers=[*scanners, *presidio], supported_languages=["en"])
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
    return PiiEngine(
        analyzer=analyzer,
        scanners=tuple(scanners),
        delegated=frozenset(served),
        unsupported=frozenset(rest) - served,
    )


def _custom(name: str, regex: str) -> RegexScanner:
    try:
        return RegexScanner(name, regex)
    except re.error as exc:
        raise PiiEngineError(f"pii.custom {name}: invalid regex {regex!r}: {exc}") from exc


def _presidio_recognizers(
    entities: Sequence[str], nlp: NlpEngine, ner: bool
) -> list[EntityRecognizer]:
    if not entities:
        return []
    wanted = set(entities) if ner else set(entities) - NER_ENTITIES
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    chosen = [r for r in registry.recognizers if wanted & set(r.supported_entities)]
    if not ner:
        chosen = [r for r in chosen if not isinstance(r, SpacyRecognizer)]
    return chosen
