from __future__ import annotations

import pytest

from gateway.backends.fake_script import Script, parse_script
from gateway.context import RequestContext
from gateway.errors import ModelNotFoundError
from routers import CatalogEntry, ModelCatalog, StaticRouter

CTX = RequestContext(request_id="r", endpoint="chat")


def router() -> tuple[StaticRouter, ModelCatalog]:
    catalog = ModelCatalog(
        [
            CatalogEntry("fast", "a", "echo", fallbacks=("slow",)),
            CatalogEntry("slow", "b", "slow-1"),
            CatalogEntry("openai/*", "a", "*"),
            CatalogEntry("openai/special/*", "b", "sp-*"),
        ]
    )
    return StaticRouter(catalog), catalog


def test_alias_with_fallbacks_in_order() -> None:
    decision = router()[0].route("fast", CTX)
    assert [(t.backend, t.upstream_model) for t in decision.targets] == [
        ("a", "echo"),
        ("b", "slow-1"),
    ]
    assert decision.reason == "alias"


def test_longest_prefix_wins_and_star_is_replaced() -> None:
    r = router()[0]
    assert r.route("openai/gpt-4o", CTX).targets[0].upstream_model == "gpt-4o"
    assert r.route("openai/special/x", CTX).targets[0].upstream_model == "sp-x"
    with pytest.raises(ModelNotFoundError):
        r.route("openai/", CTX)


def test_discovered_models_are_routable_and_listed() -> None:
    r, catalog = router()
    with pytest.raises(ModelNotFoundError):
        r.route("llama3", CTX)
    catalog.set_discovered("ollama", ["llama3"])
    assert r.route("llama3", CTX).targets[0].backend == "ollama"
    assert {e.id for e in catalog.entries()} == {"fast", "slow", "llama3"}


def test_script_names() -> None:
    assert parse_script("echo") == Script()
    assert parse_script("script/words-5+slow-20@tag") == Script(words=5, chunk_delay=0.02)
    assert parse_script("error-429").error_status == 429
    assert parse_script("x/die-mid-stream").die_mid_stream
