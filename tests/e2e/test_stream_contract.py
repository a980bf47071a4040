"""Streaming under failure: concurrency, upstream death and stalls, client disconnects."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.e2e.conftest import FIRST_BYTE, IDLE, async_client, upstream_records

pytestmark = pytest.mark.e2e
USER = [{"role": "user", "content": "the quick brown fox"}]


def _raw_stream(gateway: str, model: str, timeout: float = 20) -> tuple[int, list[str]]:
    """Status and every SSE line, read with a plain HTTP client."""
    body = {"model": model, "messages": USER, "stream": True}
    with httpx.stream(
        "POST", f"{gateway}/v1/chat/completions", json=body, timeout=timeout
    ) as response:
        return response.status_code, [line for line in response.iter_lines() if line]


def test_fifty_concurrent_streams_each_get_their_own_content(gateway: str) -> None:
    async def one(aclient: AsyncOpenAI, i: int) -> tuple[str, str]:
        expected = f"stream {i} says {uuid.uuid4().hex}"
        stream = await aclient.chat.completions.create(
            model="script/slow-5",
            messages=[{"role": "user", "content": expected}],
            stream=True,
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return expected, "".join(parts)

    async def run() -> list[tuple[str, str]]:
        async with async_client(gateway) as aclient:
            return await asyncio.gather(*(one(aclient, i) for i in range(50)))

    results = asyncio.run(run())
    assert len(results) == 50
    for expected, got in results:
        assert got == expected


def test_streams_end_with_done(gateway: str) -> None:
    status, lines = _raw_stream(gateway, "fast")
    assert status == 200
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") or line.startswith(":") for line in lines)
    assert not any(line.startswith("id:") for line in lines)


def test_upstream_death_mid_stream_is_one_error_event_then_close(gateway: str) -> None:
    status, lines = _raw_stream(gateway, "script/die-mid-stream")
    assert status == 200
    assert "data: [DONE]" not in lines
    data_lines = [line for line in lines if line.startswith("data: ")]
    last = json.loads(data_lines[-1].removeprefix("data: "))
    assert set(last["error"]) >= {"message", "type", "param", "code"}
    assert sum("error" in json.loads(d.removeprefix("data: ")) for d in data_lines) == 1


def test_sdk_raises_on_mid_stream_error(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="script/die-mid-stream", messages=USER, stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_stall_before_first_byte_is_a_504_within_the_timeout(client: OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="script/stall-first", messages=USER, stream=True)
    assert caught.value.status_code == 504
    assert time.monotonic() - started < FIRST_BYTE + 1.5
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="script/stall-first", messages=USER)
    assert caught.value.status_code == 504
    assert time.monotonic() - started < FIRST_BYTE + 1.5


def test_stall_mid_stream_ends_with_an_error_event_within_the_timeout(gateway: str) -> None:
    started = time.monotonic()
    status, lines = _raw_stream(gateway, "script/stall-mid-stream")
    elapsed = time.monotonic() - started
    assert status == 200
    assert elapsed < IDLE + 1.5
    data = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    assert data[-1]["error"]["code"] == "upstream_timeout"
    # While it waited, keep-alive comments (and nothing else) filled the silence.
    assert any(line.startswith(": keep-alive") for line in lines)


def _wait_for_upstream_state(loopback: str, tag: str, timeout: float) -> tuple[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in upstream_records(loopback):
            if tag in json.dumps(record["body"]) and record["state"] != "started":
                return str(record["state"]), float(record.get("ended") or 0)  # type: ignore[arg-type]
        time.sleep(0.02)
    return "started", 0.0


def test_client_disconnect_mid_stream_closes_the_upstream_connection(
    gateway: str, loopback: str
) -> None:
    tag = uuid.uuid4().hex
    body = {
        "model": "script/words-500+slow-20",
        "messages": [{"role": "user", "content": tag}],
        "stream": True,
    }
    with httpx.stream("POST", f"{gateway}/v1/chat/completions", json=body) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        closed_at = time.time()
    state, ended = _wait_for_upstream_state(loopback, tag, timeout=3)
    assert state in ("cancelled", "disconnected")
    assert ended - closed_at < 1.0


def test_client_disconnect_during_a_json_request_closes_the_upstream_connection(
    gateway: str, loopback: str
) -> None:
    tag = uuid.uuid4().hex
    body = {"model": "script/slow-3000", "messages": [{"role": "user", "content": tag}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gateway}/v1/chat/completions", json=body, timeout=0.5)
    closed_at = time.time()
    state, ended = _wait_for_upstream_state(loopback, tag, timeout=3)
    assert state == "cancelled"
    assert ended - closed_at < 1.0
