from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from gateway.backends.fake_script import Script, parse_script
from gateway.context import RequestContext
from gateway.errors import ModelNotFoundError
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from routers import CatalogEntry, ModelCatalog, RouteDecision, StaticRouter

CTX = RequestContext(request_id="r", endpoint="chat")


class Listed:
    """A discovered-models source whose listing the test sets (as a backend would report)."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, CatalogEntry]] = {}
        self.misses = 0

    def by_backend(self) -> Mapping[str, Mapping[str, CatalogEntry]]:
        return self.models

    async def after_miss(self) -> bool:
        self.misses += 1
        return False

    def list(self, backend: str, ids: list[str]) -> None:
        self.models = {
            **self.models,
            backend: {m: CatalogEntry(m, backend, m, owned_by=backend) for m in ids},
        }


def router() -> tuple[StaticRouter, Listed, ModelCatalog]:
    listed = Listed()
    catalog = ModelCatalog(
        [
            CatalogEntry("fast", "a", "echo", fallbacks=("slow",)),
            CatalogEntry("slow", "b", "slow-1"),
            CatalogEntry("openai/*", "a", "*"),
            CatalogEntry("openai/special/*", "b", "sp-*"),
        ],
        discovered=listed,
    )
    return StaticRouter(catalog), listed, catalog


def route(r: StaticRouter, model: str) -> RouteDecision:
    request = ChatCompletionRequest(model=model, messages=[UserMessage(content="hi")])
    return asyncio.run(r.route(request, CTX))


def test_alias_with_fallbacks_in_order() -> None:
    decision = route(router()[0], "fast")
    assert [(t.backend, t.upstream_model) for t in decision.targets] == [
        ("a", "echo"),
        ("b", "slow-1"),
    ]
    assert decision.reason == "alias"


def test_longest_prefix_wins_and_star_is_replaced() -> None:
    r = router()[0]
    assert route(r, "openai/gpt-4o").targets[0].upstream_model == "gpt-4o"
    assert route(r, "openai/special/x").targets[0].upstream_model == "sp-x"
    with pytest.raises(ModelNotFoundError):
        route(r, "openai/")


def test_discovered_models_are_routable_and_listed() -> None:
    r, listed, catalog = router()
    with pytest.raises(ModelNotFoundError):
        route(r, "llama3")
    assert listed.misses == 1  # a miss gives discovery its chance to refresh
    listed.list("ollama", ["llama3"])
    assert route(r, "llama3").targets[0].backend == "ollama"
    assert {e.id for e in catalog.entries()} == {"fast", "slow", "llama3"}


def test_script_names() -> None:
    assert parse_script("echo") == Script()
    assert parse_script("script/words-5+slow-20@tag") == Script(words=5, chunk_delay=0.02)
    assert parse_script("error-429").error_status == 429
    assert parse_script("x/die-mid-stream").die_mid_stream
