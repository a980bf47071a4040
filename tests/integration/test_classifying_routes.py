"""`route_by: intent` and `route_by: complexity` in the real app: the picked model serves,
and `x-gateway-intent` says what was picked and how sure the router was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.settings.loader import ConfigError, parse_settings
from tests.integration.conftest import served

pytestmark = pytest.mark.anyio
ROUTES: list[dict[str, Any]] = [
    {"id": "coder", "backend": "fake", "upstream_model": "echo@coder"},
    {"id": "solver", "backend": "fake", "upstream_model": "echo@solver"},
    {"id": "chat", "backend": "fake", "upstream_model": "echo@chat"},
    {"id": "small", "backend": "fake", "upstream_model": "echo@small"},
    {"id": "big", "backend": "fake", "upstream_model": "echo@big"},
    {
        "id": "auto",
        "route_by": "intent",
        "threshold": 0.5,
        "default": "chat",
        "intents": [
            {
                "name": "code",
                "model": "coder",
                "examples": [
                    "write a python function that reverses a list",
                    "fix this javascript bug",
                    "how do I sort a dict by value in python",
                    "refactor this class to use dependency injection",
                    "why does my rust code not compile",
                ],
            },
            {
                "name": "math",
                "model": "solver",
                "keywords": ["integral", "derivative"],
                "examples": [
                    "solve 3x + 5 = 20",
                    "what is the integral of x squared",
                    "prove that the square root of 2 is irrational",
                    "compute the derivative of sin(x) * x",
                    "what is 17% of 240",
                ],
            },
        ],
    },
    {
        "id": "smart",
        "route_by": "complexity",
        "threshold": 0.5,
        "simple": "small",
        "complex": "big",
    },
]
SETTINGS = {
    "server": {"access_log": False},
    "backends": {"fake": {"type": "fake"}},
    "models": ROUTES,
}


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with served(SETTINGS) as client:
        yield client


async def ask(http: httpx.AsyncClient, model: str, text: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize(
    ("text", "target", "label"),
    [
        ("can you write a small go program that reads a file line by line", "fake/echo@coder", "code"),
        ("find the derivative of x^3 - 2x", "fake/echo@solver", "math"),
        ("what a lovely day it is, isn't it", "fake/echo@chat", "default"),
    ],
)  # fmt: skip
async def test_intent_routes_pick_by_the_last_user_turn(
    http: httpx.AsyncClient, text: str, target: str, label: str
) -> None:
    response = await ask(http, "auto", text)
    assert response.headers["x-gateway-target"] == target
    assert response.headers["x-gateway-route"] == "auto"
    name, _, confidence = response.headers["x-gateway-intent"].partition("; confidence=")
    assert name == label and 0.0 <= float(confidence) <= 1.0
    assert (float(confidence) >= 0.5) == (label != "default")
    assert response.json()["model"] == "auto"  # the client's id, whatever served it


async def test_complexity_routes_send_hard_requests_to_the_big_model(
    http: httpx.AsyncClient,
) -> None:
    easy = await ask(http, "smart", "hi, how are you?")
    hard = await ask(
        http,
        "smart",
        "Prove step by step that for every integer n >= 1 the sum 1 + 2 + ... + n equals "
        "n(n+1)/2, then write a Python function with tests that checks it for n up to 10^6 "
        "and explain its complexity.\n```python\ndef check(n):\n    return n*(n+1)//2\n```",
    )
    assert easy.headers["x-gateway-target"] == "fake/echo@small"
    assert easy.headers["x-gateway-intent"].startswith("simple; confidence=")
    assert hard.headers["x-gateway-target"] == "fake/echo@big"
    assert hard.headers["x-gateway-intent"].startswith("complex; confidence=")


async def test_classifying_routes_are_listed(http: httpx.AsyncClient) -> None:
    ids = {m["id"] for m in (await http.get("/v1/models")).json()["data"]}
    assert {"auto", "smart"} <= ids


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"default": "ghost"}, "$.models[5].default: unknown model `ghost`"),
        ({"threshold": 1.5}, "$.models[5].threshold"),
        ({"backend": "fake"}, "$.models[5]: a `route_by` route picks other models"),
        ({"intents": []}, "$.models[5].intents: a `route_by: intent` route needs"),
    ],
)
def test_check_names_bad_classifying_routes(change: dict[str, Any], expected: str) -> None:
    routes = [dict(r) for r in ROUTES]
    routes[5] = {**routes[5], **change}
    with pytest.raises(ConfigError) as caught:
        parse_settings({**SETTINGS, "models": routes}, "test", {})
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_an_intent_pointing_to_an_unknown_model_is_caught() -> None:
    routes = [dict(r) for r in ROUTES]
    intents = [dict(i) for i in routes[5]["intents"]]
    intents[1]["model"] = "nobody"
    routes[5] = {**routes[5], "intents": intents}
    with pytest.raises(ConfigError) as caught:
        parse_settings({**SETTINGS, "models": routes}, "test", {})
    assert any(
        "$.models[5].intents[1].model: unknown model `nobody`" in p for p in caught.value.problems
    )
