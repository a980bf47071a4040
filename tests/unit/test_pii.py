"""The PII detector: each entity's positives (the forms presidio misses included) and hard
negatives, custom regexes and deny-lists, the offline guarantee, restricted recognizers,
unsupported-entity reporting, locality, and a floor on the fixture's span recall and
precision. `bench/pii.py` reuses the scoring."""

from __future__ import annotations

import json
import random
import socket
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import spacy

from gateway.settings.content_policies import DEFAULT_PII_ENTITIES
from policies.findings import Finding, SpanDetector, redact
from policies.pii import MAX_SPAN, PiiDetector, PiiEngineError, blank_nlp_engine
from policies.pii.checksums import iban_ok, luhn_ok, ssn_ok

DATA = Path(__file__).resolve().parent.parent / "data" / "pii"
POLICY_ENTITIES = list(DEFAULT_PII_ENTITIES)  # what a `pii:` policy lists by default
CUSTOM = [("EMPLOYEE_ID", r"EMP-\d{6}")]


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open() as lines:
        return [json.loads(line) for line in lines]


def overlaps(f: Finding, span: dict[str, Any]) -> bool:
    return f.entity == span["entity"] and f.start < span["end"] and span["start"] < f.end


def span_scores(
    find: Any, rows: Sequence[dict[str, Any]], entities: Sequence[str], exact: bool = False
) -> dict[str, tuple[int, int, int]]:
    """Per entity (true positives, false negatives, false positives). A labelled span is
    found if a finding of its entity overlaps it (`exact`: has its exact bounds); a
    finding is false if it matches no labelled span of its entity."""
    tp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    fp: Counter[str] = Counter()

    def hit(f: Finding, span: dict[str, Any]) -> bool:
        if exact:
            return (f.entity, f.start, f.end) == (span["entity"], span["start"], span["end"])
        return overlaps(f, span)

    for row in rows:
        gold = [s for s in row["spans"] if s["entity"] in entities]
        found = [f for f in find(row["text"]) if f.entity in entities]
        for span in gold:
            (tp if any(hit(f, span) for f in found) else fn)[span["entity"]] += 1
        for f in found:
            fp[f.entity] += not any(hit(f, span) for span in gold)
    return {e: (tp[e], fn[e], fp[e]) for e in entities}


def damaged(find: Any, rows: Sequence[dict[str, Any]], entities: Sequence[str]) -> float:
    """The fraction of texts where some finding covers a character outside every labelled
    span of the scored entities: redaction would eat text that is not that data (a
    "phone" inside a street address included)."""
    bad = 0
    for row in rows:
        labelled = {
            i for s in row["spans"] if s["entity"] in entities for i in range(s["start"], s["end"])
        }
        found = [f for f in find(row["text"]) if f.entity in entities]
        bad += any(i not in labelled for f in found for i in range(f.start, f.end))
    return bad / len(rows)


@contextmanager
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network access attempted")

    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def detector() -> Iterator[PiiDetector]:
    # Built once per module, and with the network cut: every test below uses an engine
    # that was built offline.
    with pytest.MonkeyPatch.context() as patch, no_network(patch):
        yield PiiDetector(POLICY_ENTITIES, custom=CUSTOM, deny_lists={"CODENAME": ["Bluebird"]})


def spans(detector: PiiDetector, text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in detector.find(text)]


