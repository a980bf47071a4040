"""Upstreams that misbehave: the client still gets the OpenAI contract."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import OpenAI

from tests.e2e.conftest import UPSTREAM_KEY

pytestmark = pytest.mark.e2e
USER = [{"role": "user", "content": "the quick brown fox"}]


def _post(gateway: str, model: str, stream: bool = False) -> httpx.Response:
    body = {"model": model, "messages": USER, "stream": stream}
    return httpx.post(f"{gateway}/v1/chat/completions", json=body, timeout=20)


def _error(response: httpx.Response) -> dict:
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


def test_redirects_are_not_followed(gateway: str) -> None:
    response = _post(gateway, "script/redirect")
    assert response.status_code == 502
    assert "redirect" in _error(response)["message"]


def test_a_200_with_an_error_body_is_a_502_in_openai_shape(gateway: str) -> None:
    response = _post(gateway, "script/error-body")
    assert response.status_code == 502
    assert _error(response)["message"] == "overloaded"


def test_an_empty_stream_fails_before_the_commit_point(gateway: str) -> None:
    response = _post(gateway, "script/empty-stream", stream=True)
    assert response.status_code == 502
    assert _error(response)["code"] == "upstream_empty_stream"


def test_an_upstream_error_event_is_normalised(gateway: str) -> None:
    response = _post(gateway, "script/error-event", stream=True)
    assert response.status_code == 200
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert error == {"message": "boom", "type": "server_error", "param": None, "code": "500"}


def test_azure_style_first_chunk(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model="script/azure-first", messages=USER, stream=True)
    )
    assert all(c.id for c in chunks) and len({c.id for c in chunks}) == 1
    assert all(c.created > 0 for c in chunks)
    first_with_choices = next(c for c in chunks if c.choices)
    assert first_with_choices.choices[0].delta.role == "assistant"


@pytest.mark.parametrize("model", ["script/error-429+bare", "script/error-429+huge-retry-after"])
def test_429_always_carries_a_sane_retry_after(gateway: str, model: str) -> None:
    response = _post(gateway, model)
    assert response.status_code == 429
    assert 0 <= int(response.headers["retry-after"]) <= 86_400
    _error(response)


def test_an_error_body_split_across_reads_is_kept_whole(gateway: str) -> None:
    response = _post(gateway, "script/error-400+split-error")
    assert response.status_code == 400
    assert _error(response)["code"] == "scripted_400"
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_auth_failures_do_not_relay_the_upstream_message(
    client: OpenAI, status: int
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=f"script/error-{status}", messages=USER)
    assert "scripted" not in str(caught.value)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_failed"
    assert (
        isinstance(caught.value.body, dict) and caught.value.body["type"] == "upstream_auth_error"
    )
    assert "`loop`" in caught.value.message  # names the backend, never the key
    assert UPSTREAM_KEY not in str(caught.value.body)


def test_streaming_fallback_before_the_commit_point(client: OpenAI) -> None:
    stream = client.chat.completions.create(model="broken-primary", messages=USER, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "the quick brown fox"
