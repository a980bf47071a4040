"""`Container.reload` and the file watcher, in process: unchanged backends and breaker state
carry over, changed routes apply at once, an invalid file is rejected."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.config_watch import ConfigWatcher
from gateway.container import Container
from gateway.pipeline.policy_book import pii_config
from gateway.resilience.breaker import BreakerState
from gateway.settings.loader import parse_settings

pytestmark = pytest.mark.anyio


def document(route_model: str, extra_backend: bool = False) -> dict[str, Any]:
    backends: dict[str, Any] = {"fake": {"type": "fake"}}
    if extra_backend:
        backends["other"] = {"type": "fake", "tokens_per_second": 100}
    return {
        "server": {"access_log": False},
        "backends": backends,
        "models": [
            {"id": "flaky", "backend": "fake", "upstream_model": "error-500"},
            {"id": "live", "backend": "fake", "upstream_model": route_model},
        ],
    }


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def test_unchanged_backends_and_breakers_survive_a_reload() -> None:
    container = Container(parse_settings(document("echo@one"), "t", {}), env={})
    await container.start()
    try:
        backend = container.backends["fake"]
        breaker = container.breakers.get("fake/error-500")
        for _ in range(5):
            admission = breaker.admit()
            assert admission is not None
            breaker.failed(admission)
        assert breaker.state is BreakerState.OPEN
        old_pipeline = container.pipeline
        await container.reload(parse_settings(document("echo@two", extra_backend=True), "t", {}))
        assert container.backends["fake"] is backend  # unchanged: kept, not rebuilt
        assert "other" in container.backends
        assert container.breakers.get("fake/error-500").state is BreakerState.OPEN
        assert container.pipeline is not old_pipeline
        assert container.catalog.get("live").upstream_model == "echo@two"  # type: ignore[union-attr]
        assert container.breaker_states()["fake/echo@two"] == "closed"
    finally:
        await container.aclose()


async def test_the_watcher_applies_valid_files_and_rejects_invalid_ones(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document("echo@one")))
    container = Container(parse_settings(document("echo@one"), "t", {}), env={})
    await container.start()
    watcher = ConfigWatcher(
        path, lambda: container.settings, container.reload, env={}, interval=0.05
    )
    await watcher.start()
    try:
        path.write_text(yaml.safe_dump(document("echo@two")))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if watcher.reloads:
                break
        assert container.catalog.get("live").upstream_model == "echo@two"  # type: ignore[union-attr]
        path.write_text("models: [{id: live, backend: nowhere}]\n")
        assert await watcher.reload_now() is False
        assert watcher.rejected >= 1
        assert container.catalog.get("live").upstream_model == "echo@two"  # type: ignore[union-attr]
    finally:
        await watcher.aclose()
        await container.aclose()


async def test_a_reload_keeps_unchanged_route_limits_and_lets_client_named_breakers_go() -> None:
    from routers.base import Target

    doc = document("echo@one")
    doc["models"].append({"id": "any/*", "backend": "fake", "upstream_model": "*"})
    doc["models"][1]["max_concurrency"] = 2
    container = Container(parse_settings(doc, "t", {}), env={})
    limit = container._route_limits["live"]
    container._target_policy(Target("fake", "client-x", "any/*", key="fake/client-x", dynamic=True))
    # A client naming a configured target's key gets the configured policy, never evicted.
    configured = container.target_policies["fake/error-500"]
    named = Target("fake", "error-500", "any/*", key="fake/error-500", dynamic=True)
    assert container._target_policy(named) is configured
    await container.reload(parse_settings(doc, "t", {}))
    assert container._route_limits["live"] is limit
    assert "fake/client-x" not in container.breakers.states()
    await container.aclose()


def test_max_concurrency_on_a_classifying_route_is_rejected() -> None:
    from gateway.settings.loader import ConfigError

    doc = document("echo@one")
    doc["models"].append(
        {"id": "smart", "route_by": "complexity", "simple": "live", "complex": "flaky",
         "max_concurrency": 3}
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_settings(doc, "t", {})
    assert any("$.models[2].max_concurrency" in p for p in caught.value.problems)


def with_pii(entities: list[str]) -> dict[str, Any]:
    doc = document("echo")
    doc["policies"] = {"p": {"pii": {"input": "redact", "entities": entities}}}
    doc["models"][1]["policy"] = "p"
    return doc


async def test_detectors_are_kept_while_used_and_let_go_after_a_reload() -> None:
    container = Container(parse_settings(with_pii(["EMAIL_ADDRESS"]), "t", {}), env={})
    await container.start()
    try:
        config = pii_config(container.settings.policies["p"])
        first = container.detectors.get("pii", config)
        await container.reload(parse_settings(with_pii(["EMAIL_ADDRESS"]), "t", {}))
        assert len(container.detectors) == 1
        assert container.detectors.get("pii", config) is first  # kept: built once
        for entities in (["PHONE_NUMBER"], ["US_SSN"], ["IBAN_CODE"]):
            await container.reload(parse_settings(with_pii(entities), "t", {}))
            assert len(container.detectors) == 1  # only what the live file uses
        await container.reload(parse_settings(document("echo"), "t", {}))
        assert len(container.detectors) == 0
    finally:
        await container.aclose()