POSITIVES = {
    "EMAIL_ADDRESS": ["john.doe@example.com", "a.b+tag@mail.co.uk", "Jane_Roe-1@sub.example.org"],
    "PHONE_NUMBER": [
        "(555) 123-4567",
        "555.123.4567",
        "555-123-4567",
        "+1-555-123-4567x1234",
        "555-123-4567 ext. 89",
        "+44 20 7946 0958",
        "+49 30 123456",
        "0044 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+33 1 42 68 53 00",
        "001-555-123-4567x123",
        "(680)953-0225x04154",
    ],
    "CREDIT_CARD": [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555555555554444",
        "2221 0000 0000 0009",  # Mastercard 2-series
        "2720-9926-0000-0007",
        "378282246310005",  # Amex
        "3782 822463 10005",
        "6011111111111117",  # Discover
        "3530111333300000",  # JCB
        "6759649826438453",  # Maestro, 16 digits
        "501800000009",  # Maestro, 12 digits
        "6250941006528599",  # UnionPay
        "6212345678900000003",  # UnionPay, 19 digits
        "4222222222222",  # Visa, 13 digits
    ],
    "IBAN_CODE": [
        "DE89370400440532013000",
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "ES9121000418450200051332",
        "IT60X0542811101000000123456",
        "CH9300762011623852957",
        "NO9386011117947",
    ],
    "IP_ADDRESS": [
        "192.168.1.20",
        "8.8.8.8",
        "10.0.0.1",
        "2001:db8::ff00:42:8329",
        "fe80::1ff:fe23:4567:890a",
    ],
    "US_SSN": ["123-45-6788", "078-05-1121", "536-90-4399"],
}
CONTEXT = {
    "EMAIL_ADDRESS": "Write to {} about the refund.",
    "PHONE_NUMBER": "Please call me on {} tomorrow.",
    "CREDIT_CARD": "Charge my card {} for the renewal.",
    "IBAN_CODE": "Send the money to {} by Friday.",
    "IP_ADDRESS": "The server at {} refused the connection.",
    "US_SSN": "My SSN is {} as on the form.",
}


@pytest.mark.parametrize(
    ("entity", "value"), [(e, v) for e, values in POSITIVES.items() for v in values]
)
def test_positive(detector: PiiDetector, entity: str, value: str) -> None:
    text = CONTEXT[entity].format(value)
    assert spans(detector, text) == [(entity, value)]


@pytest.mark.parametrize(
    "text",
    [
        "Ring me on 020 7946 0958 after six.",  # UK national form
        "My mobile is 07700 900123.",
        "Call 555-1234 from the lobby.",  # local, 7 digits
        "Text me: 2125551234",  # bare 10 digits, with context
        "Fax: 030 12345678",
        "Call me at 63 6392-3321",  # Brazil, mixed separators
        "Mobile: 08-563 272 95",  # Sweden
        "Phone: 01.23.45.67.89",  # France, dotted pairs
        "Tel. 84 23 30",  # six digits, a phone word required
    ],
)
def test_phone_local_forms(detector: PiiDetector, text: str) -> None:
    assert [e for e, _ in spans(detector, text)] == ["PHONE_NUMBER"]


def test_card_needs_luhn_and_an_issuer(detector: PiiDetector) -> None:
    assert spans(detector, "card 4111 1111 1111 1112") == []  # Luhn fails
    assert spans(detector, "card 9111 1111 1111 1115") == []  # no network starts with 9
    assert spans(detector, "card 4111 11111 111 1111") == []  # not a printed grouping


def test_iban_in_lower_case(detector: PiiDetector) -> None:
    assert spans(detector, "my iban is gb82west12345698765432") == [
        ("IBAN_CODE", "gb82west12345698765432")
    ]


def test_iban_needs_mod97_and_country_length(detector: PiiDetector) -> None:
    assert spans(detector, "IBAN DE89370400440532013001") == []
    assert spans(detector, "IBAN DE8937040044053201300") == []


@pytest.mark.parametrize(
    "ssn", ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000"]
)
def test_ssn_never_issued_ranges(detector: PiiDetector, ssn: str) -> None:
    assert spans(detector, f"SSN {ssn}") == []


def test_ip_shapes(detector: PiiDetector) -> None:
    assert spans(detector, "address 999.1.1.1") == []
    assert spans(detector, "Upgrade to version 1.2.3.4 today") == []
    assert spans(detector, "firewall blocked 1.2.3.4 twice") == [("IP_ADDRESS", "1.2.3.4")]
    assert spans(detector, "use std::vector and a::b") == []
    assert spans(detector, "MAC 00:1a:2b:3c:4d:5e") == []
    # Loopback and unspecified addresses are in every config file and identify nobody.
    assert spans(detector, "bind 0.0.0.0:8080, proxy to 127.0.0.1 and ::1") == []


def test_email_needs_a_public_suffix(detector: PiiDetector) -> None:
    assert spans(detector, "assets icon@2x.png and logo@3x.webp") == []
    assert spans(detector, "git clone git@github.com:acme/tool.git") == []
    assert spans(detector, "pin lodash@4.17.21") == []


