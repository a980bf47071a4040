"""The inference log in a real gateway process, through the official SDK: a JSON reply, a
stream, a request the gateway's own tool loop answers and an Anthropic-style one each
become one redacted JSONL record; without `inference_log` nothing is set up at all."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.keys.records import sha256_hex
from tests.support import Process, start_gateway

pytestmark = pytest.mark.e2e
KEY = "sk-inference-log-e2e-0123456789"
EMAIL = "jane.doe@example.com"
SECRET = "sk-proj-Zx8Qm2Lr7Tv4Wn9Kp3Hs6Jd1Fb5Gc0Ya"


def policy(log_path: Path | None) -> str:
    logged = "" if log_path is None else f"inference_log: {{path: {log_path}}}\n"
    return f"""
server: {{access_log: false}}
auth: {{required: true}}
keys: [{{id: e2e, sha256: {sha256_hex(KEY)}, tenant: team-a}}]
{logged}backends:
  fake: {{type: fake}}
models:
  - {{id: echo, backend: fake}}
  - {{id: assistant, backend: fake, upstream_model: agent, tools: [calculator]}}
"""


def serve(tmp: Path, log_path: Path | None) -> tuple[Process, str]:
    config = tmp / "gateway.yaml"
    config.write_text(policy(log_path))
    return start_gateway(tmp, ["--config", str(config)])


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("inference-log")
    path = tmp / "data" / "inference.jsonl"
    proc, base = serve(tmp, path)
    try:
        yield base, path
    finally:
        proc.stop()


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0, timeout=20)


def records(path: Path, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The first `count` records, once the background writer has written them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= count:
                return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} records in {path}")


def metric(base: str, name: str) -> float | None:
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_json_stream_tool_loop_and_messages_requests_are_each_one_record(
    logged: tuple[str, Path],
) -> None:
    base, path = logged
    sdk = client(base)
    asked = f"write to {EMAIL} with key {SECRET}"
    plain = sdk.chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": asked}], temperature=0.2
    )
    streamed = sdk.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "stream these words"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    tooled = sdk.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "2+3*4"}]
    )
    anthropic = httpx.post(
        f"{base}/v1/messages",
        headers={"x-api-key": KEY},
        json={"model": "echo", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )
    assert anthropic.status_code == 200
    got = records(path, 4)
    assert len(got) == 4
    first, stream, tool, messages = got
    text = path.read_text()
    assert EMAIL not in text and SECRET not in text  # redacted by default

    assert first["request_id"] == plain.headers["x-request-id"]
    assert first["key_id"] == "e2e" and first["tenant"] == "team-a" and KEY not in text
    assert first["endpoint"] == "chat" and first["route"] == "echo"
    assert first["target"] == {"backend": "fake", "model": "echo"}
    assert first["request"]["temperature"] == 0.2
    content = first["request"]["messages"][0]["content"]
    assert content.startswith("write to <EMAIL_ADDRESS> with key <")
    answer = first["response"]["choices"][0]
    assert answer["finish_reason"] == "stop" and "<EMAIL_ADDRESS>" in answer["message"]["content"]
    assert first["response"]["usage"]["total_tokens"] > 0 and first["latency_ms"] > 0

    assert stream["request"]["stream"] is True and stream["outcome"] == "completed"
    assert stream["response"]["choices"][0]["message"]["content"] == deltas == "stream these words"
    assert stream["response"]["usage"]["completion_tokens"] > 0
    assert stream["first_token_ms"] is not None

    (call,) = tool["tool_calls"]
    assert call["name"] == "calculator" and call["outcome"] == "ok"
    assert "14" in call["result"] and call["error"] is None and call["duration_ms"] >= 0
    assert json.loads(call["arguments"])  # the model's arguments, as it sent them
    final = tool["response"]["choices"][0]["message"]["content"]
    assert final == tooled.choices[0].message.content and "14" in final

    assert messages["endpoint"] == "messages"
    assert messages["request"]["messages"][-1]["content"] == "hi"  # the chat form it ran as
    assert metric(base, "gateway_inference_log_records_total") == 4


def test_without_the_setting_nothing_is_set_up_or_written(tmp_path: Path) -> None:
    proc, base = serve(tmp_path, None)
    try:
        reply = client(base).chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hello"}]
        )
        assert reply.choices[0].message.content == "hello"
        assert metric(base, "gateway_inference_log_records_total") is None
    finally:
        proc.stop()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".log", ".yaml"]
