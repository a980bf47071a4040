"""The fault matrix: a real gateway in front of loopback upstreams that fail in each way.

For each fault: which target answered, how many upstream calls were made (counted on the
upstream side), what the client saw, and that the time taken stays within the configured
bounds; then a breaker opening after its threshold and half-opening after its cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import UPSTREAM_KEY, upstream_records
from tests.support import free_port, start_gateway

pytestmark = pytest.mark.e2e
FIRST_BYTE = 1.0
IDLE = 1.0
COOLDOWN = 1.5
USER = [{"role": "user", "content": "the quick brown fox"}]

CONFIG = """
server: {{access_log: false, sse_keepalive_seconds: 0}}
defaults:
  timeouts: {{connect: 1, first_byte: {first_byte}, idle: {idle}}}
  retries: {{attempts: 2, backoff_seconds: 0.01, max_retry_after_seconds: 1}}
  breaker: {{failures: 3, window_seconds: 30, cooldown_seconds: {cooldown}}}
backends:
  up: {{type: openai, base_url: "{loop}", api_key_env: LOOP_KEY}}
  dead: {{type: openai, base_url: "http://127.0.0.1:{closed}/v1"}}
models:
{routes}
"""
# Each fault is the first target of its own route; the second target always answers.
FAULTS = {
    "f500": "error-500",
    "f503": "error-503",
    "f429": "error-429",
    "reset": "reset",
    "stall": "stall-first",
    "slow": "slow-1500",
}


def _routes() -> str:
    lines = []
    for route, script in FAULTS.items():
        lines.append(
            f"  - {{id: {route}, targets: [{{backend: up, upstream_model: {script}@{route}}},"
            f" {{backend: up, upstream_model: echo@{route}-ok}}]}}"
        )
    lines.append(
        "  - {id: refused, targets: [{backend: dead, upstream_model: echo},"
        " {backend: up, upstream_model: echo@refused-ok}]}"
    )
    lines.append("  - {id: mid-death, backend: up, upstream_model: words-6+die-mid-stream}")
    lines.append("  - {id: mid-stall, backend: up, upstream_model: words-6+stall-mid-stream}")
    lines.append(
        "  - {id: tripping, targets: [{backend: up, upstream_model: error-500@trip},"
        " {backend: up, upstream_model: echo@trip-ok}]}"
    )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, loopback: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("faults")
    config = tmp / "policy.yaml"
    config.write_text(
        CONFIG.format(
            first_byte=FIRST_BYTE,
            idle=IDLE,
            cooldown=COOLDOWN,
            loop=loopback,
            closed=free_port(),
            routes=_routes(),
        )
    )
    proc, base = start_gateway(Path(tmp), ["--config", str(config)], env={"LOOP_KEY": UPSTREAM_KEY})
    yield base
    proc.stop()


def calls(loopback: str, model: str) -> int:
    return sum(
        1
        for r in upstream_records(loopback)
        if isinstance(r.get("body"), dict) and r["body"].get("model") == model
    )


def ask(gateway: str, model: str, stream: bool = False) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(
        f"{gateway}/v1/chat/completions",
        json={"model": model, "messages": USER, "stream": stream},
        timeout=30,
    )
    return response, time.monotonic() - started


# fault -> (upstream calls to the failing target, x-gateway-attempts, min s, max s)
EXPECTED: dict[str, tuple[int, int, float, float]] = {
    "f500": (2, 3, 0.0, 2.0),  # retried once, then the next target
    "f503": (2, 3, 1.0, 3.0),  # the retry waits out `retry-after: 1`
    "f429": (2, 3, 1.0, 3.0),
    "reset": (2, 3, 0.0, 2.0),
    "stall": (1, 2, FIRST_BYTE, FIRST_BYTE + 1.5),  # a stall is not retried on the same target
    "slow": (1, 2, FIRST_BYTE, FIRST_BYTE + 1.5),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", list(EXPECTED))
def test_each_fault_fails_over_to_the_next_target(
    gateway: str, loopback: str, fault: str, stream: bool
) -> None:
    failing = f"{FAULTS[fault]}@{fault}"
    before = calls(loopback, failing)
    response, elapsed = ask(gateway, fault, stream)
    upstream_calls, attempts, low, high = EXPECTED[fault]
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-target"] == f"up/echo@{fault}-ok"
    assert response.headers["x-gateway-attempts"] == str(attempts)
    assert calls(loopback, failing) - before == upstream_calls
    assert low <= elapsed < high, elapsed
    text = response.text
    assert "the quick brown fox" in text or "fox" in text
    if stream:
        assert text.rstrip().endswith("data: [DONE]") and '"error"' not in text


def test_a_refused_connection_fails_over(gateway: str) -> None:
    response, elapsed = ask(gateway, "refused")
    assert response.status_code == 200
    assert response.headers["x-gateway-target"] == "up/echo@refused-ok"
    assert response.headers["x-gateway-attempts"] == "3"
    assert elapsed < 3


@pytest.mark.parametrize(("route", "bound"), [("mid-death", 2.0), ("mid-stall", IDLE + 1.5)])
def test_a_failure_after_the_commit_point_is_one_error_event(
    gateway: str, route: str, bound: float
) -> None:
    response, elapsed = ask(gateway, route, stream=True)
    assert response.status_code == 200
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert '"error"' in events[-1] and "[DONE]" not in response.text
    assert any('"content"' in e for e in events[:-1])  # the committed chunks arrived
    assert response.headers["x-gateway-attempts"] == "1"  # no retry after the commit point
    assert elapsed < bound


def _breaker(gateway: str, key: str) -> str:
    states: dict[str, Any] = httpx.get(f"{gateway}/readyz", timeout=5).json()["breakers"]
    return str(states[key])


def test_the_breaker_opens_after_its_threshold_and_half_opens_after_the_cooldown(
    gateway: str, loopback: str
) -> None:
    failing, key = "error-500@trip", "up/error-500@trip"
    assert _breaker(gateway, key) == "closed"
    for _ in range(3):  # three failed calls (each retried once): the threshold
        response, _ = ask(gateway, "tripping")
        assert response.status_code == 200
    assert _breaker(gateway, key) == "open"
    before = calls(loopback, failing)
    response, elapsed = ask(gateway, "tripping")
    assert response.headers["x-gateway-attempts"] == "1"  # skipped without a call
    assert calls(loopback, failing) == before and elapsed < 0.5
    metrics = httpx.get(f"{gateway}/metrics", timeout=5).text
    assert f'gateway_breaker_state{{target="{key}"}} 2.0' in metrics
    time.sleep(COOLDOWN + 0.2)
    assert _breaker(gateway, key) == "half_open"
    response, _ = ask(gateway, "tripping")  # the probe: one call (it fails, so open again)
    assert calls(loopback, failing) == before + 2  # the probe and its one retry
    assert _breaker(gateway, key) == "open"