HANDPICKED_NEGATIVES = [
    "Order number: 5551234567, shipped 2024-01-15 12:30:45.",
    "Order #4532015112830366 was refunded.",
    "ISBN 978-3-16-148410-0 and 0-306-40615-2.",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "The price is $1,299.99, or 1 299,99 EUR.",
    'File "app.py", line 1234, in main',
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "Lottery numbers 04 11 23 35 42 48.",
    "Between 1990-2000 and pages 1234-5678.",
    "Python 3.11.4.1 and Chrome 120.0.6099.109",
    # Phone words in other senses, next to numbers that are quantities and ranges.
    "Call stack depth reached 1234567 frames.",
    "Contact count: 2 345 678 as of Q3.",
    "Fax machines sold: 12 500 000 units in 1995.",
    "The office is on floor 12, room 1204-1206.",
    "Tel Aviv population 460 613 (2019).",
    "Text 4 of 12: pages 100 200 300.",
    "Meeting ID: 845 2231 9087, passcode 443921.",
    "Tracking ID 9400 1000 0000 0000 0000 00 (USPS).",
    "Order 1234-5678-9012-3456 is ready for pickup.",
    "Timestamp: 2024-05-06T07:08:09.123456+02:00",
]


@pytest.mark.parametrize("text", HANDPICKED_NEGATIVES)
def test_hard_negative(detector: PiiDetector, text: str) -> None:
    assert spans(detector, text) == []


def test_hard_negative_fixture(detector: PiiDetector) -> None:
    rows = load("hard_negatives.jsonl")
    flagged = [row["text"] for row in rows if detector.find(row["text"])]
    # Measured 0 of 556; the target is <= 5 %.
    assert len(flagged) / len(rows) <= 0.01, flagged[:10]


def test_custom_regex_and_deny_list(detector: PiiDetector) -> None:
    text = "Ask EMP-123456 (not EMP-12345) about project bluebird."
    assert spans(detector, text) == [("EMPLOYEE_ID", "EMP-123456"), ("CODENAME", "bluebird")]
    assert redact(text, detector.find(text)) == (
        "Ask <EMPLOYEE_ID> (not EMP-12345) about project <CODENAME>."
    )


def test_invalid_custom_regex_is_a_config_error() -> None:
    with pytest.raises(PiiEngineError, match="EMPLOYEE_ID"):
        PiiDetector(
            ["EMAIL_ADDRESS"],
            custom=[("EMPLOYEE_ID", "EMP-(\\d{6}")],
            nlp_engine=blank_nlp_engine(),
        )


def test_is_a_span_detector(detector: PiiDetector) -> None:
    typed: SpanDetector = detector
    assert typed.name == "pii"
    assert typed.max_span == MAX_SPAN


def test_restricted_to_requested_recognizers(detector: PiiDetector) -> None:
    registry = detector.engine.analyzer.registry
    entities = {e for r in registry.recognizers for e in r.supported_entities}
    assert entities == {*POLICY_ENTITIES, "EMPLOYEE_ID", "CODENAME"}
    assert detector.engine.delegated == frozenset()  # nothing goes through tokenizing


def test_unsupported_entities_are_reported() -> None:
    nlp = blank_nlp_engine()
    pii = PiiDetector(["EMAIL_ADDRESS", "PERSON", "LOCATION", "NO_SUCH_THING"], nlp_engine=nlp)
    assert pii.unsupported == {"PERSON", "LOCATION", "NO_SUCH_THING"}
    assert spans(pii, "Jane Doe, jane@example.com") == [("EMAIL_ADDRESS", "jane@example.com")]


def test_offline_engine_build_and_presidio_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # URL and CRYPTO are presidio's own recognizers, run through its AnalyzerEngine (the
    # blank pipeline tokenizes, the URL recognizer calls tldextract): still no socket.
    with no_network(monkeypatch):
        pii = PiiDetector(["URL", "CRYPTO", "EMAIL_ADDRESS"])
        assert pii.engine.delegated == {"URL", "CRYPTO"}
        text = "See https://example.com/docs or mail ops@example.com"
        found = {e for e, _ in spans(pii, text)}
        assert found == {"URL", "EMAIL_ADDRESS"}
        # presidio itself would `spacy.cli.download` a model that is not installed.
        with pytest.raises(PiiEngineError, match="never downloaded"):
            PiiDetector(["PERSON"], spacy_model="en_core_web_sm_not_installed")


