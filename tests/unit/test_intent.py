"""The intent classifier on its own labelled data: accuracy on a split it was not tuned on,
out-of-scope utterances kept out, and the edges (empty, huge, unicode, odd config shapes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from routers.intent import IntentClassifier, IntentMatch, IntentSpec

DATA = Path(__file__).resolve().parents[1] / "data"
THRESHOLD = 0.5


def load_intents() -> list[dict[str, Any]]:
    intents: list[dict[str, Any]] = json.loads((DATA / "intents.json").read_text())["intents"]
    return intents


def load_split(name: str) -> list[tuple[str, str | None]]:
    rows = [json.loads(line) for line in (DATA / f"intents_{name}.jsonl").read_text().splitlines()]
    return [(row["text"], row["intent"]) for row in rows]


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return IntentClassifier(load_intents())


def figures(clf: IntentClassifier, rows: list[tuple[str, str | None]]) -> tuple[float, float]:
    """(in-scope accuracy, out-of-scope wrong-route rate) at THRESHOLD."""
    in_scope = [(t, label) for t, label in rows if label is not None]
    out_of_scope = [t for t, label in rows if label is None]
    right = sum(clf.route(t, THRESHOLD).name == label for t, label in in_scope)
    wrong = sum(clf.route(t, THRESHOLD).name is not None for t in out_of_scope)
    return right / len(in_scope), wrong / len(out_of_scope)


def test_the_data_set_has_the_promised_shape() -> None:
    intents = load_intents()
    assert len(intents) >= 4
    assert all(4 <= len(i["examples"]) <= 6 for i in intents)
    names = {i["name"] for i in intents}
    for split in ("tune", "heldout"):
        rows = load_split(split)
        labels = [label for _, label in rows]
        assert set(labels) - {None} == names
        assert labels.count(None) / len(labels) >= 0.25
    both = load_split("tune") + load_split("heldout")
    for name in names:
        assert sum(label == name for _, label in both) >= 30
    # No utterance is in both splits, and none is a copy of a config example.
    tune = {t.lower() for t, _ in load_split("tune")}
    held = {t.lower() for t, _ in load_split("heldout")}
    examples = {e.lower() for i in intents for e in i["examples"]}
    assert not tune & held
    assert not (tune | held) & examples


def test_held_out_accuracy_and_out_of_scope_rate(classifier: IntentClassifier) -> None:
    accuracy, wrong_route = figures(classifier, load_split("heldout"))
    assert accuracy >= 0.90
    assert wrong_route <= 0.05


def test_tuning_split_figures(classifier: IntentClassifier) -> None:
    accuracy, wrong_route = figures(classifier, load_split("tune"))
    assert accuracy >= 0.90
    assert wrong_route <= 0.05


def test_every_config_example_routes_to_its_own_intent(classifier: IntentClassifier) -> None:
    for intent in load_intents():
        for example in intent["examples"]:
            assert classifier.route(example, THRESHOLD).name == intent["name"], example


def test_a_classifier_that_ignores_the_text_would_fail_these_checks() -> None:
    # The checks above are not vacuous: a constant answer scores badly on one or the other.
    rows = load_split("heldout")
    in_scope = [label for _, label in rows if label is not None]
    best_constant = max(in_scope.count(n) for n in set(in_scope)) / len(in_scope)
    assert best_constant < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "?!?!",
        "😀😀😀",
        "переведи этот текст на английский",
        "把这段话翻译成英文",
        "ﬁx the ﬂaky test",  # ligatures (NFKC)
        "a" * 100_000,
        "word " * 50_000,
        "\x00\x01\x02",
        "```" * 1000,
    ],
)
def test_odd_input_never_raises_and_confidence_is_bounded(
    classifier: IntentClassifier, text: str
) -> None:
    match = classifier.classify(text)
    assert isinstance(match, IntentMatch)
    assert 0.0 <= match.confidence <= 1.0
    assert match.name is None or match.name in {i.name for i in classifier.intents}


def test_empty_and_whitespace_input_has_no_intent(classifier: IntentClassifier) -> None:
    for text in ("", "   ", "\n"):
        assert classifier.classify(text) == IntentMatch(name=None, confidence=0.0)


def test_confidence_is_bounded_on_every_labelled_utterance(classifier: IntentClassifier) -> None:
    for text, _ in load_split("tune") + load_split("heldout"):
        assert 0.0 <= classifier.classify(text).confidence <= 1.0


def test_deterministic_across_calls_and_instances(classifier: IntentClassifier) -> None:
    other = IntentClassifier(load_intents())
    for text, _ in load_split("heldout"):
        first = classifier.classify(text)
        assert classifier.classify(text) == first
        assert other.classify(text) == first


def test_route_applies_the_threshold(classifier: IntentClassifier) -> None:
    texts = [t for t, _ in load_split("tune")]
    unsure = [t for t in texts if 0.1 < classifier.classify(t).confidence < 0.99]
    assert unsure
    for text in unsure:
        match = classifier.classify(text)
        assert classifier.route(text, match.confidence) == match
        below = classifier.route(text, match.confidence + 1e-6)
        assert below == IntentMatch(name=None, confidence=match.confidence)
    assert classifier.route("translate 'good evening' into French", 0.5).name == "translation"


def test_intents_from_tuples_objects_and_mappings_agree() -> None:
    intents = load_intents()
    as_specs = [
        IntentSpec(name=i["name"], examples=tuple(i["examples"]), keywords=tuple(i["keywords"]))
        for i in intents
    ]
    as_tuples = [(i["name"], i["examples"], i["keywords"]) for i in intents]
    text = "what is the integral of sin(x) from 0 to pi"
    expected = IntentClassifier(intents).classify(text)
    assert expected.name == "math"
    assert IntentClassifier(as_specs).classify(text) == expected
    assert IntentClassifier(as_tuples).classify(text) == expected


def test_keywords_are_optional_and_work_for_intents_without_builtin_cues() -> None:
    # Intents nobody built cues for: the examples alone must carry them.
    clf = IntentClassifier(
        [
            ("hr_leave", ["how many vacation days do I have left", "request parental leave"]),
            ("it_access", ["I cannot log into the VPN", "reset my password for the laptop"]),
        ]
    )
    assert clf.route("how many vacation days are left for me this year", 0.5).name == "hr_leave"
    assert clf.route("my password expired, please reset it", 0.5).name == "it_access"
    assert clf.route("what's the weather in Oslo", 0.5).name is None


def test_keyword_boost_decides_between_intents() -> None:
    clf = IntentClassifier(
        [
            {"name": "a", "examples": ["tell me about the project"], "keywords": ["zebra"]},
            {"name": "b", "examples": ["tell me about the project"], "keywords": []},
        ]
    )
    assert clf.classify("zebra project").name == "a"


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        IntentClassifier([("x", ["a"]), ("x", ["b"])])
    with pytest.raises(ValueError, match="name"):
        IntentClassifier([{"examples": ["a"]}])
    with pytest.raises(ValueError, match="examples"):
        IntentClassifier([{"name": "x", "examples": "not a list"}])


def test_no_intents_means_no_match() -> None:
    assert IntentClassifier([]).classify("anything") == IntentMatch(name=None, confidence=0.0)


def test_keywords_that_form_a_phrase_together_do_not_break_the_build() -> None:
    clf = IntentClassifier([("recap", ["recap this"], ["sum", "up"]), ("other", ["hello"])])
    assert clf.classify("sum it up").name == "recap"
