"""Multi-target routes in the policy file, and what `gateway check` catches in them."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.settings.loader import ConfigError, parse_settings

BACKENDS = {"a": {"type": "fake"}, "b": {"type": "fake"}}


def problems(models: list[dict[str, Any]]) -> list[str]:
    try:
        parse_settings({"backends": BACKENDS, "models": models}, "test", {})
    except ConfigError as exc:
        return exc.problems
    return []


def test_targets_weights_and_balance_decode() -> None:
    settings = parse_settings(
        {
            "backends": BACKENDS,
            "models": [
                {
                    "id": "chat",
                    "balance": "weighted",
                    "targets": [
                        {"backend": "a", "upstream_model": "echo", "weight": 3},
                        {"backend": "b"},
                    ],
                },
                {"id": "one", "backend": "a"},
            ],
        },
        "test",
        {},
    )
    chat, one = settings.models
    assert [(t.backend, t.upstream_model, t.weight) for t in chat.route_targets()] == [
        ("a", "echo", 3.0),
        ("b", "chat", 1.0),
    ]
    assert [(t.backend, t.upstream_model) for t in one.route_targets()] == [("a", "one")]


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        ([{"id": "m", "targets": [{"backend": "nope"}]}], "$.models[0].targets[0].backend: unknown backend `nope`"),
        ([{"id": "m", "backend": "a", "fallbacks": ["ghost"]}], "$.models[0].fallbacks[0]: unknown model `ghost`"),
        ([{"id": "m", "targets": [{"backend": "a", "weight": 0}]}], "$.models[0].targets[0].weight"),
        ([{"id": "m", "targets": [{"backend": "a", "weight": -1}]}], "$.models[0].targets[0].weight"),
        ([{"id": "m", "backend": "a", "targets": [{"backend": "b"}]}], "$.models[0]: set either `backend`"),
        ([{"id": "m"}], "$.models[0]: set `backend` (one target) or `targets`"),
        ([{"id": "m", "backend": "a", "balance": "fastest"}], "$.models[0].balance"),
        (
            [
                {"id": "x", "backend": "a", "fallbacks": ["y"]},
                {"id": "y", "backend": "b", "fallbacks": ["x"]},
            ],
            "$.models[0].fallbacks: fallbacks form a cycle (x -> y -> x)",
        ),
        ([{"id": "x", "backend": "a", "fallbacks": ["x"]}], "fallbacks form a cycle (x -> x)"),
    ],
)  # fmt: skip
def test_check_names_the_key_path(models: list[dict[str, Any]], expected: str) -> None:
    found = problems(models)
    assert any(expected in p for p in found), found


def test_fallback_chains_without_a_cycle_are_fine() -> None:
    assert (
        problems(
            [
                {"id": "x", "backend": "a", "fallbacks": ["y", "z"]},
                {"id": "y", "backend": "b", "fallbacks": ["z"]},
                {"id": "z", "backend": "a"},
            ]
        )
        == []
    )