def test_ner_entities_with_an_installed_model(tmp_path: Path) -> None:
    # A user's model stands in as a directory: a blank pipeline whose entity ruler labels
    # two names (the trained models are not on PyPI, and nothing here downloads).
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [{"label": "PERSON", "pattern": "Jane Doe"}, {"label": "GPE", "pattern": "Paris"}]
    )
    nlp.to_disk(tmp_path)
    pii = PiiDetector(["PERSON", "LOCATION", "EMAIL_ADDRESS"], spacy_model=str(tmp_path))
    assert pii.unsupported == frozenset()
    assert pii.engine.delegated == {"PERSON", "LOCATION"}
    text = "Jane Doe moved to Paris, mail jane@example.com"
    assert spans(pii, text) == [
        ("PERSON", "Jane Doe"),
        ("LOCATION", "Paris"),
        ("EMAIL_ADDRESS", "jane@example.com"),
    ]


def test_locality(detector: PiiDetector) -> None:
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6
    for row in load("faker_en.jsonl")[:150]:
        text = row["text"]
        found = detector.find(text)
        padded = filler + text + " " + filler
        shifted = [
            Finding(f.start + len(filler), f.end + len(filler), f.entity, f.score) for f in found
        ]
        assert detector.find(padded) == shifted
        for f in found:
            lo = max(0, f.start - MAX_SPAN)
            window = text[lo : f.end + MAX_SPAN]
            assert (f.entity, f.start - lo, f.end - lo) in {
                (g.entity, g.start, g.end) for g in detector.find(window)
            }


def test_windows_agree_with_the_whole_text(detector: PiiDetector) -> None:
    # What a stream's bounded hold-back relies on: in any window of the text, a finding at
    # least MAX_SPAN from the window's cut edges is exactly a finding of the whole text.
    rng = random.Random(3)
    rows = load("faker_en.jsonl") + load("hard_negatives.jsonl")
    text = "\n".join(row["text"] for row in rng.sample(rows, 200))
    whole = {(f.entity, f.start, f.end) for f in detector.find(text)}
    for _ in range(60):
        lo = rng.randrange(0, len(text) - 600)
        hi = lo + rng.randrange(400, 3000)
        window = text[lo:hi]
        hi = lo + len(window)
        inner = [
            (f.entity, f.start + lo, f.end + lo)
            for f in detector.find(window)
            if (lo == 0 or f.start >= MAX_SPAN)
            and (hi == len(text) or f.end <= len(window) - MAX_SPAN)
        ]
        assert set(inner) <= whole
        expected = {
            w
            for w in whole
            if (lo == 0 or w[1] >= lo + MAX_SPAN) and (hi == len(text) or w[2] <= hi - MAX_SPAN)
        }
        assert expected <= set(inner)


def test_pathological_inputs_are_bounded(detector: PiiDetector) -> None:
    for text in (
        "1 " * 20_000,
        "1-" * 20_000,
        "+1 " * 15_000,
        "a@" * 20_000,
        "1." * 20_000,
        ":" * 40_000,
    ):
        detector.find(text)  # completes (the regexes are bounded); the bench times these


def test_fixture_recall_and_precision(detector: PiiDetector) -> None:
    rows = load("faker_en.jsonl")
    scores = span_scores(detector.find, rows, POLICY_ENTITIES)
    tp = sum(t for t, _, _ in scores.values())
    fn = sum(f for _, f, _ in scores.values())
    fp = sum(p for _, _, p in scores.values())
    # Measured (overlap match): recall 1.000, precision 1.000, damaged 0.000; the floors
    # leave room for tuning elsewhere, not for a regression.
    assert tp / (tp + fn) >= 0.98, scores
    assert tp / (tp + fp) >= 0.98, scores
    for entity, (t, f, _) in scores.items():
        assert t / (t + f) >= 0.95, (entity, scores[entity])
    assert damaged(detector.find, rows, POLICY_ENTITIES) <= 0.02


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")
    assert ssn_ok("123456788") and not ssn_ok("666123456")
