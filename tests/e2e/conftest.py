from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.support import Process, start_gateway, start_loopback

UPSTREAM_KEY = "sk-loopback-secret"
# Timeouts short enough for tests, long enough for a loaded 2-core machine.
FIRST_BYTE = 2.0
IDLE = 1.5

CONFIG = """
server:
  sse_keepalive_seconds: 0.5
defaults:
  timeouts: {{connect: 2, first_byte: {first_byte}, idle: {idle}}}
  retries: {{attempts: 2, backoff_seconds: 0.01}}
backends:
  loop:
    type: openai
    base_url: {base_url}
    api_key_env: LOOP_KEY
    discover_models: true
models:
  - id: script/*
    backend: loop
    upstream_model: "*"
  - id: fast
    backend: loop
    upstream_model: echo
  - id: broken-primary
    backend: loop
    upstream_model: error-503
    fallbacks: [fast]
"""


@pytest.fixture(scope="session")
def tmp_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def loopback(tmp_session: Path) -> Iterator[str]:
    proc, base_url = start_loopback(tmp_session, require_key=UPSTREAM_KEY)
    yield base_url
    proc.stop()


@pytest.fixture(scope="session")
def gateway(tmp_session: Path, loopback: str) -> Iterator[Process | str]:
    config = tmp_session / "policy.yaml"
    config.write_text(CONFIG.format(base_url=loopback, first_byte=FIRST_BYTE, idle=IDLE))
    proc, base = start_gateway(
        tmp_session, ["--config", str(config)], env={"LOOP_KEY": UPSTREAM_KEY}
    )
    yield base
    proc.stop()


@pytest.fixture()
def client(gateway: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=20) as sdk:
        yield sdk


def async_client(gateway: str) -> AsyncOpenAI:
    """Create inside the event loop that uses it, and close it there."""
    return AsyncOpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=30)


def upstream_records(loopback: str) -> list[dict[str, object]]:
    response = httpx.get(loopback.removesuffix("/v1") + "/_test/requests", timeout=5)
    response.raise_for_status()
    records: list[dict[str, object]] = response.json()
    return records
