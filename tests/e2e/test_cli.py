"""`gateway serve` the ways the README describes: embedded default, --upstream, --workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from openai import OpenAI

from tests.support import serve_expecting_failure, start_gateway

pytestmark = pytest.mark.e2e
USER = [{"role": "user", "content": "ping pong"}]


def test_embedded_default_answers_from_the_local_model_with_no_config_and_no_key(
    tmp_path: Path,
) -> None:
    proc, base = start_gateway(tmp_path, [], env={"GATEWAY_UPSTREAM_URL": ""})
    try:
        with OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as client:
            assert {m.id for m in client.models.list()} == {
                "smollm2-135m-instruct",
                "all-minilm-l6-v2",
            }
            reply = client.chat.completions.create(
                model="smollm2-135m-instruct", messages=USER, max_tokens=8
            )
            assert reply.choices[0].message.content
            assert reply.usage is not None and reply.usage.completion_tokens <= 8
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    finally:
        proc.stop()


def test_quick_start_proxies_every_model_the_upstream_lists(tmp_path: Path, loopback: str) -> None:
    proc, base = start_gateway(
        tmp_path,
        ["--upstream", loopback, "--upstream-key-env", "LOOP_KEY"],
        env={"LOOP_KEY": "sk-loopback-secret"},
    )
    try:
        with OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as client:
            ids = {m.id for m in client.models.list()}
            assert {"echo", "words-20", "tools-2"} <= ids
            reply = client.chat.completions.create(model="words-20", messages=USER)
            assert reply.choices[0].message.content is not None
            assert len(reply.choices[0].message.content.split()) == 20
        assert "sk-loopback-secret" not in proc.output()  # keys never reach the log
    finally:
        proc.stop()


def test_multiple_workers_serve(tmp_path: Path, loopback: str) -> None:
    proc, base = start_gateway(
        tmp_path,
        ["--upstream", loopback, "--upstream-key-env", "LOOP_KEY", "--workers", "2"],
        env={"GATEWAY__SERVER__ACCESS_LOG": "false", "LOOP_KEY": "sk-loopback-secret"},
    )
    try:
        workers = psutil.Process(proc.proc.pid).children(recursive=True)
        assert len([w for w in workers if "python" in w.name().lower()]) >= 2
        with OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as client:
            for _ in range(6):
                stream = client.chat.completions.create(model="echo", messages=USER, stream=True)
                assert "".join(c.choices[0].delta.content or "" for c in stream) == "ping pong"
    finally:
        proc.stop()


def test_bad_config_fails_fast_with_every_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "backends: {up: {type: openai, base_url: http://x, api_key_env: NOPE_KEY}}\n"
        "models: [{id: m, backend: up, colour: blue}]\n"
    )
    run = serve_expecting_failure("--config", str(config))
    assert run.returncode == 2
    assert "$.models[0]: unknown key `colour`" in run.stderr
    missing_key = serve_expecting_failure(
        "--upstream", "http://127.0.0.1:9/v1", "--upstream-key-env", "SURELY_UNSET_KEY"
    )
    assert missing_key.returncode == 2
    assert "SURELY_UNSET_KEY" in missing_key.stderr and "Traceback" not in missing_key.stderr


def test_version() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "--version"], capture_output=True, text=True, check=True
    )
    assert run.stdout.startswith("gateway ")
