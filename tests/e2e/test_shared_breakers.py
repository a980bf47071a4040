"""Two gateway processes on one real Redis (started here on a free port): failures driven
through only one of them open the breaker in both."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import UPSTREAM_KEY
from tests.support import Process, RedisServer, start_gateway

pytestmark = pytest.mark.e2e
CONFIG = """
server: {{access_log: false}}
defaults:
  retries: {{attempts: 1}}
  breaker: {{failures: 3, window_seconds: 30, cooldown_seconds: 30}}
state: {{redis_url_env: TEST_REDIS_URL}}
backends:
  up: {{type: openai, base_url: "{loop}", api_key_env: LOOP_KEY}}
models:
  - {{id: shaky, targets: [{{backend: up, upstream_model: error-500@shared}},
                          {{backend: up, upstream_model: echo@shared-ok}}]}}
"""


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = RedisServer()
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, loopback: str, redis_url: str
) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("shared")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG.format(loop=loopback))
    env = {"LOOP_KEY": UPSTREAM_KEY, "TEST_REDIS_URL": redis_url}
    procs: list[Process] = []
    bases = []
    for _ in range(2):
        proc, base = start_gateway(Path(tmp), ["--config", str(config)], env=env)
        procs.append(proc)
        bases.append(base)
    yield bases[0], bases[1]
    for proc in procs:
        proc.stop()


def state(base: str) -> str:
    return str(httpx.get(f"{base}/readyz", timeout=5).json()["breakers"]["up/error-500@shared"])


def test_failures_through_one_gateway_open_the_breaker_in_both(pair: tuple[str, str]) -> None:
    first, second = pair
    assert state(first) == state(second) == "closed"
    body = {"model": "shaky", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(3):
        response = httpx.post(f"{first}/v1/chat/completions", json=body, timeout=10)
        assert response.status_code == 200  # the second target answers
    assert state(first) == "open"
    deadline = time.monotonic() + 3
    while state(second) != "open" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(second) == "open"
    # The second gateway now skips the failing target without calling it.
    response = httpx.post(f"{second}/v1/chat/completions", json=body, timeout=10)
    assert response.headers["x-gateway-attempts"] == "1"
    assert response.headers["x-gateway-target"] == "up/echo@shared-ok"
    metrics = httpx.get(f"{second}/metrics", timeout=5).text
    assert "gateway_state_redis_up 1.0" in metrics
