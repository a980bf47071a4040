"""Every model response says where it went: `x-gateway-route`, `x-gateway-target`,
`x-gateway-attempts`, for JSON and streams, successes and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.conftest import served

pytestmark = pytest.mark.anyio
SETTINGS = {
    "server": {"access_log": False},
    "defaults": {"retries": {"attempts": 2, "backoff_seconds": 0.0}},
    "backends": {"fake": {"type": "fake"}, "spare": {"type": "fake"}},
    "models": [
        {"id": "echo", "backend": "fake"},
        {"id": "broken", "backend": "fake", "upstream_model": "error-500", "fallbacks": ["echo"]},
        {"id": "bad", "backend": "fake", "upstream_model": "error-400"},
        {
            "id": "pair",
            "balance": "ordered",
            "targets": [
                {"backend": "fake", "upstream_model": "error-503"},
                {"backend": "spare", "upstream_model": "echo"},
            ],
        },
    ],
}
BODY = {"messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture()
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with served(SETTINGS) as client:
        yield client


def where(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    h = response.headers
    return h.get("x-gateway-route"), h.get("x-gateway-target"), h.get("x-gateway-attempts")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_direct_answer(http: httpx.AsyncClient, stream: bool) -> None:
    response = await http.post(
        "/v1/chat/completions", json={**BODY, "model": "echo", "stream": stream}
    )
    assert response.status_code == 200
    assert where(response) == ("echo", "fake/echo", "1")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_fallback_answer_counts_every_attempt(
    http: httpx.AsyncClient, stream: bool
) -> None:
    response = await http.post(
        "/v1/chat/completions", json={**BODY, "model": "broken", "stream": stream}
    )
    assert response.status_code == 200
    assert where(response) == ("broken", "fake/echo", "3")  # two tries, then the fallback


async def test_a_second_target_of_the_same_route(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json={**BODY, "model": "pair"})
    assert response.status_code == 200
    assert where(response) == ("pair", "spare/echo", "3")


async def test_errors_say_where_they_went_too(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json={**BODY, "model": "bad"})
    assert response.status_code == 400
    assert where(response) == ("bad", "fake/error-400", "1")
    response = await http.post("/v1/chat/completions", json={**BODY, "model": "nope"})
    assert response.status_code == 404
    assert where(response) == ("nope", None, "0")


async def test_a_client_chosen_model_name_cannot_break_the_headers(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/v1/chat/completions", json={**BODY, "model": "x\r\nset-cookie: a=b"}
    )
    assert response.status_code == 404
    assert "set-cookie" not in response.headers
    assert response.headers["x-gateway-route"] == "x??set-cookie: a=b"
