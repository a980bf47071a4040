"""`pii.spacy_model` end to end in process: a model directory makes the NER entities
redactable; a model that is not installed is a config error naming the key (never a
download); NER entities without a model are a warning at check time and in the log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import spacy

from gateway.pipeline.policy_book import DetectorFactory, PolicyBook
from gateway.pipeline.policy_registry import output_stages
from gateway.settings.checks import policy_warnings
from gateway.settings.loader import ConfigError, parse_settings
from policies.audit import AuditLog
from tests.integration.conftest import served

pytestmark = pytest.mark.anyio


def document(pii: dict[str, Any]) -> dict[str, Any]:
    return {
        "server": {"access_log": False},
        "policies": {"p": {"pii": pii}},
        "backends": {"fake": {"type": "fake"}},
        "models": [{"id": "guarded", "backend": "fake", "upstream_model": "echo", "policy": "p"}],
    }


def ner_model(directory: Path) -> str:
    # A user's installed pipeline stands in as a directory: an entity ruler that labels one
    # name (the trained spaCy models are not on PyPI, and nothing here downloads).
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Jane Doe"}])
    nlp.to_disk(directory)
    return str(directory)


async def test_a_spacy_model_makes_person_names_redactable(tmp_path: Path) -> None:
    pii = {"input": "redact", "entities": ["PERSON", "EMAIL_ADDRESS"]}
    pii["spacy_model"] = ner_model(tmp_path / "model")
    assert policy_warnings(parse_settings(document(pii), "test", {})) == []
    async with served(document(pii)) as http:
        body = {
            "model": "guarded",
            "messages": [{"role": "user", "content": "Jane Doe wrote from jane@example.com"}],
        }
        reply = await http.post("/v1/chat/completions", json=body)
        assert reply.status_code == 200, reply.text
        # What the echo model received:
        assert reply.json()["choices"][0]["message"]["content"] == (
            "<PERSON> wrote from <EMAIL_ADDRESS>"
        )


def test_a_model_that_is_not_installed_is_a_config_error() -> None:
    pii = {"input": "redact", "entities": ["PERSON"], "spacy_model": "en_core_web_nope_xyz"}
    with pytest.raises(ConfigError) as caught:
        parse_settings(document(pii), "test", {})
    (problem,) = caught.value.problems
    assert problem.startswith("$.policies.p.pii.spacy_model: `en_core_web_nope_xyz`")
    assert "never downloaded" in problem


async def test_ner_entities_without_a_model_are_a_warning_not_silence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pii = {"input": "redact", "entities": ["EMAIL_ADDRESS", "PERSON", "LOCATION"]}
    settings = parse_settings(document(pii), "test", {})
    assert policy_warnings(settings) == [
        "$.policies.p.pii.entities: PERSON, LOCATION need a NER model (`pii.spacy_model`); "
        "without one they are not detected"
    ]
    with caplog.at_level(logging.WARNING, logger="gateway.policies"):
        async with served(document(pii)) as http:
            body = {"model": "guarded", "messages": [{"role": "user", "content": "a@b.example"}]}
            reply = await http.post("/v1/chat/completions", json=body)
            assert reply.status_code == 200
    warned = [r.getMessage() for r in caplog.records if r.name == "gateway.policies"]
    assert warned == [
        "pii: nothing here detects LOCATION, PERSON (the NER entities need `pii.spacy_model`); "
        "they are not redacted"
    ]


def test_a_detector_that_cannot_be_built_rejects_the_file_naming_the_set() -> None:
    def broken(_config: Any) -> Any:
        raise ValueError("pii.custom EMP: invalid regex")

    settings = parse_settings(document({"input": "redact"}), "test", {})
    factory = DetectorFactory({"pii": broken})
    with pytest.raises(ConfigError) as caught:
        PolicyBook(settings, factory, AuditLog(None), None, output_stages)
    assert caught.value.problems == ["$.policies.p: pii.custom EMP: invalid regex"]
